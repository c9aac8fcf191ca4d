"""Clients we did not write, against real daphne: the Python client of docs/CLIENTS.md
(httpx-sse) and the npm ``eventsource`` package run by Node, each reconnecting on its own
across server restarts, with a notification stored while the server was down.

The Node test needs ``node`` and ``tests/clients/node_modules`` (``.ci/run`` installs both;
the fixture runs ``npm ci`` when only the packages are missing) and skips, saying why, only
when they cannot be had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from tests.clients.follow import follow
from tests.e2e.conftest import Server, send

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
publish = sync_to_async(send)


async def restart_with_one_stored_meanwhile(server: Server, user: Any, title: str) -> None:
    """Stop ``server``, store a notification while it is down, start it on the same port."""
    await asyncio.to_thread(server.stop)
    await publish(server, user.username, title)
    await asyncio.to_thread(server.start)


class Events:
    """Events from a client running in the background, awaited one by one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.log: list[dict[str, Any]] = []

    def put(self, record: dict[str, Any]) -> None:
        self.log.append(record)
        self.queue.put_nowait(record)

    async def next(self, event: str) -> dict[str, Any]:
        async with asyncio.timeout(60):
            while True:
                record = await self.queue.get()
                if record.get("event") == event:
                    return record

    def notifications(self) -> list[tuple[str, str]]:
        return [(r["id"], r["data"]["title"]) for r in self.log if r.get("event") == "notification"]


async def exercise(server: Server, user: Any, events: Events) -> None:
    """Two restarts, a notification stored during each and one sent live after each."""
    connected = await events.next("connected")
    assert (connected["id"], connected["data"]["last_seq"]) == ("0", 0)

    await restart_with_one_stored_meanwhile(server, user, "While down")
    assert (await events.next("notification"))["data"]["title"] == "While down"
    await publish(server, user.username, "Live again")
    assert (await events.next("notification"))["data"]["title"] == "Live again"

    await restart_with_one_stored_meanwhile(server, user, "While down again")
    assert (await events.next("notification"))["data"]["title"] == "While down again"
    await publish(server, user.username, "Live once more")
    await events.next("notification")

    # In order, each exactly once: nothing was replayed twice or skipped.
    assert events.notifications() == [
        ("1", "While down"),
        ("2", "Live again"),
        ("3", "While down again"),
        ("4", "Live once more"),
    ]


async def test_python_httpx_sse_client_resumes_across_restarts(server: Server, user: Any) -> None:
    events = Events()

    async def run() -> None:
        async for event in follow(server.url, str(AccessToken.for_user(user))):
            events.put({"event": event.event, "id": event.id, "data": json.loads(event.data)})

    task = asyncio.create_task(run())
    try:
        await exercise(server, user, events)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_the_python_client_is_the_documented_one() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "CLIENTS.md").read_text()
    source = (CLIENTS / "follow.py").read_text()
    body = source.split('"""', 2)[2].strip()
    assert body in docs
    assert (CLIENTS / "eventsource_client.mjs").read_text().strip() in docs


@pytest.fixture(scope="session")
def node() -> str:
    """Return the path of ``node`` with the ``eventsource`` package ready to import."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed (.ci/run installs them with apt-get)")
    if not (CLIENTS / "node_modules" / "eventsource").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CLIENTS,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.skip(f"npm could not install the eventsource package:\n{result.stderr}")
    return node


@contextlib.asynccontextmanager
async def node_client(node: str, server: Server, user: Any) -> AsyncIterator[Events]:
    env = {**server.env, "NOTIFICATIONS_URL": server.url}
    env["ACCESS_TOKEN"] = str(AccessToken.for_user(user))
    process = await asyncio.create_subprocess_exec(
        node,
        "eventsource_client.mjs",
        cwd=CLIENTS,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    events = Events()

    async def read() -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            events.put(json.loads(line))

    reader = asyncio.create_task(read())
    try:
        yield events
    finally:
        process.terminate()
        await process.wait()
        await reader


async def test_node_eventsource_package_resumes_across_restarts(
    node: str, server: Server, user: Any
) -> None:
    async with node_client(node, server, user) as events:
        await exercise(server, user, events)
    # A fresh ticket for every connection: three connections at least, and no refusal
    # (a refusal would have closed the EventSource for good).
    assert sum(1 for r in events.log if r.get("ticket")) >= 3
    refusals = [r for r in events.log if r.get("code") is not None]
    assert not refusals, refusals
