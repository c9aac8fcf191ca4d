"""What a stream sends, as SSE bytes: the one place notifications and events become frames.

A notification reaches a stream either as a row (replay, catching up) or as the payload a
publisher stored it with (live): both become the same frame here, through the one JSON
shape in :mod:`notifications.delivery.payloads`, in the language of the stream's reader.
"""

from __future__ import annotations

from typing import Any

from notifications.delivery.payloads import Payload, live_payload, notification_payload
from notifications.models import Notification
from notifications.stream import sse


def notification(
    row_or_payload: Notification | Payload, *, language: str | None = None, params: Any = None
) -> bytes:
    """Return the ``notification`` event of a stored row or of its live payload, rendered in
    the stream's ``language`` (the active one by default): a row with its parameters, a
    payload with the ``params`` its message carried and its actions (a free-text one without
    actions is sent as published)."""
    if isinstance(row_or_payload, Notification):
        row_or_payload = notification_payload(row_or_payload, language)
    else:
        row_or_payload = live_payload(row_or_payload, params, language)
    return sse.json_event("notification", row_or_payload, id=row_or_payload["seq"])


def connected(*, user_id: int, unread_count: int, last_seq: int) -> bytes:
    """Return the first event, whose ``id:`` is where the stream continues from.

    An EventSource that drops before any notification still reconnects with
    ``Last-Event-ID``, so it resumes exactly rather than at the newest.
    """
    data = {"user_id": user_id, "unread_count": unread_count, "last_seq": last_seq}
    return sse.json_event("connected", data, id=last_seq)


def resync(*, reason: str, missed: int) -> bytes:
    return sse.json_event("resync", {"reason": reason, "missed": missed})


def read_state(message: dict[str, Any]) -> bytes:
    """Return the ``read`` event of a read-state message: its fields but the type."""
    return sse.json_event("read", {k: v for k, v in message.items() if k != "type"})


def state(message: dict[str, Any], *, language: str | None = None) -> bytes:
    """Return the event of another change of state (``messages.state``), the notifications
    it brings back rendered in ``language``."""
    data = {k: v for k, v in message.items() if k not in {"type", "event", "size"}}
    if "notifications" in data:
        data["notifications"] = [
            live_payload(payload, params, language) for payload, params in data["notifications"]
        ]
    return sse.json_event(message["event"], data)
