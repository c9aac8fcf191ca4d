"""The deployment of docs/DEPLOY.md, from its very files: Debian's nginx with
``deploy/nginx/shop.conf`` (TLS, HTTP/2) in front of two daphne processes started as
``deploy/systemd/notifications@.service`` starts them, configured by
``deploy/shop.env.example``; real Chromium logs in over https, marks a notification read,
and sees a new one arrive live; one scrape of a process's ``/metrics`` counts both
processes' streams, and the public origin does not serve it.

https is served on a port other than 443, so that every redirect to it must keep the port.
Only what cannot be the same in a test changes (``tests/deployment.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from prometheus_client.parser import text_string_to_metric_families

from notifications import selectors
from tests.browser.conftest import expect, wait_live
from tests.conftest import PASSWORD, LocalServer, free_port, started, wait_until
from tests.deployment import (
    DEPLOY,
    NGINX,
    environment,
    nginx_main,
    nginx_site,
    unit_command,
)
from tests.e2e.conftest import ROOT, Server, manage, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

METRICS_TOKEN = "deploy-test-metrics-token"


def environment_file(**overrides: str) -> dict[str, str]:
    """``deploy/shop.env.example``, with this machine's values in place of the examples."""
    path = DEPLOY / "shop.env.example"
    values = environment(path.read_text())
    assert {k: values[k] for k in ("DEBUG", "HTTPS", "NUM_PROXIES")} == {
        "DEBUG": "0",
        "HTTPS": "1",
        "NUM_PROXIES": "1",
    }, f"{path} no longer describes the production settings this test serves"
    for key in overrides:
        assert key in values, f"{path} no longer sets {key}"
    return {**values, **overrides}


class UnitServer(Server):
    """daphne started with the systemd unit's ``ExecStart=``, in this checkout."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(env, log)
        unit = (DEPLOY / "systemd" / "notifications@.service").read_text()
        command, directory, env_file = unit_command(unit, str(self.port))
        assert (command[0], directory, env_file) == (
            "/srv/shop/venv/bin/python",
            Path("/srv/shop/app"),
            Path("/etc/shop/env"),
        ), "the unit runs something else than this test: update it"
        self.command = [sys.executable, *command[1:]]

    def start(self) -> None:
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(self.listening, process=self.process, seconds=30)
        except RuntimeError as e:
            raise RuntimeError(f"daphne did not start:\n{self.output()}") from e


class Nginx(LocalServer):
    """Debian's nginx as this test's own process: its own prefix, configuration and logs."""

    def __init__(self, directory: Path, site: str, port: int, http_port: int) -> None:
        super().__init__()
        self.directory, self.site = directory, site
        self.port, self.http_port = port, http_port

    def start(self) -> None:
        d = self.directory
        (d / "site.conf").write_text(self.site)
        conf = nginx_main(d, str(d / "site.conf"))
        self.process = subprocess.Popen(
            [NGINX, "-p", str(d), "-c", str(conf), "-e", str(d / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(self.listening, process=self.process, seconds=20)
        except RuntimeError as e:
            log = (
                (d / "error.log").read_text(errors="replace") if (d / "error.log").exists() else ""
            )
            raise RuntimeError(f"nginx did not start:\n{log}") from e

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"


@pytest.fixture
def site(
    django_db_setup: None, tmp_path: Path, redis_url: str
) -> Iterator[tuple[Nginx, list[UnitServer]]]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed: apt-get install nginx (.ci/run does)")
    static_root, metrics_dir = tmp_path / "static", tmp_path / "metrics"
    https_port, http_port = free_port(), free_port()
    env = subprocess_env(
        **environment_file(
            DATABASE_URL=subprocess_env()["DATABASE_URL"],
            REDIS_URL=redis_url,
            SECRET_KEY=subprocess_env()["SECRET_KEY"],
            ALLOWED_HOSTS="localhost,127.0.0.1",
            SITE_URL=f"https://localhost:{https_port}",
            METRICS_TOKEN=METRICS_TOKEN,
            STATIC_ROOT=str(static_root),
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
    )
    collected = manage("collectstatic", "--no-input", env=env)
    assert collected.returncode == 0, collected.stderr
    logs = iter(range(100))
    with started(lambda: UnitServer(env, tmp_path / f"daphne-{next(logs)}.log")) as start:
        servers = [start(), start()]
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()
        conf = nginx_site(
            (DEPLOY / "nginx" / "shop.conf").read_text(),
            directory=nginx_dir,
            https_port=https_port,
            http_port=http_port,
            upstreams=[server.port for server in servers],
            static_root=static_root,
        )
        with started(lambda: Nginx(nginx_dir, conf, https_port, http_port)) as start_nginx:
            yield start_nginx(), servers


def open_streams(samples: str) -> float:
    for family in text_string_to_metric_families(samples):
        for sample in family.samples:
            if sample.name == "notifications_streams_open":
                return sample.value
    return 0.0


async def scrape(client: httpx.AsyncClient, url: str, **headers: str) -> str:
    response = await client.get(
        url, headers={"Authorization": f"Bearer {METRICS_TOKEN}", **headers}
    )
    assert response.status_code == 200, response.text
    return response.text


@contextlib.asynccontextmanager
async def direct_stream(server: Server, token: str) -> AsyncIterator[None]:
    """A stream opened on ``server`` itself, as nginx would forward it."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Host": "localhost",
        "X-Forwarded-Proto": "https",
    }
    url = f"{server.url}/api/events/"
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client,
        client.stream("GET", url, headers=headers) as response,
    ):
        assert response.status_code == 200
        # One iterator, kept: dropping one closes the response (and the stream with it).
        chunks = response.aiter_bytes()
        while b"event: connected" not in await anext(chunks):
            pass
        yield
        await chunks.aclose()


