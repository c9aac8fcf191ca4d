"""Make a stream's ``send`` wait while daphne cannot send, as other servers' sends do.

daphne hands every ``http.response.body`` chunk to Twisted at once and never makes the
application's ``send`` wait, so a client that stops reading (a laptop lid closed mid-stream,
a stuck proxy) would leave everything published to it in Twisted's buffer, uncounted, for as
long as the connection stays up. Nothing in the application could see it happen.

Twisted can: when a transport's write buffer passes its ``bufferSize`` (64 KiB), it calls
``pauseProducing()`` on its producer, and ``resumeProducing()`` once the buffer has drained.
The HTTP channel forwards both to a producer its request registers. So each event-stream
response registers a :class:`SendBudget` as that producer. While it is paused, the chunk the
application sends is held by the budget, and the application's ``send`` waits until Twisted
has taken it, as uvicorn's waits for its transport. Twisted so holds at most its
``bufferSize`` and one chunk (a stream hands its frames over in pieces of 64 KiB,
``connection.PIECE_BYTES``), and what is published to a stream that cannot send waits in
its inbox, where ``SLOW_CLIENT_BUFFER_BYTES`` bounds it in bytes under every server
(``notifications.stream.inboxes``). A stream closed there, or by a server that stops, is
cancelled while its ``send`` waits: the budget then aborts the connection, which drops
Twisted's buffer with it (closing would wait for a client that does not read); daphne sends
``http.disconnect`` to the application, whose stream ends and releases its slot. The client
loses nothing: it reconnects with ``Last-Event-ID`` and is replayed what it missed.

What waits is counted in this process: the kernel's socket buffer (up to
``net.ipv4.tcp_wmem``'s maximum, 4 MiB by default on Linux) comes on top, outside the heap.

Only ``text/event-stream`` responses are watched: they are the ones that live for hours. A
slow download of an ordinary response behaves as daphne makes it. The budget sits in the
``send`` daphne gives the stream's requests (:func:`bounded`, applied by
``notifications.asgi.with_lean_stream``), so it holds under daphne's own command line as
under ``python -m notifications.serve``; under another server, ``send`` is left alone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from daphne.http_protocol import WebRequest
from daphne.server import Server
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer  # type: ignore[import-untyped]

EVENT_STREAM = b"text/event-stream"


@implementer(IPushProducer)
class SendBudget:
    """The producer of one event-stream response: holds what Twisted cannot take yet, and
    lets its sender wait until Twisted has taken it."""

    def __init__(self, request: WebRequest) -> None:
        self.request = request
        self.paused = False
        self.queue: deque[bytes] = deque()
        # Set once the connection is gone or dropped: nothing more is sent.
        self.stopped = False
        self._taken: asyncio.Future[None] | None = None

    # IPushProducer: called by the HTTP channel on behalf of the transport.
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        while self.queue and not self.paused:
            self._write(self.queue.popleft())
        if not self.blocked:
            self._wake()

    def stopProducing(self) -> None:
        """The connection is gone: what waits for it will never be sent."""
        self.stopped = True
        self.queue.clear()
        self._wake()

    @property
    def blocked(self) -> bool:
        return self.paused or bool(self.queue)

    def send(self, body: bytes) -> None:
        """Write ``body`` now, or hold it until Twisted can take it."""
        if self.blocked:
            self.queue.append(body)
        else:
            self._write(body)

    async def taken(self) -> None:
        """Wait until Twisted has taken everything held, or the connection is gone."""
        while self.blocked and not self.stopped:
            self._taken = asyncio.get_running_loop().create_future()
            await self._taken

    def flush(self) -> None:
        """Hand everything held to Twisted, full or not: the response is ending."""
        while self.queue:
            self._write(self.queue.popleft())

    def drop(self) -> None:
        """Drop the connection and what waits for it; daphne tells the application."""
        self.stopProducing()
        # The producer stays registered: it tells ``handle_reply`` to send nothing more.
        self.request.transport.abortConnection()

    def _wake(self) -> None:
        if self._taken is not None and not self._taken.done():
            self._taken.set_result(None)

    def _write(self, body: bytes) -> None:
        self.request.handle_reply({"type": "http.response.body", "body": body, "more_body": True})


def is_event_stream(request: WebRequest) -> bool:
    content_type = request.responseHeaders.getRawHeaders(b"content-type") or [b""]
    return bool(content_type[0].lower().startswith(EVENT_STREAM))


Send = Callable[[dict[str, Any]], Awaitable[None]]


def bounded(send: Send) -> Send:
    """Return the ``send`` of one daphne request, held to a :class:`SendBudget` once its
    response turns out to be an event stream; any other server's ``send`` as it is.

    daphne gives each application instance ``partial(server.handle_reply, protocol)``: the
    server and the request's protocol are read from it, and every message goes to the same
    ``handle_reply``, through the budget when there is one.
    """
    server = getattr(getattr(send, "func", None), "__self__", None)
    arguments: tuple[Any, ...] = getattr(send, "args", ())
    if not isinstance(server, Server) or len(arguments) != 1:
        return send
    protocol = arguments[0]

    async def send_bounded(message: dict[str, Any]) -> None:
        await _reply(server, protocol, message)

    return send_bounded


async def _reply(server: Server, protocol: Any, message: dict[str, Any]) -> None:
    budget = getattr(protocol, "producer", None)
    if not isinstance(budget, SendBudget):
        await server.handle_reply(protocol, message)
        if message.get("type") == "http.response.start":
            watch(protocol)
    elif budget.stopped or _gone(server, protocol):
        pass  # daphne tells (or has told) the application that the client is gone.
    elif message.get("type") == "http.response.body" and message.get("more_body"):
        budget.send(message.get("body", b""))
        try:
            await budget.taken()
        except asyncio.CancelledError:
            # The stream was ended while its client did not read (too slow, or the server
            # is stopping): what waits would hold the connection open; drop both.
            budget.drop()
            raise
    else:
        budget.flush()
        # Twisted wants the producer gone before the response finishes.
        protocol.unregisterProducer()
        await server.handle_reply(protocol, message)


def _gone(server: Server, protocol: Any) -> bool:
    """Whether daphne counts ``protocol`` as disconnected (its ``handle_reply`` check)."""
    return protocol not in server.connections or "disconnected" in server.connections[protocol]


def watch(protocol: Any) -> None:
    """Register a :class:`SendBudget` on an event-stream response just started."""
    if (
        isinstance(protocol, WebRequest)
        and not protocol.finished
        and protocol.channel is not None
        and protocol.producer is None
        and is_event_stream(protocol)
    ):
        protocol.registerProducer(SendBudget(protocol), True)
