"""End every stream and free its connection slot as the server stops (a deploy).

A server that stops waits for its responses to end, and a stream never ends by itself:
each must be told to. The sequence is one, :func:`stop`: every stream ends and all their
slots are freed in one round trip (``hub.stop``), so a client reconnecting to another
process is admitted at once; then the open's PostgreSQL pool is closed. It runs once per
event loop, however many of the hooks below ask for it.

- daphne cancels every request and stops its reactor on SIGTERM, and the event loop stops
  with it. Twisted runs its "before shutdown" triggers while the loop still runs, and waits
  for the Deferred each returns: :func:`install` adds one. The app installs it as Django
  loads it (``NotificationsConfig.ready``) in a process whose reactor daphne installed
  first (its own command line, ``python -m notifications.serve``), whatever the site's ASGI
  application is.
- Other servers (uvicorn) wait for every response to end before they stop. They speak
  ASGI's lifespan protocol, which ``asgi.with_lean_stream`` answers with :func:`lifespan`;
  but its shutdown event comes only once the responses have ended, too late for streams.
  So its startup chains the process's SIGTERM and SIGINT handlers (the server's, in place
  by then): the streams are told to stop as the signal arrives, then the server's own
  handler runs. Django's own ASGI application refuses the lifespan scope, and such a
  server then goes on without it: a site served by one wraps its application.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from twisted.internet import defer

from notifications.stream import hub, pg

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# The signals on which servers stop gracefully.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_installed = False
_chained = False
_stops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)


def stop() -> asyncio.Task[None]:
    """Start, or join, the one stop sequence of this event loop; await it to see it done."""
    loop = asyncio.get_running_loop()
    task = _stops.get(loop)
    if task is None:
        task = _stops[loop] = loop.create_task(_stop())
    return task


async def _stop() -> None:
    await hub.stop()
    # Closed before the loop ends: see ``pg.close``.
    await pg.close()


def install() -> None:
    """Have the Twisted reactor of this process, if there is one, stop the streams before
    it shuts down. Once per process; never imports the reactor (importing it installs one).
    """
    global _installed
    reactor: Any = sys.modules.get("twisted.internet.reactor")
    if _installed or reactor is None:
        return
    reactor.addSystemEventTrigger("before", "shutdown", _stop_streams)
    _installed = True


def _stop_streams() -> defer.Deferred[None]:
    return defer.Deferred.fromFuture(stop())


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer an ASGI ``lifespan`` scope: stop the streams on the server's stop signals, and
    whatever is left of the sequence at shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _stop_on_signals(asyncio.get_running_loop())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _stop_on_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Chain the server's handler of each stop signal: first start :func:`stop` on ``loop``,
    then let the server's own handler run. Once per process; only a Python handler is
    chained (signals are the main thread's to handle, and a default action cannot be)."""
    global _chained
    if _chained or threading.current_thread() is not threading.main_thread():
        return
    _chained = True
    for number in STOP_SIGNALS:
        server_handler = signal.getsignal(number)
        if callable(server_handler):
            signal.signal(number, _chain(loop, server_handler))


Handler = Callable[[int, FrameType | None], Any]


def _chain(loop: asyncio.AbstractEventLoop, server_handler: Handler) -> Handler:
    def handle(number: int, frame: FrameType | None) -> None:
        # A signal handler runs between two bytecodes of the main thread, wherever the loop
        # is: the stop is scheduled, never run, from here.
        if not loop.is_closed():
            loop.call_soon_threadsafe(stop)
        server_handler(number, frame)

    return handle