async def until_open_streams(
    client: httpx.AsyncClient, url: str, count: int, **headers: str
) -> None:
    async with asyncio.timeout(20):
        while open_streams(await scrape(client, url, **headers)) != count:
            await asyncio.sleep(0.2)


async def check_metrics(
    client: httpx.AsyncClient, nginx: Nginx, servers: list[UnitServer], user: Any
) -> None:
    """Prometheus scrapes a process directly, over plain http, and one scrape counts the
    streams of both processes: the browser's, and one opened on each process directly. The
    public origin does not serve the figures, whoever asks and however."""
    login = {"username": user.username, "password": PASSWORD}
    token = (await client.post(f"{nginx.url}/api/token/", json=login)).json()["access"]
    direct = {"Host": "127.0.0.1"}
    async with direct_stream(servers[0], token), direct_stream(servers[1], token):
        for server in servers:
            await until_open_streams(client, f"{server.url}/metrics", 3, **direct)
    await until_open_streams(client, f"{servers[1].url}/metrics", 1, **direct)
    text = await scrape(client, f"{servers[1].url}/metrics", **direct)
    assert re.search(r"^notifications_delivery_seconds_count [1-9]", text, re.MULTILINE)
    assert re.search(r"^notifications_channel_layer_up 1\.0$", text, re.MULTILINE)
    for path in ("/metrics", "//metrics", "/%6Detrics", "/metrics?format=text"):
        public = await client.get(
            f"{nginx.url}{path}", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert public.status_code == 404, path


async def check_https(client: httpx.AsyncClient, nginx: Nginx, servers: list[UnitServer]) -> None:
    """HSTS as configured, and plain http sent to https with its port (not 443 here), from
    nginx's port 80 and from Django, for a request that reaches a process over plain http."""
    health = await client.get(f"{nginx.url}/healthz")
    assert health.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}
    assert health.headers["strict-transport-security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    http_host = {"Host": f"localhost:{nginx.http_port}"}
    plain = await client.get(
        f"http://127.0.0.1:{nginx.http_port}/accounts/login/?next=/", headers=http_host
    )
    assert plain.status_code == 301
    assert plain.headers["location"] == f"{nginx.url}/accounts/login/?next=/"
    plain = await client.get(f"{servers[0].url}/inbox/?page=2", headers=http_host)
    assert plain.status_code == 301
    assert plain.headers["location"] == f"{nginx.url}/inbox/?page=2"


async def test_the_documented_deployment_works_through_nginx_with_tls_and_http2(
    site: tuple[Nginx, list[UnitServer]],
    user: Any,
    new_context: Callable[..., Any],
    publish_to: Any,
) -> None:
    nginx, servers = site
    notify = publish_to(servers[0])
    await notify(user, kind="order.placed", title="Order #7 placed")

    # Logging in is a session POST: the CSRF origin check passes through the proxy.
    context = await new_context(ignore_https_errors=True)
    page = await context.new_page()
    await page.goto(f"{nginx.url}/")
    await expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    await page.get_by_label("Username").fill(user.username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{nginx.url}/")
    protocol = "performance.getEntriesByType('navigation')[0].nextHopProtocol"
    assert await page.evaluate(protocol) == "h2"
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["sessionid"]["secure"] and cookies["csrftoken"]["secure"]
    await wait_live(page)

    # Marking read is a session POST to the API through the proxy.
    item = page.locator("#list .item", has_text="Order #7 placed")
    await item.get_by_role("button", name="Mark “Order #7 placed” read").click()
    await expect(item).not_to_have_class(re.compile(r"\bunread\b"))
    await expect(page.locator("#badge")).to_be_hidden()
    async with asyncio.timeout(10):  # the page shows it before the server answers
        while await sync_to_async(selectors.unread_count)(user.pk) != 0:
            await asyncio.sleep(0.1)

    # A new one arrives live, through nginx's unbuffered stream.
    await notify(user, kind="order.shipped", title="Order #7 shipped")
    await expect(page.locator("#toasts .toast", has_text="Order #7 shipped")).to_be_visible()
    await expect(page.locator("#badge")).to_have_text("1")

    async with httpx.AsyncClient(verify=False, timeout=10) as client:
        await check_metrics(client, nginx, servers, user)
        await check_https(client, nginx, servers)
        # Static files come from collectstatic's output, served by nginx alone.
        css = await client.get(f"{nginx.url}/static/site.css")
        assert css.status_code == 200 and css.headers["content-type"] == "text/css"
    for server in servers:
        assert "/static/" not in server.output()
    access_log = (nginx.directory / "shop.access.log").read_text()
    # The log format keeps paths without their query strings.
    assert "GET /accounts/login/ HTTP/2.0" in access_log
    assert "next=" not in access_log
