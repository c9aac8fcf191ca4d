"""A client that reads one user's stream for as long as the test runs, whatever happens to
the servers: on any end or error it reconnects, to either server at random, resuming from
the last ``seq`` it saw, after a short bounded backoff (honouring a 429's ``Retry-After`` up
to a bound)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import httpx
from httpx_sse import SSEError, aconnect_sse

# The longest wait before reconnecting, even when a 429 asks for longer: the servers in this
# test run with one-second heartbeats, so slots a dead process held expire within seconds.
MAX_BACKOFF_SECONDS = 2.0
_STARTED = time.monotonic()


def now() -> float:
    return time.monotonic() - _STARTED


@dataclass
class Reader:
    """One stream of one user. ``received`` is every notification in arrival order."""

    name: str
    user_id: int
    token: str
    servers: Callable[[], Sequence[str]]
    rng: random.Random
    received: list[tuple[int, str]] = field(default_factory=list)
    last_id: int = 0
    connections: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    # One line per connection: when, to which server, how it ended, what it brought.
    history: list[str] = field(default_factory=list)
    outcome: str = ""

    async def run(self, http: httpx.AsyncClient) -> None:
        """Read until cancelled."""
        while True:
            base, since, began = self.rng.choice(list(self.servers())), self.last_id, now()
            try:
                delay = await self._connect(http, base)
                outcome = self.outcome
            except (httpx.HTTPError, SSEError) as e:
                outcome = type(e).__name__
                self.outcomes[outcome] += 1
                delay = self.rng.uniform(0.05, 0.5)
            port = base.rsplit(":", 1)[-1]
            self.history.append(
                f"{began:.1f}-{now():.1f}s :{port} {outcome}, seqs {since + 1}..{self.last_id}"
            )
            await asyncio.sleep(delay)

    async def _connect(self, http: httpx.AsyncClient, base: str) -> float:
        """One connection, from opening to its end; return how long to wait before the next."""
        self.connections += 1
        headers = {"Authorization": f"Bearer {self.token}"}
        params = {}
        # Both ways of resuming that the contract offers, at random.
        if self.rng.random() < 0.5:
            headers["Last-Event-ID"] = str(self.last_id)
        else:
            params["last_event_id"] = str(self.last_id)
        # Sometimes the client itself goes away, after a few notifications.
        leave_after = self.rng.randint(1, 30) if self.rng.random() < 0.3 else None
        url = f"{base}/api/events/"
        async with aconnect_sse(http, "GET", url, headers=headers, params=params) as source:
            status = source.response.status_code
            self.outcomes[str(status)] += 1
            self.outcome = str(status)
            if status == 429:
                await source.response.aread()
                asked = float(source.response.headers.get("Retry-After", "1"))
                return min(asked, MAX_BACKOFF_SECONDS) * self.rng.uniform(0.5, 1.0)
            if status != 200:
                await source.response.aread()
                return self.rng.uniform(0.05, 0.5)
            requested = self.last_id
            async for event in source.aiter_sse():
                if event.event == "connected":
                    self._connected(requested, event.id, event.data)
                elif event.event == "notification":
                    self._notification(event.id, event.data)
                    if leave_after is not None and (leave_after := leave_after - 1) == 0:
                        self.outcomes["left"] += 1
                        self.outcome = "200, left"
                        return self.rng.uniform(0.0, 0.2)
                elif event.event == "resync":
                    self.anomalies.append(f"resync after {self.last_id}: {event.data}")
            self.outcomes["ended"] += 1
            self.outcome = "200, ended"
        return self.rng.uniform(0.05, 0.5)

    def _connected(self, requested: int, id: str, data: str) -> None:
        """Check where the server says the stream continues from (``last_seq``, and the
        event's ``id``), when it says so: exactly where the client asked."""
        said = [json.loads(data).get("last_seq"), int(id) if id else None]
        for last_seq in filter(lambda n: n is not None, said):
            if last_seq != requested:
                self.anomalies.append(f"asked for {requested}, the server continued {last_seq}")

    def _notification(self, id: str, data: str) -> None:
        seq = int(id)
        self.received.append((seq, json.loads(data)["data"]["marker"]))
        self.last_id = max(self.last_id, seq)
        self.progress.set()

    async def wait_for(self, seq: int) -> None:
        """Return once this reader has seen ``seq``."""
        while self.last_id < seq:
            self.progress.clear()
            await self.progress.wait()


@contextlib.asynccontextmanager
async def reading(readers: Sequence[Reader]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run the readers in the background; cancel them all on exit.

    They share one client that keeps no idle connection: every reconnect opens a new one,
    as a browser's does after a drop. A stream that stays silent past the read timeout (five
    heartbeats of the servers here) is taken for dead.
    """
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    timeout = httpx.Timeout(5.0, connect=2.0)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        tasks = [asyncio.create_task(r.run(http), name=r.name) for r in readers]
        try:
            yield tasks
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
