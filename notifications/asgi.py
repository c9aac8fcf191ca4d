"""Serve the stream through Django with only the middleware it needs.

Under ASGI every sync-only middleware (Django's own session, CSRF, auth, messages...) costs
two thread hops per request. A stream pays them once, at open, but opens come in storms
after a deploy, and the stream authenticates on its own anyway. So stream requests go
through a second Django handler whose middleware is ``NOTIFICATIONS["STREAM_MIDDLEWARE"]``
(by default only CORS, which is natively async); everything else is untouched.
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIHandler
from django.test.utils import override_settings

from notifications.conf import conf

ASGIApp = Any


class StreamHandler(ASGIHandler):
    """Django's ASGI handler, with the stream's own short middleware list."""

    def load_middleware(self, is_async: bool = False) -> None:
        with override_settings(MIDDLEWARE=conf.STREAM_MIDDLEWARE):
            super().load_middleware(is_async=is_async)


def with_lean_stream(application: ASGIApp, *, path: str = "/api/events/") -> ASGIApp:
    """Wrap a Django ASGI ``application`` so that requests for ``path`` skip its middleware."""
    stream_handler = StreamHandler()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == path:
            await stream_handler(scope, receive, send)
        else:
            await application(scope, receive, send)

    return app
