"""Serve the stream without the site's middleware, and keep a process of many streams fast.

``with_lean_stream`` wraps a site's Django ASGI application: requests for the stream's
path go to the stream's ASGI front (:mod:`notifications.stream.front`), or, when
``NOTIFICATIONS["STREAM_MIDDLEWARE"]`` names a list of the site's own, to a Django handler
with only that middleware (:mod:`notifications.stream.handler`); everything else is
untouched. Under daphne it also leaves request bodies to the application
(:mod:`notifications.stream.raw_bodies`). ``tune_garbage_collector`` keeps the cycle
collector from stalling a process that holds thousands of streams.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

from django.conf import settings

from notifications.conf import conf
from notifications.stream import shutdown
from notifications.stream.front import StreamApplication
from notifications.stream.handler import StreamHandler

ASGIApp = Any


def with_lean_stream(application: ASGIApp, *, path: str = "/api/events/") -> ASGIApp:
    """Wrap a Django ASGI ``application`` so that requests for ``path`` skip its middleware.

    With the default ``STREAM_MIDDLEWARE``, opens are served without Django's handler
    (``notifications.stream.front``); a site's own list keeps them on the stream handler.
    The ASGI lifespan scope is answered here (``notifications.stream.shutdown``): a server
    that speaks it, such as uvicorn, ends the streams as it stops.
    """
    stream_handler: ASGIApp = StreamHandler()
    if conf._get("STREAM_MIDDLEWARE") is None:
        stream_handler = StreamApplication(stream_handler)
    if _under_daphne():
        from notifications.stream import raw_bodies

        raw_bodies.install()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == path:
            await stream_handler(scope, receive, _with_security_headers(_bounded(send)))
        elif scope["type"] == "lifespan":
            # Django's handler refuses the scope; the streams need it under uvicorn.
            await shutdown.lifespan(receive, send)
        else:
            await application(scope, receive, send)

    return app


def _under_daphne() -> bool:
    # Importing daphne's server installs a Twisted reactor: only where daphne already did.
    return "daphne.server" in sys.modules


def _bounded(send: Any) -> Any:
    """Hold a stream's ``send`` to its slow-client budget when daphne serves it."""
    if not _under_daphne():
        return send
    from notifications.stream import backpressure

    return backpressure.bounded(send)


def _with_security_headers(send: Any) -> Any:
    """Add ``X-Content-Type-Options`` and ``Referrer-Policy`` to the stream's responses.

    Django's ``SecurityMiddleware`` adds them to every other response, from the same
    settings; the stream's responses (its refusals too) skip the site's middleware.
    """
    extra = _security_headers()

    async def send_with_headers(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers += [(name, value) for name, value in extra if name not in present]
            message = {**message, "headers": headers}
        await send(message)

    return send_with_headers


def _security_headers() -> list[tuple[bytes, bytes]]:
    headers = []
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        values = policy.split(",") if isinstance(policy, str) else policy
        headers.append((b"referrer-policy", ",".join(v.strip() for v in values).encode()))
    return headers


def tune_garbage_collector() -> None:
    """Keep Python's cycle collector from stalling a process that holds thousands of streams.

    Every open stream keeps a few hundred objects alive, and a full collection walks all of
    them: with thousands of streams, the collections set off by the allocations of one
    broadcast cost more CPU than delivering it (docs/PERFORMANCE.md). Call it once, after
    the application is loaded: what exists then (modules, settings, URL patterns) is moved
    out of the collector's sight for good, and collections start after 50,000 allocations
    instead of 700 (each older generation still every 20 and 10 of the younger one's).
    Memory is still freed as soon as nothing refers to it; only cycles wait longer.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
