"""Fixtures shared by the whole suite: users, a real Redis, and per-run isolation."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from django.conf import settings as django_settings

RUN_ID = uuid.uuid4().hex[:8]
PASSWORD = "correct-horse-battery-staple"
# Everything this run writes to a shared Redis is prefixed with the run's id, so that other
# runs (or a benchmark) using the same Redis never ring this run's streams or take its slots.
CHANNELS_PREFIX = f"asgi-test-{RUN_ID}"
REDIS_PREFIX = f"test-{RUN_ID}"
_layer_config = django_settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
if "prefix" in _layer_config:
    _layer_config["prefix"] = CHANNELS_PREFIX
if "KEY_PREFIX" in django_settings.CACHES["default"]:
    django_settings.CACHES["default"]["KEY_PREFIX"] = REDIS_PREFIX


def clear_cache() -> None:
    """Forget this run's cached counts (throttles), and only this run's: a Redis cache is
    shared with other runs, and clearing it would flush theirs too."""
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        cache.clear()
        return
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=f"{cache.key_prefix}:*"))
    if keys:
        client.delete(*keys)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool], *, process: subprocess.Popen[bytes], seconds: float
) -> None:
    """Poll ``ready`` until it is true; fail if ``process`` exits or time runs out first."""
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args[0]} did not start")
        time.sleep(0.05)


class LocalServer:
    """A server process on a free loopback port, which a test may stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def listening(self) -> bool:
        """Tell whether something accepts connections on the server's port."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


S = TypeVar("S", bound=LocalServer)


@contextlib.contextmanager
def started(make: Callable[..., S]) -> Iterator[Callable[..., S]]:
    """Yield ``start(...)``, which starts ``make(...)``'s server; stop them all on exit."""
    servers: list[S] = []

    def start(*args: Any, **kwargs: Any) -> S:
        server = make(*args, **kwargs)
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


class RedisServer(LocalServer):
    """A private redis-server."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: redis_answers(self.port), process=self.process, seconds=10)

    def freeze(self) -> None:
        """Stop the process without ending it: the kernel still accepts connections and
        takes what clients send, and nothing answers (a Redis that hangs)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None:
            self.thaw()  # A stopped process would not act on SIGTERM.
        super().stop()


@pytest.fixture(scope="session")
def redis_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Start private redis-servers; skip when redis-server is not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    with started(lambda: RedisServer(tmp_path_factory.mktemp("redis"))) as start:
        yield start


@pytest.fixture(scope="session")
def redis_url(redis_server_factory: object) -> str:
    """A Redis to use: ``REDIS_URL`` when set (CI), else a private redis-server."""
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    return redis_server_factory().url  # type: ignore[operator]


@pytest.fixture(autouse=True)
def _isolated_redis_keys(settings: object) -> None:
    """Give every test run its own Redis key prefix, so runs never share connection slots."""
    settings.NOTIFICATIONS = {  # type: ignore[attr-defined]
        **django_settings.NOTIFICATIONS,
        "REDIS_PREFIX": REDIS_PREFIX,
    }


@pytest.fixture(autouse=True)
def _fresh_channel_layer() -> Iterator[None]:
    """Give each test its own channel layer: channels-redis keeps asyncio locks bound to the
    event loop that made them, and each async test runs in a loop of its own."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Have every async test close its loop's PostgreSQL pool before the loop ends."""
    for item in items:
        if pytest_asyncio.is_async_test(item):
            item.fixturenames.append("_close_loop_pool")  # type: ignore[attr-defined]


@pytest.fixture
async def _close_loop_pool() -> AsyncIterator[None]:
    """Close the pool an async test's streams opened, while its loop still runs
    (``notifications.stream.pg.close`` says why it must be then)."""
    yield
    from notifications.stream import pg

    await pg.close()


@pytest.fixture(scope="session", autouse=True)
def _close_async_connections(django_db_setup: None, django_db_blocker: object) -> Iterator[None]:
    """Close what async tests left open on asgiref's sync thread, and the async pools of
    their loops (``notifications.stream.pg``), before the test database is dropped (PostgreSQL
    refuses to drop a database that is in use)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from notifications.stream import pg

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
    pg.close_now()


@pytest.fixture
def make_user(django_user_model: type) -> object:
    """Create users with a known password: ``make_user("alice", is_staff=True)``."""

    def make(username: str, **fields: object) -> object:
        return django_user_model.objects.create_user(
            username=username, password=PASSWORD, email=f"{username}@example.com", **fields
        )

    return make


@pytest.fixture
def user(make_user: object) -> object:
    return make_user("alice")  # type: ignore[operator]


@pytest.fixture
def other_user(make_user: object) -> object:
    return make_user("bob")  # type: ignore[operator]


@pytest.fixture
def staff_user(make_user: object) -> object:
    return make_user("staff", is_staff=True, is_superuser=True)  # type: ignore[operator]
