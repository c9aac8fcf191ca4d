"""How a stored notification reaches the streams: its JSON payload, the channel-layer
messages that carry it, and the publishing of them to every server process."""
