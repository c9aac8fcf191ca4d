"""The client side: thousands of SSE streams on one asyncio loop per process.

Each client process is driven by the tool over a pipe (open, count, collect, close) and
records, for every notification, its ``id`` (the seq), the time it arrived and its raw
``data`` line, parsed only when the results are collected. Each process connects from a
loopback address of its own (127.0.0.2, 127.0.0.3...): one address has about 28,000
ephemeral ports, and 100,000 streams need several.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from bench import procfs, sse, tickets
from bench.peer import channel_of

OPEN_TIMEOUT = 60.0
CLOSE_TIMEOUT = 30.0
# Per site: the event that says a stream is open, and the event of a notification.
EVENTS = {"ours": (b"connected", b"notification"), "peer": (b"stream-open", b"message")}


@dataclass(frozen=True)
class Spec:
    """A stream to open: whose, on which server."""

    user_id: int
    url: str
    path: str = "/api/events/"
    # How the stream authenticates: a stream ticket in ``?token=``, or a Bearer access token.
    auth: str = "ticket"
    # What serves it: the product, or the peer of bench/peer/ (which reads ``?channel=``).
    site: str = "ours"


def credentials(spec: Spec, password_hash: str) -> tickets.Credentials:
    """Return the query parameters and headers a stream of ``spec`` opens with."""
    if spec.site == "peer":
        return {"channel": channel_of(spec.user_id)}, {}
    return tickets.credentials(spec.auth, spec.user_id, password_hash)


def sequence(event_id: bytes) -> bytes:
    """Return the per-user sequence number in an event's ``id:``.

    The product's ids are that number; the peer's are ``<channel>:<number>``.
    """
    return event_id.rpartition(b":")[2]


@dataclass
class Stream:
    spec: Spec
    status: str = "opening"  # then "open", "failed" or "ended"
    opened: bool = False
    error: str = ""
    open_seconds: float = 0.0
    # (seq as sent in ``id:``, arrival time, data line)
    notifications: list[tuple[bytes, float, bytes]] = field(default_factory=list)
    other_events: Counter[str] = field(default_factory=Counter)


@dataclass
class Opening:
    """The progress of one ``open`` command."""

    pending: int
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    def resolve(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.finished = time.time()
            self.done.set()


class Worker:
    """Runs in a client process: owns its streams and answers the tool's commands."""

    def __init__(self, conn: Connection, password_hash: str, progress: Any, source: str) -> None:
        self.conn = conn
        # The loopback address this process's connections come from.
        self.source = source
        # A shared counter of streams opened, which the tool reads while opening is under way.
        self.progress = progress
        self.password_hash = password_hash
        self.streams: list[Stream] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        commands: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        loop.add_reader(self.conn.fileno(), lambda: commands.put_nowait(self.conn.recv()))
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True, local_addr=(self.source, 0)),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=OPEN_TIMEOUT),
            auto_decompress=False,
        )
        try:
            while True:
                name, argument = await commands.get()
                if name == "exit":
                    self.conn.send(None)
                    return
                self.conn.send(await getattr(self, f"do_{name}")(argument))
        finally:
            loop.remove_reader(self.conn.fileno())
            await self.do_close(None)
            await self.session.close()

    async def do_open(self, argument: tuple[list[Spec], int, float]) -> dict[str, Any]:
        specs, concurrency, budget = argument
        limit = asyncio.Semaphore(concurrency)
        opening = Opening(pending=len(specs))
        new = [Stream(spec) for spec in specs]
        self.streams += new
        tasks = {}
        for stream in new:
            task = tasks[id(stream)] = asyncio.create_task(self._stream(stream, limit, opening))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if new:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(budget):
                    await opening.done.wait()
        # What the open made lives as long as the streams: out of the collector's sight, so
        # that its collections while notifications arrive stay short (a full one over it
        # took 40-85 ms here, and delayed whatever arrived meanwhile).
        gc.collect()
        gc.freeze()
        late = [s for s in new if s.status == "opening"]
        for stream in late:
            # Not open within the budget: give up on it, so the run stays bounded in time.
            stream.status, stream.error = "failed", "not open within the time budget"
            tasks[id(stream)].cancel()
        return {
            "started": opening.started,
            "finished": opening.finished or time.time(),
            "opened": sum(s.status == "open" for s in new),
            "errors": dict(Counter(s.error for s in new if s.status != "open")),
            "open_seconds": [s.open_seconds for s in new if s.status == "open"],
            "usage": procfs.usage(os.getpid()),
        }

    async def do_count(self, _: object) -> dict[str, Any]:
        return {
            "notifications": sum(len(s.notifications) for s in self.streams),
            "statuses": dict(Counter(s.status for s in self.streams)),
        }

    async def do_collect(self, _: object) -> dict[str, Any]:
        return {
            "streams": [
                (s.spec.user_id, s.opened, s.status, s.error, s.notifications, s.other_events)
                for s in self.streams
            ],
            "usage": procfs.usage(os.getpid()),
        }

    async def do_forget(self, _: object) -> int:
        """Forget what the streams received so far, keeping them open: the next phase of a
        scenario on the same streams counts its own notifications only."""
        forgotten = 0
        for stream in self.streams:
            forgotten += len(stream.notifications)
            stream.notifications = []
            stream.other_events.clear()
        return forgotten

    async def do_close(self, _: object) -> int:
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await asyncio.gather(*tasks, return_exceptions=True)
        closed = len(self.streams)
        self.streams = []
        return closed

    async def _stream(self, stream: Stream, limit: asyncio.Semaphore, opening: Opening) -> None:
        assert self.session is not None
        parser = sse.Parser()
        opened_event, notification_event = EVENTS[stream.spec.site]
        response: aiohttp.ClientResponse | None = None
        resolved = False
        try:
            async with limit:
                start = time.monotonic()
                params, headers = credentials(stream.spec, self.password_hash)
                async with asyncio.timeout(OPEN_TIMEOUT):
                    response = await self.session.get(
                        stream.spec.url + stream.spec.path, params=params, headers=headers
                    )
                    if response.status != 200:
                        body = (await response.content.read(200)).decode(errors="replace")
                        stream.status = "failed"
                        stream.error = f"HTTP {response.status} {body}"
                        return
                    while True:
                        line = await response.content.readline()
                        if not line:
                            stream.status, stream.error = "failed", "ended before connected"
                            return
                        event = parser.line(line)
                        if event is not None and event.name == opened_event:
                            break
                stream.status, stream.opened = "open", True
                self.progress.value += 1
                stream.open_seconds = time.monotonic() - start
            opening.resolve()
            resolved = True
            async for line in response.content:
                event = parser.line(line)
                if event is None:
                    continue
                if event.name == notification_event:
                    stream.notifications.append((sequence(event.id), time.time(), event.data))
                else:
                    stream.other_events[event.name.decode(errors="replace")] += 1
            stream.status, stream.error = "ended", "server closed the stream"
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            stream.status, stream.error = "failed", "timeout"
        except Exception as e:
            stream.status = "failed" if stream.status != "open" else "ended"
            stream.error = type(e).__name__
        finally:
            if response is not None:
                response.close()
            if not resolved:
                opening.resolve()


def worker_main(conn: Connection, password_hash: str, progress: Any, source: str) -> None:
    """Entry point of a client process."""
    # Ctrl-C reaches the whole process group: let the tool decide when this process ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    procfs.raise_open_files_limit()
    import django

    django.setup()
    asyncio.run(Worker(conn, password_hash, progress, source).run())
