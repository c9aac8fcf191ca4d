"""A real SSE client (httpx-sse) reading a stream in the background."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse


class Listener:
    """Open the stream, then ``await next()`` events as they arrive."""

    def __init__(self, client: httpx.AsyncClient, path: str = "/api/events/", **kwargs: Any):
        self.client = client
        self.path = path
        self.kwargs = kwargs
        self.queue: asyncio.Queue[ServerSentEvent | None] = asyncio.Queue()
        self.status: int | None = None
        self.body: bytes = b""
        self.ended = asyncio.Event()
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._run())
        async with asyncio.timeout(15):
            await self._opened.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            async with aconnect_sse(self.client, "GET", self.path, **self.kwargs) as source:
                self.status = source.response.status_code
                if self.status != 200:
                    self.body = await source.response.aread()
                    self._opened.set()
                    return
                self._opened.set()
                async for event in source.aiter_sse():
                    self.queue.put_nowait(event)
        finally:
            self._opened.set()
            self.ended.set()
            self.queue.put_nowait(None)

    async def next(self, timeout: float = 15) -> ServerSentEvent:
        async with asyncio.timeout(timeout):
            event = await self.queue.get()
        if event is None:
            raise EOFError("the stream ended")
        return event

    async def next_named(self, name: str, timeout: float = 15) -> ServerSentEvent:
        async with asyncio.timeout(timeout):
            while (event := await self.next()).event != name:
                pass
        return event

    async def notifications(self, count: int, timeout: float = 30) -> list[ServerSentEvent]:
        async with asyncio.timeout(timeout):
            return [await self.next_named("notification") for _ in range(count)]
