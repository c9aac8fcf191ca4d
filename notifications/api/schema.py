"""Describe the live stream in the OpenAPI schema.

The stream is served outside DRF (an ASGI application and a Django view), so
drf-spectacular does not see it. Add
``"notifications.schema.add_event_stream"`` to ``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``
(after the default enum hook) to document it beside the rest of the API.
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, get_script_prefix, reverse

_ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}

# The JSON in each event's ``data:`` line. ``notification`` carries the API's Notification.
_EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "StreamConnected": {
        "type": "object",
        "description": "Sent once when the stream opens, with `id: <last_seq>`.",
        "properties": {
            "user_id": {"type": "integer"},
            "unread_count": {"type": "integer", "minimum": 0},
            "last_seq": {
                "type": "integer",
                "minimum": 0,
                "description": "Where the stream continues from: the `Last-Event-ID` it "
                "resumed from, or the user's newest `seq` (0 for none).",
            },
        },
        "required": ["user_id", "unread_count", "last_seq"],
    },
    "StreamRead": {
        "type": "object",
        "description": "Read state changed in another tab, the API or the admin; no `id:`.",
        "properties": {
            "ids": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "Notifications now read.",
            },
            "unread_count": {"type": "integer", "minimum": 0},
        },
        "required": ["ids", "unread_count"],
    },
    "StreamResync": {
        "type": "object",
        "description": "The stream cannot replay from the client's position: refetch the "
        "inbox. `replay_limit` and `retention`: further behind than it replays; "
        "`unknown_position`: a `Last-Event-ID` above the user's newest `seq` (from another "
        "database), the stream continues from the newest.",
        "properties": {
            "reason": {
                "type": "string",
                "enum": ["replay_limit", "retention", "unknown_position"],
            },
            "missed": {
                "type": "integer",
                "minimum": 0,
                "description": "How many notifications will not be replayed (at most).",
            },
        },
        "required": ["reason", "missed"],
    },
}

_DESCRIPTION = """\
Server-Sent Events (`text/event-stream`): the user's notifications as they are stored.

The stream starts with a `retry:` line, then these events:

| event | `id:` | `data:` (one line of JSON) |
|---|---|---|
| `connected` | `last_seq` | `StreamConnected`: the user id, the unread count (so a \
reconnecting tab refreshes its badge) and `last_seq`, where the stream continues from |
| `notification` | the notification's `seq` | `Notification`, the same object as in \
`GET /api/notifications/` |
| `read` | none | `StreamRead`: ids now read and the new unread count |
| `resync` | none | `StreamResync`: the stream cannot replay from the client's position; \
refetch `GET /api/notifications/` |

Idle streams get a comment line (starting with `:`) every heartbeat interval.

**Resuming.** EventSource sends `Last-Event-ID` on reconnect; every stored notification with \
a larger `seq` is replayed, oldest first, each exactly once, then live ones follow. \
`connected` carries an `id:` too, so an EventSource that drops before any notification \
still resumes exactly. A new EventSource cannot set that header: pass `?last_event_id=` \
instead.

**Authentication**, checked before the stream starts: the session cookie, \
`Authorization: Bearer <access token>`, or `?token=` with an access token or, better, a \
one-minute stream ticket from `POST /api/events/ticket/` (URLs end up in logs).
"""

_EXAMPLE = """\
retry: 2000

id: 41
event: connected
data: {"user_id": 7, "unread_count": 1, "last_seq": 41}

id: 42
event: notification
data: {"id": 311, "seq": 42, "kind": "order.shipped", "title": "Order #12 shipped", \
"body": "Your order is on its way.", "url": "/orders/12/", "data": {"order": 12, \
"status": "shipped"}, "created_at": "2025-01-31T09:30:00.123456+00:00", "read": false}

event: read
data: {"ids": [311], "unread_count": 0}

"""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, **headers: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


def _operation() -> dict[str, Any]:
    integer = {"type": "integer", "minimum": 0}
    return {
        "operationId": "events_stream",
        "summary": "Receive your notifications live (Server-Sent Events)",
        "description": _DESCRIPTION,
        "tags": ["events"],
        "parameters": [
            {
                "name": "Last-Event-ID",
                "in": "header",
                "schema": integer,
                "description": "Resume after this `seq` (EventSource sends it on reconnect).",
            },
            {
                "name": "last_event_id",
                "in": "query",
                "schema": integer,
                "description": "Resume after this `seq`; the header wins when both are sent.",
            },
        ],
        "responses": {
            "200": {
                "description": "The stream; it stays open until the client leaves.",
                "headers": {
                    "Cache-Control": {"schema": {"type": "string", "enum": ["no-cache"]}},
                    "X-Accel-Buffering": {"schema": {"type": "string", "enum": ["no"]}},
                },
                "content": {
                    "text/event-stream": {
                        "schema": {"type": "string"},
                        "example": _EXAMPLE,
                        # Not part of OpenAPI: the data of each event, for client generators.
                        "x-sse-events": {
                            "connected": _ref("StreamConnected"),
                            "notification": _ref("Notification"),
                            "read": _ref("StreamRead"),
                            "resync": _ref("StreamResync"),
                        },
                    }
                },
            },
            "400": _error("`Last-Event-ID` is not a non-negative integer."),
            "401": _error("Missing, invalid, expired or wrong-type credentials."),
            "429": _error(
                "Too many open streams for this user.",
                **{"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
            ),
        },
    }


def add_event_stream(
    result: dict[str, Any], generator: Any, request: Any, public: bool, **kwargs: Any
) -> dict[str, Any]:
    """Add ``GET`` of the stream (wherever the site mounted it) and its event shapes."""
    try:
        path = "/" + reverse("notifications:events").removeprefix(get_script_prefix())
    except NoReverseMatch:
        return result
    components = result.setdefault("components", {})
    schemes = components.setdefault("securitySchemes", {})
    schemes["streamToken"] = {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "An access token or a stream ticket (`POST /api/events/ticket/`).",
    }
    operation = _operation()
    operation["security"] = [{name: []} for name in schemes]
    result.setdefault("paths", {})[path] = {"get": operation}
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("Error", _ERROR)
    for name, schema in _EVENT_SCHEMAS.items():
        schemas.setdefault(name, schema)
    result.setdefault("tags", [])
    if not any(tag.get("name") == "events" for tag in result["tags"]):
        result["tags"].append({"name": "events", "description": "The live stream."})
    return result
