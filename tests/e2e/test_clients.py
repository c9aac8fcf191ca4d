"""The clients of docs/CLIENTS.md, run from the Markdown itself against real daphne.

Python (httpx-sse) and Node (the npm ``eventsource`` package) reconnect on their own across
two server restarts, with a notification stored while the server was down; they outlive
their access token, and stop with a clear error when a refresh cannot help. The Python usage
script runs as it is. The curl lines stream and resume from the id they name. Publishers
run in other processes.

The Node tests need ``node`` and ``tests/clients/node_modules`` (``.ci/run`` installs both;
the fixture runs ``npm ci`` when only the packages are missing) and skips, saying why, only
when they cannot be had.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from notifications.services import notify
from tests.conftest import PASSWORD
from tests.e2e.conftest import Server, client, send
from tests.recipes import recipe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
DOCS_SITE = "https://shop.example.com"
publish = sync_to_async(send)


def substituted(code: str, replacements: dict[str, str]) -> str:
    """Put the test's server and user in place of the doc's; fail if the doc changed them."""
    for old, new in replacements.items():
        assert old in code, f"the recipe no longer holds {old!r}"
        code = code.replace(old, new)
    return code


def logged_in_as(server: Server, user: Any) -> dict[str, str]:
    """The replacements that point a recipe at ``server``, logging in as ``user``."""
    return {
        DOCS_SITE: server.url,
        '"username": "ada"': f'"username": "{user.username}"',
        '"password": "..."': f'"password": "{PASSWORD}"',
    }


@pytest.fixture
def documented() -> ModuleType:
    """The Python client of docs/CLIENTS.md, executed from the Markdown as a module."""
    module = ModuleType("clients_python")
    code = compile(recipe("clients-python"), "docs/CLIENTS.md (clients-python)", "exec")
    exec(code, module.__dict__)
    return module


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
                assert "ended" not in record, f"the client stopped: {record['ended']}"
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


def minted(user: Any) -> dict[str, str]:
    """Tokens for ``user`` as ``POST /api/token/`` answers, minted here."""
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


@contextlib.asynccontextmanager
async def python_client(
    documented: ModuleType, server: Server, tokens: dict[str, str]
) -> AsyncIterator[Events]:
    """Run the documented ``follow()`` in the background, its events in ``Events``."""
    events = Events()

    async def run() -> None:
        try:
            async for event in documented.follow(server.url, tokens):
                events.put({"event": event.event, "id": event.id, "data": json.loads(event.data)})
        except Exception as e:
            events.put({"ended": repr(e)})
            raise

    task = asyncio.create_task(run())
    try:
        yield events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_python_client_resumes_across_restarts(
    documented: ModuleType, server: Server, user: Any
) -> None:
    async with python_client(documented, server, minted(user)) as events:
        await exercise(server, user, events)


async def log_in(server: Server, user: Any) -> dict[str, str]:
    """The tokens ``POST /api/token/`` gives ``user``, as the doc's clients start from."""
    async with client(server) as http:
        login = {"username": user.username, "password": PASSWORD}
        return (await http.post("/api/token/", json=login)).raise_for_status().json()


async def until_expired(server: Server, access: str) -> None:
    """Wait until ``server`` refuses the access token ``access``."""
    headers = {"Authorization": f"Bearer {access}"}
    async with client(server) as http, asyncio.timeout(30):
        while (await http.get("/api/notifications/unread-count/", headers=headers)).is_success:
            await asyncio.sleep(0.2)


async def outlive_access_tokens(server: Server, user: Any, events: Events) -> None:
    """Two restarts once the client's access token has expired, a notification stored during
    each and one sent live after each: the client refreshes its token and loses nothing."""
    await events.next("connected")
    await publish(server, user.username, "Before expiry")
    await events.next("notification")
    for again in ("", " again"):
        # A token issued now expires after the client's: once the server refuses it, the
        # client's has expired too, and its next connection gets a 401.
        await until_expired(server, (await log_in(server, user))["access"])
        await restart_with_one_stored_meanwhile(server, user, f"While down{again}")
        assert (await events.next("notification"))["data"]["title"] == f"While down{again}"
        await publish(server, user.username, f"Live{again}")
        assert (await events.next("notification"))["data"]["title"] == f"Live{again}"

    assert events.notifications() == [
        ("1", "Before expiry"),
        ("2", "While down"),
        ("3", "Live"),
        ("4", "While down again"),
        ("5", "Live again"),
    ]


