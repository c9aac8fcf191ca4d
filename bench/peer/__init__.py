"""django-eventstream as a peer to compare delivery with: a site of its own, served by daphne.

``python -m bench --scenario rate --site peer`` serves :mod:`bench.peer.asgi` with plain
daphne, opens one stream per user on its channel ``user-<id>`` and publishes with
``django_eventstream.send_event`` at the same rate as the product is driven.
"""

from __future__ import annotations


def channel_of(user_id: int) -> str:
    """Return the name of ``user_id``'s channel: the peer's streams and publishers agree on it."""
    return f"user-{user_id}"
