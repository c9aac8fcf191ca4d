"""Serve the stream through Django with only the middleware it needs, and no thread.

Under ASGI every sync-only middleware (Django's own session, CSRF, auth, messages...) costs
two thread hops per request. A stream pays them once, at open, but opens come in storms
after a deploy, and the stream authenticates on its own anyway. So stream requests go
through a second Django handler whose middleware is ``NOTIFICATIONS["STREAM_MIDDLEWARE"]``
(by default only CORS, which is natively async); everything else is untouched.

Django also runs each request in a ``ThreadSensitiveContext``, whose first sync call starts
a thread that lives as long as the request: for a stream, an idle thread for hours. The
stream handler runs without one; the stream's database reads use the small shared pool of
:mod:`notifications.db`.
"""

from __future__ import annotations

import gc
import io
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import UserSettingsHolder, settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest

from notifications.conf import conf

ASGIApp = Any
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


def with_lean_stream(application: ASGIApp, *, path: str = "/api/events/") -> ASGIApp:
    """Wrap a Django ASGI ``application`` so that requests for ``path`` skip its middleware.

    With the default ``STREAM_MIDDLEWARE``, opens are served without Django's handler
    (``notifications.stream_app``); a site's own list keeps them on the stream handler.
    """
    stream_handler: ASGIApp = StreamHandler()
    if conf._get("STREAM_MIDDLEWARE") is None:
        from notifications.stream_app import StreamApplication

        stream_handler = StreamApplication(stream_handler)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == path:
            await stream_handler(scope, receive, _bounded(send))
        else:
            await application(scope, receive, send)

    return app


def _bounded(send: Any) -> Any:
    """Hold a stream's ``send`` to its slow-client budget when daphne serves it."""
    # Importing daphne's server installs a Twisted reactor: only where daphne already did.
    if "daphne.server" not in sys.modules:
        return send
    from notifications import backpressure

    return backpressure.bounded(send)


def tune_garbage_collector() -> None:
    """Keep Python's cycle collector from stalling a process that holds thousands of streams.

    Every open stream keeps a few hundred objects alive, and a full collection walks all of
    them: at 6,000 streams, the collections set off by the allocations of one broadcast took
    more CPU than delivering it (0.9 of 1.6 s). Call it once, after the application is
    loaded: what exists then (modules, settings, URL patterns) is moved out of the
    collector's sight for good, and collections start after 50,000 allocations instead of
    700 (each older generation still every 20 and 10 of the younger one's). Memory is still
    freed as soon as nothing refers to it; only cycles wait longer.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
