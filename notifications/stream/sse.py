"""Server-Sent Events framing: values in, bytes out, no I/O.

Every field is sanitised so that no user-controlled string can end a line or an event
early: ``data`` is split on every line break the spec knows (CRLF, CR, LF), and the
single-line fields (``event``, ``id``, comments) lose CR, LF and NUL.
"""

from __future__ import annotations

import json
import re
from typing import Any

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_UNSAFE_IN_FIELD = re.compile(r"[\r\n\x00]")


def encode_json(value: Any) -> str:
    """Encode ``value`` as compact, one-line, ASCII-only JSON (line breaks stay escaped)."""
    return json.dumps(value, separators=(",", ":"))


def _field(value: str) -> str:
    return _UNSAFE_IN_FIELD.sub("", value)


def retry(milliseconds: int) -> bytes:
    """Return the line that sets the client's reconnection delay.

    It ends with a single line break: it opens the block of the event that follows, so
    that lax clients which dispatch a block without data do not see an empty event.
    """
    return b"retry: %d\n" % milliseconds


def comment(text: str = "") -> bytes:
    """Return a comment frame, which clients ignore and proxies see as traffic."""
    return f": {_field(text)}\n\n".encode()


# What an idle stream sends every heartbeat, so that proxies and clients see it alive.
HEARTBEAT = comment("heartbeat")


def event(name: str, data: str, *, id: int | str | None = None) -> bytes:
    """Return one event frame; ``data`` may hold line breaks, each becomes a ``data:`` line."""
    lines = []
    if id is not None:
        lines.append(f"id: {_field(str(id))}")
    lines.append(f"event: {_field(name)}")
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode()


def json_event(name: str, value: Any, *, id: int | str | None = None) -> bytes:
    """Return an event frame whose data is ``value`` as one-line JSON."""
    return event(name, encode_json(value), id=id)
