"""Close an event stream whose client stopped reading, before daphne's buffer eats the server.

daphne hands every ``http.response.body`` chunk to Twisted at once and never makes the
application's ``send`` wait, so a client that stops reading (a laptop lid closed mid-stream,
a stuck proxy) leaves everything published to it in the process's memory, for as long as the
connection stays up. Nothing in the application can see it happen.

Twisted can: when a transport's write buffer passes its ``bufferSize`` (64 KiB), it calls
``pauseProducing()`` on its producer, and ``resumeProducing()`` once the buffer has drained.
The HTTP channel forwards both to a producer its request registers. So each event-stream
response registers a :class:`SendBudget` as that producer. While it is paused, the chunks
the application sends wait in the budget's own queue instead of Twisted's buffer, and go out
when Twisted resumes it. When more than ``SLOW_CLIENT_BUFFER_BYTES`` wait, the queue is
dropped and the connection aborted (which drops Twisted's buffer as well); daphne then sends
``http.disconnect`` to the application, whose stream ends and releases its slot. The client
loses nothing: it reconnects with ``Last-Event-ID`` and is replayed what it missed from the
database.

The memory freed is then handed back to the operating system (``malloc_trim``), so that the
server's resident size goes back down; so it is when a client that had a backlog waiting
goes away by itself. What waits is counted in this process: the kernel's
socket buffer (up to ``net.ipv4.tcp_wmem``'s maximum, 4 MiB by default on Linux) comes on
top, outside the heap.

A burst sent in one go (a replay of large notifications) would pass the limit before the
reactor had a chance to send any of it, even to a client that reads; so while the budget is
paused, each chunk lets the event loop turn once before the application sends the next, and
a client that reads drains the queue as the burst goes out.

Only ``text/event-stream`` responses are watched: they are the ones that live for hours. A
slow download of an ordinary response behaves as daphne makes it. The budget sits in the
``send`` daphne gives the stream's requests (:func:`bounded`, applied by
``notifications.asgi.with_lean_stream``), so it holds under daphne's own command line as
under ``python -m notifications.serve``; under another server, ``send`` is left alone.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from daphne.http_protocol import WebRequest
from daphne.server import Server
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer  # type: ignore[import-untyped]

from notifications import metrics
from notifications.conf import conf

logger = logging.getLogger(__name__)

EVENT_STREAM = b"text/event-stream"
# Dropping this much or more (a stream closed, or its client gone) hands memory back.
TRIM_AFTER_BYTES = 65_536


@implementer(IPushProducer)
class SendBudget:
    """The producer of one event-stream response: holds what Twisted cannot take yet, up to
    a limit, and aborts the connection past it."""

    def __init__(self, request: WebRequest, limit: int) -> None:
        self.request = request
        self.limit = limit
        self.paused = False
        self.queue: deque[bytes] = deque()
        self.waiting = 0
        self.aborted = False

    # IPushProducer: called by the HTTP channel on behalf of the transport.
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        while self.queue and not self.paused:
            body = self.queue.popleft()
            self.waiting -= len(body)
            self._write(body)

    def stopProducing(self) -> None:
        """The connection is gone: what waits for it will never be sent."""
        dropped = self.waiting
        self.queue.clear()
        self.waiting = 0
        if dropped > TRIM_AFTER_BYTES:
            heap.trim_soon()

    @property
    def blocked(self) -> bool:
        return self.paused or bool(self.queue)

    def send(self, body: bytes) -> None:
        """Write ``body`` now, or queue it behind what waits; abort once too much waits."""
        if not self.blocked:
            self._write(body)
            return
        self.queue.append(body)
        self.waiting += len(body)
        if self.waiting > self.limit:
            self.abort()

    def flush(self) -> None:
        """Hand everything queued to Twisted, full or not: the response is ending."""
        while self.queue:
            self._write(self.queue.popleft())
        self.waiting = 0

    def abort(self) -> None:
        """Drop the connection and what waits for it; daphne tells the application."""
        waiting = self.waiting
        self.aborted = True
        self.stopProducing()
        metrics.slow_clients_closed.inc()
        client = self.request.client_addr
        logger.warning(
            "Closed a stream whose client stopped reading: %d bytes waiting unsent "
            "(SLOW_CLIENT_BUFFER_BYTES = %d); client %s, path %s",
            waiting,
            self.limit,
            f"{client[0]}:{client[1]}" if client else "unknown",
            # ``path`` has no query string, so no ``?token=``.
            self.request.path.decode("ascii", "replace"),
        )
        # The producer stays registered: it tells ``handle_reply`` to send nothing more.
        self.request.transport.abortConnection()

    def _write(self, body: bytes) -> None:
        self.request.handle_reply({"type": "http.response.body", "body": body, "more_body": True})


class Heap:
    """Hands freed memory back to the operating system after a stream was dropped.

    The dropped chunks are a few KiB each, and glibc keeps such freed memory in the process
    for reuse; ``malloc_trim`` returns it. At most one call a second, however many streams
    are dropped; a no-op where the C library has no ``malloc_trim`` (musl, macOS).
    """

    MIN_INTERVAL_SECONDS = 1.0

    def __init__(self) -> None:
        self.pending = False
        self.last = -self.MIN_INTERVAL_SECONDS
        try:
            self._trim: Callable[[int], int] | None = ctypes.CDLL(None).malloc_trim
        except (AttributeError, OSError):
            self._trim = None

    def trim_soon(self) -> None:
        """Trim on the next turn of the event loop (daphne's reactor runs on it), or later."""
        if self._trim is None or self.pending:
            return
        self.pending = True
        loop = asyncio.get_running_loop()
        loop.call_at(max(loop.time(), self.last + self.MIN_INTERVAL_SECONDS), self.trim)

    def trim(self) -> None:
        self.pending = False
        self.last = asyncio.get_running_loop().time()
        if self._trim is not None:
            self._trim(0)


heap = Heap()


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
    elif budget.aborted or _gone(server, protocol):
        pass  # daphne tells (or has told) the application that the client is gone.
    elif message.get("type") == "http.response.body" and message.get("more_body"):
        budget.send(message.get("body", b""))
        if budget.blocked:
            # Let the reactor write to the socket before the next chunk comes.
            await asyncio.sleep(0)
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
        protocol.registerProducer(SendBudget(protocol, conf.SLOW_CLIENT_BUFFER_BYTES), True)
