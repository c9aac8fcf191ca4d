"""Real servers for end-to-end tests: daphne in a subprocess on a free loopback port,
sharing the test database, plus publishers in other processes."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import CHANNELS_PREFIX, REDIS_PREFIX, LocalServer, started, wait_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def database_url() -> str:
    """The URL of the test database this process uses, for the subprocesses to share."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def _this_test() -> str:
    """Name the running test briefly: its servers keep their Redis keys (slots, throttle
    counts) apart from other tests', which would otherwise throttle or limit its requests."""
    node = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    return hashlib.sha1(node.encode()).hexdigest()[:8]


def subprocess_env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DATABASE_URL": database_url(),
            "PYTHONUNBUFFERED": "1",
            "DEBUG": "0",
            # The test process's key: tokens it mints open the servers' streams.
            "SECRET_KEY": settings.SECRET_KEY,
            "CHANNELS_PREFIX": CHANNELS_PREFIX,
            "NOTIFICATIONS_REDIS_PREFIX": f"{REDIS_PREFIX}-{_this_test()}",
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# How a server is started: the project's own command line (daphne's, with its additions),
# or daphne's own, as a site that embeds the app may serve it.
SERVE = [sys.executable, "-m", "notifications.serve"]
DAPHNE = [sys.executable, "-m", "daphne"]
# Another ASGI server: uvicorn's command line, with its access log off (it would print stream
# tokens of ``?token=``).
UVICORN = [sys.executable, "-m", "uvicorn", "--no-access-log"]


class Server(LocalServer):
    """A daphne process serving the project."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        command: list[str] = SERVE,
        application: str = "project.asgi:application",
    ) -> None:
        super().__init__()
        self.env = env
        self.log_path = log
        self.command = command
        self.application = application

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = self.log_path.open("ab")
        if self.command == UVICORN:
            where = ["--host", "127.0.0.1", "--port", str(self.port), "--backlog", "1024"]
        else:
            where = ["-v", "1", "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog=1024"]
        self.process = subprocess.Popen(
            [*self.command, *where, self.application],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until(self.listening, process=self.process, seconds=30)
        except RuntimeError as e:
            raise RuntimeError(f"the server did not start:\n{self.output()}") from e

    def stop(self) -> None:
        if self.process is not None:
            super().stop()
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def start_server(
    django_db_setup: None, tmp_path: Path, redis_url: str
) -> Iterator[Callable[..., Server]]:
    """Start daphne servers: ``start_server(REDIS_URL=None)`` runs the embedded default,
    ``start_server(command=DAPHNE)`` daphne's own command line (``UVICORN``: uvicorn's),
    ``application=`` another ASGI application than the project's."""
    logs = (tmp_path / f"daphne-{n}.log" for n in itertools.count())

    def make(
        command: list[str] = SERVE,
        application: str = "project.asgi:application",
        **env: str | None,
    ) -> Server:
        defaults = {"REDIS_URL": redis_url, "NOTIFICATIONS_HEARTBEAT_SECONDS": "1"}
        return Server(subprocess_env(**{**defaults, **env}), next(logs), command, application)

    with started(make) as start:
        yield start


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in another process, against the test database."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env or subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def send(server: Server, username: str, title: str, **options: str) -> str:
    """Publish from another process with the operators' command, configured as ``server``."""
    args = ["send_notification", "--user", username, "--title", title]
    for key, value in options.items():
        args += [f"--{key}", value]
    result = manage(*args, env=server.env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def client(server: Server, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=30), **kwargs)
