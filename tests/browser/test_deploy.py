"""The deployment of docs/DEPLOY.md, from its very files: Debian's nginx with
``deploy/nginx/shop.conf`` (TLS, HTTP/2) in front of two daphne processes started as
``deploy/systemd/notifications@.service`` starts them, configured by
``deploy/shop.env.example``; real Chromium logs in over https, marks a notification read,
and sees a new one arrive live; one scrape of ``/metrics`` counts both processes' streams.

Only what cannot be the same in a test changes: paths, ports, names, secrets. Each such
value is replaced where the file has it, and a file that no longer has it fails the test,
so the files cannot drift away from what is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import re
import shlex
import shutil
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
from tests.e2e.conftest import ROOT, Server, manage, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
METRICS_TOKEN = "deploy-test-metrics-token"


def replaced(text: str, replacements: dict[str, str], source: str) -> str:
    """Apply each replacement, failing if ``text`` no longer holds what it replaces."""
    for old, new in replacements.items():
        assert old in text, f"{source} no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    return text


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Make a certificate for localhost and 127.0.0.1, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def environment_file(**overrides: str) -> dict[str, str]:
    """``deploy/shop.env.example``, with this machine's values in place of the examples."""
    path = DEPLOY / "shop.env.example"
    values = dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert {k: values[k] for k in ("DEBUG", "HTTPS", "NUM_PROXIES")} == {
        "DEBUG": "0",
        "HTTPS": "1",
        "NUM_PROXIES": "1",
    }, f"{path} no longer describes the production settings this test serves"
    for key in overrides:
        assert key in values, f"{path} no longer sets {key}"
    return {**values, **overrides}


class UnitServer(Server):
    """daphne started with ``ExecStart=`` and ``Environment=`` of the systemd unit."""

    def __init__(self, env: dict[str, str], log: Path, metrics_dir: Path) -> None:
        super().__init__(env, log)
        unit = (DEPLOY / "systemd" / "notifications@.service").read_text().replace("\\\n", " ")
        [exec_start] = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
        [environment] = re.findall(r"^Environment=(.*)$", unit, re.MULTILINE)
        self.command = shlex.split(
            replaced(
                exec_start,
                {"/srv/shop/venv/bin/python": sys.executable, "%i": str(self.port)},
                "unit",
            )
        )
        key, _, value = environment.partition("=")
        self.env = {**env, key: replaced(value, {"/run/shop/metrics": str(metrics_dir)}, "unit")}

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

    def __init__(self, directory: Path, site: Callable[[int], str]) -> None:
        super().__init__()
        self.directory = directory
        self.site = site(self.port)

    def start(self) -> None:
        d = self.directory
        (d / "site.conf").write_text(self.site)
        temp = "\n".join(
            f"    {name}_temp_path {d / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (d / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\npid {d / 'nginx.pid'};\n"
            f"error_log {d / 'error.log'} info;\n"
            "events { worker_connections 1024; }\n"
            "http {\n    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            f"{temp}\n    include {d / 'site.conf'};\n}}\n"
        )
        self.process = subprocess.Popen(
            [NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")],
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


def nginx_site(*, port: int, upstreams: list[int], directory: Path, static_root: Path) -> str:
    cert, key = self_signed_certificate(directory)
    return replaced(
        (DEPLOY / "nginx" / "shop.conf").read_text(),
        {
            "listen 80;": f"listen 127.0.0.1:{free_port()};",
            "listen [::]:80;": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "server_name shop.example.com;": "server_name localhost;",
            "/etc/letsencrypt/live/shop.example.com/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/shop.example.com/privkey.pem": str(key),
            "/var/log/nginx/": f"{directory}/",
            "/srv/shop/staticfiles/": f"{static_root}/",
            "127.0.0.1:8001": f"127.0.0.1:{upstreams[0]}",
            "127.0.0.1:8002": f"127.0.0.1:{upstreams[1]}",
        },
        "deploy/nginx/shop.conf",
    )


@pytest.fixture
def site(
    django_db_setup: None, tmp_path: Path, redis_url: str
) -> Iterator[tuple[Nginx, list[UnitServer]]]:
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed: apt-get install nginx (.ci/run does)")
    static_root, metrics_dir = tmp_path / "static", tmp_path / "metrics"
    metrics_dir.mkdir()
    env = subprocess_env(
        **environment_file(
            DATABASE_URL=subprocess_env()["DATABASE_URL"],
            REDIS_URL=redis_url,
            SECRET_KEY=subprocess_env()["SECRET_KEY"],
            ALLOWED_HOSTS="localhost,127.0.0.1",
            METRICS_TOKEN=METRICS_TOKEN,
            STATIC_ROOT=str(static_root),
        )
    )
    collected = manage("collectstatic", "--no-input", env=env)
    assert collected.returncode == 0, collected.stderr
    logs = iter(range(100))
    with started(
        lambda: UnitServer(env, tmp_path / f"daphne-{next(logs)}.log", metrics_dir)
    ) as start:
        servers = [start(), start()]
        nginx_dir = tmp_path / "nginx"
        nginx_dir.mkdir()

        def conf(port: int) -> str:
            upstreams = [server.port for server in servers]
            return nginx_site(
                port=port, upstreams=upstreams, directory=nginx_dir, static_root=static_root
            )

        with started(lambda: Nginx(nginx_dir, conf)) as start_nginx:
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
        # One scrape through the proxy counts the streams of both processes: the browser's,
        # and one opened on each process directly.
        login = {"username": user.username, "password": PASSWORD}
        token = (await client.post(f"{nginx.url}/api/token/", json=login)).json()["access"]
        async with direct_stream(servers[0], token), direct_stream(servers[1], token):
            await until_open_streams(client, f"{nginx.url}/metrics", 3)
            # Prometheus may scrape a process directly, over plain http: each tells the same.
            for server in servers:
                await until_open_streams(client, f"{server.url}/metrics", 3, Host="127.0.0.1")
        await until_open_streams(client, f"{nginx.url}/metrics", 1)
        text = await scrape(client, f"{nginx.url}/metrics")
        assert re.search(r"^notifications_delivery_seconds_count [1-9]", text, re.MULTILINE)
        assert re.search(r"^notifications_channel_layer_up 1\.0$", text, re.MULTILINE)

        health = await client.get(f"{nginx.url}/healthz")
        assert health.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}
        assert "max-age=31536000" in health.headers["strict-transport-security"]
        # Anything else reached over plain http goes to https.
        plain = await client.get(f"{servers[0].url}/", headers={"Host": "localhost"})
        assert plain.status_code == 301
        assert plain.headers["location"] == "https://localhost/"
        # Static files come from collectstatic's output, served by nginx alone.
        css = await client.get(f"{nginx.url}/static/site.css")
        assert css.status_code == 200 and css.headers["content-type"] == "text/css"
    for server in servers:
        assert "/static/" not in server.output()
    access_log = (nginx.directory / "shop.access.log").read_text()
    # The log format keeps paths without their query strings.
    assert "GET /accounts/login/ HTTP/2.0" in access_log
    assert "next=" not in access_log
