"""Floors to compare the stream with: what an idle SSE connection costs with nothing in it.

- ``floor``: a bare async Django streaming view behind the project's middleware: Django's
  ASGI handler and daphne, no database, no Redis. ``/bench/floor/db/`` adds one query
  through the stream's own ``database()`` helper; ``/bench/floor/db+layer/`` also joins a
  channel-layer group and keeps a receive pending, as the stream does.
- ``application``: the project's ASGI application, except ``/bench/raw/``, a raw ASGI
  stream answered without Django at all: daphne alone.

Each sends the ``connected`` event the load tool waits for, then nothing until the client
leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer
from django.http import HttpRequest, StreamingHttpResponse

from project.asgi import application as project_application

FIRST = b'retry: 2000\nevent: connected\ndata: {"user_id": 0, "unread_count": 0}\n\n'
IDLE_SECONDS = 3_600

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _one_query() -> bool:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(pk=0).exists()


async def floor(request: HttpRequest, parts: str = "") -> StreamingHttpResponse:
    """Stream the first event, then stay idle (bounded) until the client disconnects."""
    from notifications.stream import database  # after Django is set up

    options = set(parts.split("+"))
    if "db" in options:
        await database(_one_query)

    async def frames() -> AsyncIterator[bytes]:
        yield FIRST
        if "layer" not in options:
            await asyncio.sleep(IDLE_SECONDS)
            return
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


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http" and scope["path"] == "/bench/raw/":
        await raw(scope, receive, send)
    else:
        await project_application(scope, receive, send)
