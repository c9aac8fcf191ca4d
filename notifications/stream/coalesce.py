"""Serve the calls made during one turn of the event loop with one round trip.

Opens come in storms (a deploy, a network blip): hundreds of streams of different users
open at once, each needing a Redis call for its slot and a database read for its start,
each call with a client library's full overhead (a pooled connection taken and given back,
a command written, a reply awaited and parsed). A :class:`Coalescer` gathers the keys
asked for while the loop runs its ready callbacks and serves them together on the next
turn: one pipeline, one statement. A lone open waits one turn of the loop, nothing more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """Call ``run`` with every key asked for in one turn of the loop (at most ``limit``).

    ``run`` returns one outcome per key, in order: a value, or an exception raised to that
    key's caller only. An exception ``run`` raises reaches every caller of the batch. A
    caller cancelled while its batch runs leaves the others' outcomes untouched.
    """

    def __init__(
        self, run: Callable[[list[K]], Awaitable[Sequence[V | BaseException]]], *, limit: int
    ) -> None:
        self.run = run
        self.limit = limit
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[K, asyncio.Future[V]]]] = {}
        # Batches under way, kept referenced until they are done.
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append((key, future))
        if len(pending) >= self.limit:
            self._flush(loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, None)
        if batch:
            task = loop.create_task(self._serve(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _serve(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        try:
            outcomes = await self.run([key for key, _ in batch])
        except BaseException as e:
            for _, future in batch:
                if not future.done():
                    future.set_exception(e)
            if not isinstance(e, Exception):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