@pytest.fixture
def short_token_server(start_server: Callable[..., Server]) -> Server:
    """A server whose access tokens live three seconds, and which rotates refresh tokens."""
    return start_server(DJANGO_SETTINGS_MODULE="tests.e2e.short_token_settings")


async def test_python_client_outlives_its_access_token(
    documented: ModuleType, short_token_server: Server, user: Any
) -> None:
    tokens = await log_in(short_token_server, user)
    first = dict(tokens)
    async with python_client(documented, short_token_server, tokens) as events:
        await outlive_access_tokens(short_token_server, user, events)
    # It kept the rotated refresh token, not only the new access token.
    assert tokens["access"] != first["access"] and tokens["refresh"] != first["refresh"]


@pytest.fixture(params=["expired", "password changed"])
async def refused_tokens(
    request: pytest.FixtureRequest, server: Server, user: Any
) -> dict[str, str]:
    """Tokens that a refresh cannot save: both expired, or issued before the password changed
    (simplejwt still refreshes those, but the stream and the API refuse what it gives)."""
    if request.param == "expired":
        access, refresh = AccessToken.for_user(user), RefreshToken.for_user(user)
        for token in (access, refresh):
            token.set_exp(lifetime=-timedelta(seconds=1))
        return {"access": str(access), "refresh": str(refresh)}
    tokens = await log_in(server, user)
    user.set_password("a-brand-new-password")
    await user.asave()
    return tokens


async def test_python_client_stops_when_a_refresh_cannot_help(
    documented: ModuleType, server: Server, refused_tokens: dict[str, str]
) -> None:
    with pytest.raises(documented.RefreshRefused):
        async with asyncio.timeout(30):
            async for _ in documented.follow(server.url, refused_tokens):
                pass


async def until_streams_open(server: Server, count: int) -> None:
    """Wait until ``server`` reports ``count`` open streams."""
    headers = {"Authorization": "Bearer clients-metrics-token"}
    gauge = f"notifications_streams_open {float(count)}"
    async with client(server) as http, asyncio.timeout(30):
        while gauge not in (await http.get("/metrics", headers=headers)).text.splitlines():
            await asyncio.sleep(0.1)


