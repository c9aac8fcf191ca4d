"""The documented path of the OpenAPI hook: ``notifications.schema.add_event_stream``."""

from __future__ import annotations

from notifications.api.schema import add_event_stream

__all__ = ["add_event_stream"]
