"""The stop sequence as a server other than daphne reaches it: ASGI's lifespan scope, whose
startup chains the server's stop signals so that streams end before the server waits for
them. Under real servers: ``tests/e2e/test_lifecycle.py``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from notifications.asgi import with_lean_stream
from notifications.delivery import messages
from notifications.stream import shutdown
from notifications.stream.hub import hub
from notifications.stream.limits import new_slot


class Lifespan:
    """The server's side of a lifespan scope: it sends events, and records the answers."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers: list[str] = []

    async def receive(self) -> dict[str, Any]:
        return await self.events.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.answers.append(message["type"])

    async def answered(self, event: str, answer: str) -> None:
        await self.events.put({"type": event})
        async with asyncio.timeout(5):
            while answer not in self.answers:
                await asyncio.sleep(0.01)


@pytest.fixture
def server_handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Stand in for the server's own stop handlers (uvicorn's ``handle_exit``); put the
    process's back afterwards."""
    monkeypatch.setattr(shutdown, "_chained", False)
    received: list[int] = []
    previous = {number: signal.getsignal(number) for number in shutdown.STOP_SIGNALS}
    for number in shutdown.STOP_SIGNALS:
        signal.signal(number, lambda number, frame: received.append(number))
    yield received
    for number, handler in previous.items():
        signal.signal(number, handler)


async def test_sigterm_ends_the_streams_then_runs_the_servers_handler(
    server_handlers: list[int],
) -> None:
    current = hub()
    inbox = current.register(1, new_slot(1))
    app = with_lean_stream(lambda scope, receive, send: None)
    lifespan = Lifespan()
    serving = asyncio.ensure_future(app({"type": "lifespan"}, lifespan.receive, lifespan.send))
    await lifespan.answered("lifespan.startup", "lifespan.startup.complete")
    signal.raise_signal(signal.SIGTERM)
    assert server_handlers == [signal.SIGTERM]
    async with asyncio.timeout(5):
        while (await inbox.get())["type"] != messages.SERVER_STOPPING:
            pass
    current.unregister(1, inbox)
    await lifespan.answered("lifespan.shutdown", "lifespan.shutdown.complete")
    await serving
    assert shutdown.stop().done()  # One sequence, run once.
    for task in (current._task, current._heartbeat):
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