async def test_python_usage_logs_in_and_prints_each_title(
    start_server: Callable[..., Server], user: Any, tmp_path: Path
) -> None:
    server = start_server(METRICS_TOKEN="clients-metrics-token")
    usage = substituted(recipe("clients-python-usage"), logged_in_as(server, user))
    script = tmp_path / "follow.py"
    script.write_text(f"{recipe('clients-python')}\n\n{usage}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        script,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        await until_streams_open(server, 1)
        await publish(server, user.username, "Printed from the doc's script")
        assert process.stdout is not None
        async with asyncio.timeout(60):
            line = await process.stdout.readline()
        assert line.decode() == "Printed from the doc's script\n"
    finally:
        process.terminate()
        await process.wait()


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


@contextlib.contextmanager
def node_script() -> Iterator[Path]:
    """The doc's Node client, saved beside ``tests/clients/node_modules`` as a user saves it
    beside theirs."""
    script = CLIENTS / f"recipe-{uuid.uuid4().hex[:8]}.mjs"
    script.write_text(recipe("clients-node"))
    try:
        yield script
    finally:
        script.unlink()


def node_env(server: Server, tokens: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "NOTIFICATIONS_URL": server.url,
        "ACCESS_TOKEN": tokens["access"],
        "REFRESH_TOKEN": tokens["refresh"],
    }


@contextlib.asynccontextmanager
async def node_client(node: str, server: Server, tokens: dict[str, str]) -> AsyncIterator[Events]:
    """Run the doc's Node client in the background, its printed records in ``Events``."""
    with node_script() as script:
        process = await asyncio.create_subprocess_exec(
            node, script, cwd=CLIENTS, env=node_env(server, tokens), stdout=asyncio.subprocess.PIPE
        )
        events = Events()

        async def read() -> None:
            assert process.stdout is not None
            async for line in process.stdout:
                events.put(json.loads(line))
            events.put({"ended": f"node exited with status {await process.wait()}"})

        reader = asyncio.create_task(read())
        try:
            yield events
        finally:
            process.terminate()
            await process.wait()
            await reader


def refusals(events: Events) -> list[dict[str, Any]]:
    """The Node client's refusals: an HTTP status that closed its EventSource for good."""
    return [r for r in events.log if r.get("code") is not None]


async def test_node_eventsource_package_resumes_across_restarts(
    node: str, server: Server, user: Any
) -> None:
    async with node_client(node, server, minted(user)) as events:
        await exercise(server, user, events)
    # A fresh ticket for every connection: three connections at least, and no refusal.
    assert sum(1 for r in events.log if r.get("ticket")) >= 3
    assert not refusals(events)


async def test_node_client_outlives_its_access_token(
    node: str, short_token_server: Server, user: Any
) -> None:
    tokens = await log_in(short_token_server, user)
    async with node_client(node, short_token_server, tokens) as events:
        await outlive_access_tokens(short_token_server, user, events)
    assert sum(1 for r in events.log if r.get("refreshed")) == 2  # once per expiry
    assert not refusals(events)


async def test_node_client_stops_when_a_refresh_cannot_help(
    node: str, server: Server, refused_tokens: dict[str, str]
) -> None:
    with node_script() as script:
        process = await asyncio.create_subprocess_exec(
            node,
            script,
            cwd=CLIENTS,
            env=node_env(server, refused_tokens),
            stdout=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    last = json.loads(output.splitlines()[-1])
    assert process.returncode == 1 and "refused" in last["error"], output


# Each curl runs in the background and says its process id on stderr, so that the test can
# end a stream once it has seen it, as a user ends one with Ctrl-C; curl's own messages go
# to a file.
CURL_WITH_PID = 'curl() { command curl "$@" 2>>"$CURL_LOG" & echo "$!" >&2; wait "$!"; }\n'


class CurlOutput:
    """What the curl recipe prints, read as the streams it opened, each a list of frames."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None and process.stderr is not None
        self.stdout, self.stderr = process.stdout, process.stderr
        self.lines: list[str] = []

    async def next_curl(self) -> int:
        """Return the process id of the recipe's next curl."""
        async with asyncio.timeout(30):
            return int(await self.stderr.readline())

    def streams(self) -> list[list[dict[str, str]]]:
        """Each stream's complete frames as ``{field: value}``; a ``retry:`` opens a stream."""
        streams: list[list[dict[str, str]]] = []
        frame: dict[str, str] = {}
        for line in self.lines:
            if line == "" and frame:
                if "retry" in frame:
                    streams.append([])
                streams[-1].append(frame)
                frame = {}
            elif line and not line.startswith(":"):
                field, _, value = line.partition(": ")
                frame[field] = value
        return streams

    async def until(self, seen: Callable[[list[list[dict[str, str]]]], bool]) -> None:
        async with asyncio.timeout(30):
            while not seen(self.streams()):
                line = await self.stdout.readline()
                assert line, f"the recipe's output ended early:\n{self.lines}"
                self.lines.append(line.decode().rstrip("\n"))


def shown(event: str, id: str, *, stream: int) -> Callable[[list[list[dict[str, str]]]], bool]:
    """Tell whether the recipe's ``stream``-th stream (0 first) has shown that event."""
    return lambda streams: (
        len(streams) > stream
        and any(f.get("event") == event and f.get("id") == id for f in streams[stream])
    )


def ids(stream: list[dict[str, str]], event: str) -> list[str]:
    return [f["id"] for f in stream if f.get("event") == event]


@sync_to_async
def store(user: Any, count: int) -> None:
    """Store ``count`` notifications for ``user``, numbered from 1 as their ``seq``."""
    for n in range(1, count + 1):
        notify(user, kind="test", title=f"Stored {n}")


async def test_curl_streams_and_resumes_from_the_id_it_names(
    server: Server, user: Any, tmp_path: Path
) -> None:
    await store(user, 44)  # the recipe resumes from 42: two to replay, and one sent live
    script = CURL_WITH_PID + substituted(recipe("clients-curl"), logged_in_as(server, user))
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", script,
        env={**os.environ, "CURL_LOG": str(tmp_path / "curl.log")},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output = CurlOutput(process)
    try:
        await output.next_curl()  # the log-in, which ends by itself
        first = await output.next_curl()
        await output.until(shown("connected", "44", stream=0))
        await publish(server, user.username, "Live")
        await output.until(shown("notification", "45", stream=0))
        os.kill(first, signal.SIGTERM)

        second = await output.next_curl()
        await output.until(shown("notification", "45", stream=1))
        os.kill(second, signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    fresh, resumed = output.streams()
    assert ids(fresh, "connected") == ["44"] and ids(fresh, "notification") == ["45"]
    assert json.loads(fresh[-1]["data"])["title"] == "Live"
    # Resumed from the recipe's Last-Event-ID: 42, everything after it, once each, in order.
    assert ids(resumed, "connected") == ["42"]
    assert ids(resumed, "notification") == ["43", "44", "45"]
