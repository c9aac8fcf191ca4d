"""``GET /api/events/`` as a plain ASGI application, in front of Django's handler.

An open is the hot path of every deploy and network blip, and Django's handler was most of
its cost: the request signals (each a hop to a thread), URL resolution, the middleware
chain, the streaming response's machinery, and the ORM building a user query for simplejwt.
This application answers the stream itself, with Django's own pieces where the rules live:
the request is Django's ``ASGIRequest`` (so ``ALLOWED_HOSTS``, headers, cookies and the
query string read exactly as everywhere else), tokens are verified by simplejwt's classes,
CORS headers are added by django-cors-headers' own middleware, and refusals are the view's
JSON errors (``notifications.views``). What the token leaves to the database (the user, and
with it the start of the stream) is one statement (``notifications.opening``).

What it does not serve goes to the Django stream handler unchanged: any method but ``GET``
(CORS preflights, the 405), a request Django would refuse as suspicious, and every request
when ``STREAM_MIDDLEWARE`` is set to a list of the site's own (see ``notifications.asgi``).
Sessions are read as before, on the stream threads. The user a token names is checked with
the stream's start, after its slot is taken (and given back on refusal): a refused token
holds a slot for the time of one read. Under ``ON_LIMIT = "evict_oldest"`` it is checked
before, so that a refused token never evicts a stream.

The connection slot taken by an open is given back however the request ends, even if the
response never started (``Stream.close`` in a ``finally``), as ``notifications.asgi``'s
closers guarantee on the Django path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from django.apps import apps
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework_simplejwt.tokens import Token

from notifications import auth, hosts, metrics, opening, views
from notifications.conf import conf
from notifications.db import database
from notifications.stream import Started, Stream

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# Seconds a stream may take to send its end once its request is cancelled (the server stops).
FINISH_SECONDS = 2.0


class Refused(Exception):
    """The open is answered with this error response instead of a stream."""

    def __init__(self, response: HttpResponseBase) -> None:
        super().__init__(response.status_code)
        self.response = response


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
            token = self._check(request)
        except Refused as refused:
            await self._answer(request, refused.response, send)
            return
        except SuspiciousOperation:
            # Django's handler turns it into the site's 400, and logs it as it should.
            await self.django(scope, receive, send)
            return
        try:
            stream, started = await self._open(request, token)
        except Refused as refused:
            await self._answer(request, refused.response, send)
            return
        await self._serve(request, stream, started, receive, send)

    def _check(self, request: ASGIRequest) -> Token | None:
        """The checks made before any I/O: the host, explicit credentials."""
        if not hosts.allowed(request):
            raise Refused(views.error(400, hosts.DISALLOWED))
        try:
            return auth.stream_token(request)
        except auth.NotAuthenticated as e:
            raise Refused(views.unauthorized(e)) from e

    async def _open(self, request: ASGIRequest, token: Token | None) -> tuple[Stream, Started]:
        """Authenticate, take a slot, read the start: the stream and its first bytes."""
        # The user's row is read after the slot is taken, with the stream's start. A slot
        # that evicts another stream must not be taken for a user that row would refuse:
        # under "evict_oldest" the user is checked first, the former way.
        evicting = conf.ON_LIMIT == "evict_oldest"
        user_id = None if token is None or evicting else auth.token_user_pk(token)
        try:
            if user_id is None:
                # A session, or a token whose user id claim is not the primary key.
                user = await database(_user_of, request, token)
                user_id, token = user.pk, None
        except auth.NotAuthenticated as e:
            raise Refused(views.unauthorized(e)) from e
        try:
            last_event_id = views.parse_last_event_id(request)
        except ValueError as e:
            raise Refused(views.error(400, str(e))) from e
        admission = await views.admit(user_id)
        if admission.slot is None:
            raise Refused(views.limited())
        reader = functools.partial(opening.read_start, token=token)
        stream = Stream(
            user_id=user_id, last_event_id=last_event_id, slot=admission.slot, read_start=reader
        )
        try:
            return stream, await stream.start()
        except auth.NotAuthenticated as e:
            raise Refused(views.unauthorized(e)) from e

    async def _serve(
        self, request: ASGIRequest, stream: Stream, started: Started, receive: Receive, send: Send
    ) -> None:
        """Send the stream until its client leaves or it ends; free its slot either way."""
        pump = asyncio.ensure_future(self._pump(request, started, send))
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
            await stream.close()
        if not pump.cancelled() and pump.exception() is not None:
            raise pump.exception()  # type: ignore[misc]

    async def _pump(self, request: ASGIRequest, started: Started, send: Send) -> None:
        first, chunks = started
        response = HttpResponseBase(content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        await _start(send, self.cors(request, response))
        metrics.stream_opens.labels(result="accepted").inc()
        await send({"type": "http.response.body", "body": first, "more_body": True})
        if chunks is not None:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _answer(self, request: ASGIRequest, response: HttpResponseBase, send: Send) -> None:
        """Send a refusal, counted as the view's are."""
        metrics.stream_opens.labels(result=metrics.open_result(response.status_code)).inc()
        await _start(send, self.cors(request, response))
        assert isinstance(response, HttpResponse)
        await send({"type": "http.response.body", "body": response.content})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _start(send: Send, response: HttpResponseBase) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})


def _user_of(request: ASGIRequest, token: Token | None) -> Any:
    return auth.session_user(request) if token is None else auth.token_user(token)


CorsHeaders = Callable[[ASGIRequest, HttpResponseBase], HttpResponseBase]


def _cors_headers() -> CorsHeaders:
    """Return django-cors-headers' own way of adding its headers, when it is installed."""
    if not apps.is_installed("corsheaders"):
        return lambda request, response: response
    from corsheaders.middleware import CorsMiddleware

    middleware = CorsMiddleware(lambda request: HttpResponse())
    return middleware.add_response_headers
