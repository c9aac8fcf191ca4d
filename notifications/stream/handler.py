"""Django's ASGI handler for the stream, with the stream's own short middleware list.

Under ASGI every sync-only middleware (Django's own session, CSRF, auth, messages...) costs
two thread hops per request, and Django runs each request in a ``ThreadSensitiveContext``
whose first sync call starts a thread that lives as long as the request: for a stream, an
idle thread for hours. This handler loads ``NOTIFICATIONS["STREAM_MIDDLEWARE"]`` instead of
``MIDDLEWARE``, runs without that context (the stream's database reads use the small pool
of :mod:`notifications.stream.threads`), and runs the closers of :func:`on_close` however a
request ends.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import UserSettingsHolder, settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest

from notifications.conf import conf

Closer = Callable[[], Awaitable[None]]
_CLOSERS = "notifications.closers"


class StreamHandler(ASGIHandler):
    """Django's ASGI handler, with the stream's own short middleware list."""

    def load_middleware(self, is_async: bool = False) -> None:
        """Load ``STREAM_MIDDLEWARE`` where Django's loader reads ``MIDDLEWARE``.

        Django reads the list from the settings only, so the settings are layered, as
        ``settings.configure()`` layers them, for this one call at start-up.
        """
        # ``_wrapped`` is LazySettings' own attribute, unknown to the stubs.
        site_settings = settings._wrapped  # type: ignore[misc]
        stream_settings = UserSettingsHolder(site_settings)
        stream_settings.MIDDLEWARE = conf.STREAM_MIDDLEWARE
        settings._wrapped = stream_settings
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings._wrapped = site_settings

    async def read_body(self, receive: Any) -> io.BytesIO:
        """Drain the request body without keeping it: the stream reads none.

        Django spools every body to a temporary file, which a request cancelled before its
        end (a stream usually is) leaves unclosed.
        """
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestAborted()
            if not message.get("more_body", False):
                return io.BytesIO()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # No ThreadSensitiveContext (see the module docstring). The few sync calls Django
        # itself makes here (request signal receivers, closing the response) share asgiref's
        # one process-wide thread.
        closers: list[Closer] = []
        try:
            await self.handle({**scope, _CLOSERS: closers}, receive, send)
        finally:
            for close in closers:
                await close()


def on_close(request: HttpRequest, close: Closer) -> None:
    """Await ``close`` when the stream request ends, however it ends.

    Django drops a response whose request was cancelled before it was sent (the client left
    at once; the server is stopping): a stream that never started would never free its
    slot. Served through :class:`StreamHandler`, this is the one place that always runs.
    """
    closers = getattr(request, "scope", {}).get(_CLOSERS)
    if closers is not None:
        closers.append(close)
