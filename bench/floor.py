"""Floors to compare the stream with: what an idle SSE connection costs with less in it.

Each answers with the ``connected`` event the load tool waits for, then stays idle until
the client leaves (at most an hour):

- ``/bench/raw/``: a raw ASGI stream, no Django at all: daphne alone.
- ``/bench/bare/``: a bare async Django view sending the stream's first two frames (its
  ``retry`` and a ``connected`` event with an ``id``) under Django's own ``ASGIHandler``
  with no middleware at all: what opening a stream through Django costs at the least.
- ``/bench/floor/``: a bare async Django streaming view, served like the stream itself
  (``notifications.stream.handler.StreamHandler``: Django's handler with the stream's middleware).
- ``/bench/floor/db/``: plus one query through the stream's own ``on_thread()`` helper.
- ``/bench/floor/db+layer/``: plus a channel-layer group joined and a receive kept pending.
- ``/bench/site-floor/``: the bare view behind the site's full middleware instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import UserSettingsHolder, settings
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, StreamingHttpResponse

from project.asgi import application as project_application

FIRST = b'retry: 2000\nevent: connected\ndata: {"user_id": 0, "unread_count": 0}\n\n'
IDLE_SECONDS = 3_600

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def bare(request: HttpRequest) -> StreamingHttpResponse:
    """Send the stream's two first frames, then stay idle (bounded) until the client leaves."""
    from notifications.stream import frames as stream_frames
    from notifications.stream import sse

    async def frames() -> AsyncIterator[bytes]:
        yield sse.retry(2000)
        yield stream_frames.connected(user_id=0, unread_count=0, last_seq=0)
        await asyncio.sleep(IDLE_SECONDS)

    response = StreamingHttpResponse(frames(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


def _one_query() -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=0).exists()


async def _hold_layer() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = f"bench.floor.{channel.rsplit('!', 1)[-1][:16]}"
    await layer.group_add(group, channel)
    receiving = asyncio.ensure_future(layer.receive(channel))
    try:
        await asyncio.wait({receiving}, timeout=IDLE_SECONDS)
    finally:
        receiving.cancel()
        await layer.group_discard(group, channel)


async def floor(request: HttpRequest, parts: str = "") -> StreamingHttpResponse:
    """Stream the first event, then stay idle (bounded) until the client disconnects."""
    from notifications.stream.threads import on_thread  # after Django is set up

    options = set(parts.split("+"))
    if "db" in options:
        await on_thread(_one_query)

    async def frames() -> AsyncIterator[bytes]:
        yield FIRST
        if "layer" in options:
            await _hold_layer()
        else:
            await asyncio.sleep(IDLE_SECONDS)

    return StreamingHttpResponse(frames(), content_type="text/event-stream; charset=utf-8")


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()  # the request (a GET has no body)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": FIRST, "more_body": True})
    async with asyncio.timeout(IDLE_SECONDS):
        while (await receive())["type"] != "http.disconnect":
            pass


def _lean_handler() -> Any:
    from notifications.stream.handler import StreamHandler

    return StreamHandler()


class _BareHandler(ASGIHandler):
    """Django's own ASGI handler (its thread-sensitive context, its signals), no middleware."""

    def load_middleware(self, is_async: bool = False) -> None:
        site_settings = settings._wrapped  # type: ignore[misc]
        bare_settings = UserSettingsHolder(site_settings)
        bare_settings.MIDDLEWARE = []
        settings._wrapped = bare_settings
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings._wrapped = site_settings


_lean = _lean_handler()
_bare = _BareHandler()


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope.get("path", "")
    if scope["type"] == "http" and path == "/bench/raw/":
        await raw(scope, receive, send)
    elif scope["type"] == "http" and path == "/bench/bare/":
        await _bare(scope, receive, send)
    elif scope["type"] == "http" and path.startswith("/bench/floor/"):
        await _lean(scope, receive, send)
    else:
        await project_application(scope, receive, send)
