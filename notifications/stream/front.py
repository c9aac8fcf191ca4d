"""``GET /api/events/`` as a plain ASGI application, in front of Django's handler.

It serves the opens of the default ``STREAM_MIDDLEWARE`` without Django's handler (request
signals, URL resolution, the middleware chain, the streaming response): the request is
Django's ``ASGIRequest``, the open is :func:`notifications.stream.opens.open_stream`'s (as in the
Django view), and CORS headers are added by django-cors-headers' own middleware.

Any method but ``GET`` (CORS preflights, the 405) and a request Django refuses as
suspicious go to the Django stream handler unchanged. The slot an open takes is given back
however the request ends, even if the response never started.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Awaitable, Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.http.response import HttpResponseBase

from notifications.stream.opens import STREAM_HEADERS, Opened, open_stream

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# Seconds a stream may take to send its end once its request is cancelled (the server stops).
FINISH_SECONDS = 2.0


class StreamApplication:
    """Serve stream opens; hand anything else for the stream's path to ``django``."""

    def __init__(self, django: ASGIApp) -> None:
        self.django = django
        self.cors = _cors_headers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = ASGIRequest(scope, io.BytesIO())
        if request.method != "GET":
            await self.django(scope, receive, send)
            return
        try:
            answer = await open_stream(request)
        except SuspiciousOperation:
            # Django's handler turns it into the site's 400, and logs it as it should.
            await self.django(scope, receive, send)
            return
        if isinstance(answer, HttpResponse):
            await self._answer(request, answer, send)
            return
        start = _start(self.cors(request, HttpResponseBase(headers=STREAM_HEADERS)))
        # A stream lives for hours, and needs nothing of its request past here: kept, the
        # request and its response would be 2.5 KB more per stream (docs/PERFORMANCE.md).
        del request
        await self._serve(start, answer, receive, send)

    async def _serve(self, start: Message, opened: Opened, receive: Receive, send: Send) -> None:
        """Send the stream until its client leaves or it ends; free its slot either way."""
        pump = asyncio.ensure_future(self._pump(start, opened, send))
        watch = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # daphne cancels every request as it stops, while the hub ends every stream
            # (``notifications.serve``): let this one send its end, as Django's handler lets
            # its response task, so that its client sees a stream that ended, not a cut.
            await asyncio.wait(
                {pump, watch}, timeout=FINISH_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            raise
        finally:
            pump.cancel()
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(pump, watch, return_exceptions=True)
            await opened.stream.close()
        if not pump.cancelled() and pump.exception() is not None:
            raise pump.exception()  # type: ignore[misc]

    async def _pump(self, start: Message, opened: Opened, send: Send) -> None:
        await send(start)
        async for chunk in opened.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _answer(self, request: ASGIRequest, response: HttpResponse, send: Send) -> None:
        """Send a refusal, with the CORS headers Django's middleware would add."""
        await send(_start(self.cors(request, response)))
        await send({"type": "http.response.body", "body": response.content})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _start(response: HttpResponseBase) -> Message:
    """The ASGI message that starts ``response``: its status and headers."""
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()
    ]
    return {"type": "http.response.start", "status": response.status_code, "headers": headers}


CorsHeaders = Callable[[ASGIRequest, HttpResponseBase], HttpResponseBase]


def _cors_headers() -> CorsHeaders:
    """Return django-cors-headers' own way of adding its headers, when it is installed."""
    if not apps.is_installed("corsheaders"):
        return lambda request, response: response
    from corsheaders.middleware import CorsMiddleware

    middleware = CorsMiddleware(lambda request: HttpResponse())
    return middleware.add_response_headers
