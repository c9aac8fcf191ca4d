"""Just enough Server-Sent Events parsing for the benchmark: one line at a time, no copies."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Event:
    name: bytes = b""
    id: bytes = b""
    data: bytes = b""


@dataclass
class Parser:
    """Feed lines (ending in ``\\n``); get an :class:`Event` back at each blank line."""

    current: Event = field(default_factory=Event)
    comments: int = 0

    def line(self, line: bytes) -> Event | None:
        if line == b"\n" or line == b"\r\n":
            event, self.current = self.current, Event()
            return event if event.name or event.data else None
        if line.startswith(b"data: "):
            # Every event of this app has one data line.
            self.current.data = line[6:].rstrip(b"\r\n")
        elif line.startswith(b"event: "):
            self.current.name = line[7:].rstrip(b"\r\n")
        elif line.startswith(b"id: "):
            self.current.id = line[4:].rstrip(b"\r\n")
        elif line.startswith(b":"):
            self.comments += 1
        return None
