"""The README's recipe, followed as a new user would: build the wheel, install it into a fresh
virtualenv, ``django-admin startproject``, add the README's lines, migrate, serve with daphne,
and use the site: the API with a Bearer token and with the session, streams opened with a
Bearer token and with a ticket, a notification sent from ``manage.py``. Then the README's
options for pages of other origins (CORS, static files), from such a page in Chromium.

Nothing of this repository is on the virtualenv's path: only the wheel and what it depends
on, installed by pip, and the packages the options name. SQLite and the in-memory channel
layer, as a fresh site has them. Every line added to the site is read from the Markdown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, aconnect_sse

from tests.browser import conftest as chromium
from tests.conftest import LocalServer, started, wait_until
from tests.recipes import recipe

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# Copied to build from: everything but what a clean clone does not have.
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "node_modules", "__pycache__", "*.sqlite3*",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", "staticfiles",
)  # fmt: skip
# The README's example origins, and the user the tests sign in as.
EXAMPLE_ORIGIN = "https://www.example.com"
EXAMPLE_SERVER = "https://notify.example.com"
USERNAME, PASSWORD = "ada", "analytical-engine-1843"

# Chromium's fixtures, for the page of another origin.
browser, new_context = chromium.browser, chromium.new_context


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new user's shell: none of the suite's settings or paths."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run(*args: str | Path, cwd: Path, timeout: float = 600, **env: str) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{args} failed:\n{output}"
    return output


def by_file(code: str) -> dict[str, str]:
    """Split the README's recipe into the lines to add, by file name (``# settings.py``)."""
    parts = re.split(r"^# (\w+\.py)\n", code, flags=re.M)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def test_the_readme_recipe_is_the_contracts_three_lines() -> None:
    lines = by_file(recipe("embed-site"))
    assert lines["settings.py"].strip() == ('INSTALLED_APPS += ["rest_framework", "notifications"]')
    assert 'urlpatterns += [path("", include("notifications.urls"))]' in lines["urls.py"]
    assert "application = with_lean_stream(get_asgi_application())" in lines["asgi.py"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Build the wheel from a copy of the repository; return it and the build's output."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    output = run(
        sys.executable, "-m", "build", "--wheel", "--outdir", tmp / "dist", source, cwd=tmp
    )
    (built,) = (tmp / "dist").glob("*.whl")
    return built, output


def test_the_wheel_holds_the_app_alone(wheel: tuple[Path, str]) -> None:
    built, output = wheel
    assert built.name == "django_live_notifications-0.2.0-py3-none-any.whl"
    names = zipfile.ZipFile(built).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"notifications", "django_live_notifications-0.2.0.dist-info"}
    for path in (
        "notifications/migrations/0001_initial.py",
        "notifications/static/notifications/client.js",
        "notifications/static/notifications/react.js",
        "notifications/templates/admin/notifications/send.html",
        "notifications/management/commands/send_notification.py",
        "notifications/locale/de/LC_MESSAGES/django.mo",
        "notifications/locale/ar/LC_MESSAGES/django.mo",
        "django_live_notifications-0.2.0.dist-info/licenses/LICENSE",
    ):
        assert path in names
    assert not any("create_demo_data" in name for name in names), "demo passwords shipped"
    # pip's notes about this machine's package index locations are not the build's.
    warnings = [
        line
        for line in output.splitlines()
        if re.search(r"(?i)warn", line) and "Location 'file:" not in line
        and "byte-compiling is disabled" not in line
    ]  # fmt: skip
    assert not warnings, "\n".join(warnings)


def test_the_wheel_depends_on_what_the_app_imports(wheel: tuple[Path, str]) -> None:
    built, _ = wheel
    metadata = (
        zipfile.ZipFile(built).read("django_live_notifications-0.2.0.dist-info/METADATA").decode()
    )
    assert "License-Expression: MIT" in metadata
    required = {
        re.split(r"[<>=\[;]", line.removeprefix("Requires-Dist: "))[0]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert required == {
        "Django",
        "channels",
        "daphne",
        "djangorestframework",
        "djangorestframework-simplejwt",
        "drf-spectacular",
        # The app imports Twisted itself (daphne's request class, the slow-client bound).
        "Twisted",
    }
    extras = set(re.findall(r"^Provides-Extra: (\S+)", metadata, re.M))
    assert {"redis", "postgres", "metrics"} <= extras


def pip_install(venv: Path, line: str, instead: dict[str, str] | None = None) -> None:
    """Run a README line ``pip install ...`` with the virtualenv's pip, installing
    ``instead[name]`` in place of a package ``name`` (the wheel built here)."""
    command = shlex.split(line)
    assert command[:2] == ["pip", "install"], f"not a pip install line: {line!r}"
    packages = [(instead or {}).get(name, name) for name in command[2:]]
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", *packages, cwd=venv)


def option(code: str) -> tuple[str, str]:
    """Return the ``pip install`` line (its first comment) and the settings of an option."""
    first, _, settings = code.partition("\n")
    match = re.fullmatch(r"# (pip install [^,]+), then at the end of settings\.py:", first)
    assert match, f"an option no longer starts with its pip install line: {first!r}"
    return match.group(1), settings


@dataclass
class Site:
    """A site made by ``django-admin startproject`` in a virtualenv holding only the wheel."""

    venv: Path
    path: Path

    def manage(self, *args: str, settings: str = "mysite.settings") -> str:
        python = self.venv / "bin" / "python"
        return run(python, "manage.py", *args, cwd=self.path, DJANGO_SETTINGS_MODULE=settings)

    def session(self, username: str) -> str:
        """Log ``username`` in, as the site's log-in page would; return the session cookie."""
        output = self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from django.test import Client; "
            "client = Client(); "
            f"client.force_login(get_user_model().objects.get(username={username!r})); "
            "print('session=' + client.cookies['sessionid'].value)",
        )
        found = re.search(r"^session=(\w+)$", output, re.M)
        assert found, output
        return found.group(1)


@pytest.fixture(scope="module")
def site(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Site:
    tmp = tmp_path_factory.mktemp("site")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp)
    pip_install(venv, recipe("embed-install"), {"django-live-notifications": str(wheel[0])})
    (tmp / "mysite").mkdir()
    run(venv / "bin" / "django-admin", "startproject", "mysite", tmp / "mysite", cwd=tmp)
    site = Site(venv, tmp / "mysite")
    for name, lines in by_file(recipe("embed-site")).items():
        with (site.path / "mysite" / name).open("a") as f:
            f.write("\n" + lines)
    site.manage("migrate", "--no-input")
    site.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user({USERNAME!r}, password={PASSWORD!r})",
    )
    return site


class PageServer(LocalServer):
    """Pages of another origin: Python's own file server, on another port."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.listening, process=self.process, seconds=30)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    with started(lambda: PageServer(tmp_path_factory.mktemp("pages"))) as start:
        yield start()


@pytest.fixture(scope="module")
def options(site: Site, pages: PageServer) -> str:
    """Add the README's CORS and static files options to the site, with the origin of
    ``pages`` allowed, as a settings module of their own; return its name."""
    lines = ["from .settings import *  # noqa: F403\n"]
    for code in (recipe("embed-cors"), recipe("embed-static")):
        install, settings = option(code)
        pip_install(site.venv, install)
        lines.append(settings)
    settings = "\n".join(lines)
    assert EXAMPLE_ORIGIN in settings, "the CORS option no longer names the example origin"
    (site.path / "mysite" / "options.py").write_text(settings.replace(EXAMPLE_ORIGIN, pages.origin))
    return "mysite.options"


class Daphne(LocalServer):
    def __init__(self, site: Site, settings: str = "mysite.settings") -> None:
        super().__init__()
        self.site = site
        self.settings = settings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        daphne = self.site.venv / "bin" / "daphne"
        args = [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), "mysite.asgi:application"]
        self.process = subprocess.Popen(
            args,
            cwd=self.site.path,
            env=clean_env(DJANGO_SETTINGS_MODULE=self.settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, process=self.process, seconds=60)

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/events/", timeout=2).status_code == 401
        except httpx.TransportError:
            return False


@pytest.fixture
def daphne(site: Site) -> Iterator[Daphne]:
    """The site as the README's three lines make it, served by daphne."""
    with started(lambda: Daphne(site)) as start:
        yield start()


@pytest.fixture
def daphne_with_options(site: Site, options: str) -> Iterator[Daphne]:
    """The same site with the README's CORS and static files options."""
    with started(lambda: Daphne(site, options)) as start:
        yield start()


def http(server: Daphne) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(10, read=30))


async def access_token(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/token/", json={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200, response.text
    access: str = response.json()["access"]
    return access


async def next_event(events: AsyncIterator[Any], name: str) -> Any:
    """Return the next event called ``name``, past heartbeats and others."""
    async for event in events:
        if event.event == name:
            return event
    raise AssertionError(f"the stream ended before an event {name!r}")


async def test_a_bearer_token_calls_the_api_and_opens_streams_itself_or_with_a_ticket(
    site: Site, daphne: Daphne
) -> None:
    async with http(daphne) as client, asyncio.timeout(120):
        bearer = {"Authorization": f"Bearer {await access_token(client)}"}
        count = await client.get("/api/notifications/unread-count/", headers=bearer)
        assert count.status_code == 200, count.text
        unread = count.json()["unread_count"]
        minted = await client.post("/api/events/ticket/", headers=bearer)
        assert minted.status_code == 200, minted.text
        ticket = minted.json()["ticket"]
        assert minted.json()["expires_in"] == 60
        # A ticket opens streams and nothing else.
        refused = await client.get(
            "/api/notifications/unread-count/", headers={"Authorization": f"Bearer {ticket}"}
        )
        assert refused.status_code == 401
        async with (
            # (a copy: aconnect_sse adds its Accept header to the dict it is given)
            aconnect_sse(client, "GET", "/api/events/", headers={**bearer}) as by_header,
            aconnect_sse(client, "GET", "/api/events/", params={"token": ticket}) as by_ticket,
        ):
            sources: list[EventSource] = [by_header, by_ticket]
            assert [source.response.status_code for source in sources] == [200, 200]
            streams = [source.aiter_sse() for source in sources]
            connected = [await next_event(events, "connected") for events in streams]
            (last_seq,) = {json.loads(event.data)["last_seq"] for event in connected}
            sent = await asyncio.to_thread(
                site.manage, "send_notification", "--user", USERNAME, "--title", "Embedded"
            )
            assert "Stored 1 notification." in sent
            for events in streams:
                event = await next_event(events, "notification")
                assert event.id == str(last_seq + 1)
                assert json.loads(event.data)["title"] == "Embedded"
        count = await client.get("/api/notifications/unread-count/", headers=bearer)
        assert count.json() == {"unread_count": unread + 1, "by_category": {}}
        listed = await client.get("/api/notifications/", headers=bearer)
        assert listed.status_code == 200, listed.text
        newest = listed.json()["results"][0]
        assert (newest["seq"], newest["title"], newest["read"]) == (last_seq + 1, "Embedded", False)


async def test_the_session_reads_and_writes_with_the_csrf_token_and_nobody_else_does(
    site: Site, daphne: Daphne
) -> None:
    session = await asyncio.to_thread(site.session, USERNAME)
    async with http(daphne) as client, asyncio.timeout(60):
        anonymous = await client.get("/api/notifications/unread-count/")
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        client.cookies.set("sessionid", session)
        assert (await client.get("/api/notifications/unread-count/")).status_code == 200
        forged = await client.post("/api/notifications/read-all/")
        assert forged.status_code == 403
        assert "CSRF" in forged.json()["detail"]
        secret = "k" * 32
        client.cookies.set("csrftoken", secret)
        written = await client.post("/api/notifications/read-all/", headers={"X-CSRFToken": secret})
        assert written.status_code == 200, written.text
        assert written.json()["unread_count"] == 0


async def test_static_files_are_a_404_under_daphne_until_the_readmes_option_serves_them(
    site: Site, options: str, daphne: Daphne, daphne_with_options: Daphne
) -> None:
    path = "/static/notifications/client.js"
    (installed,) = site.venv.glob("lib/python*/site-packages/notifications" + path)
    async with asyncio.timeout(60):
        async with http(daphne) as client:
            assert (await client.get(path)).status_code == 404
        async with http(daphne_with_options) as client:
            served = await client.get(path)
    assert served.status_code == 200
    assert served.content == installed.read_bytes()
    assert served.headers["Content-Type"].startswith("text/javascript")
    # What a page of another origin needs to import it.
    assert served.headers["Access-Control-Allow-Origin"] == "*"
    collected = site.manage("collectstatic", "--no-input", settings=options)
    found = re.search(r"copied to '([^']+)'", collected)
    assert found, collected
    assert (Path(found.group(1)) / "notifications" / "client.js").read_bytes() == (
        installed.read_bytes()
    )


# A page of another origin: the recipe of docs/BROWSER.md, with what it leaves to "your
# code" (a token, the user's id, a toast), and handles for the test to watch it.
PAGE = """<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>A page of another origin</title>
<script>
  window.toasts = [];
  window.mySite = { userId: USER_ID, freshAccessToken: async () => ACCESS };
  window.showToast = (title, url) => window.toasts.push({ title, url });
</script>
<script type="module">
RECIPE
client.on("status", (status) => (window.streamStatus = status));
window.api = api;
</script>
"""


def user_id(access: str) -> int:
    """Read the user's id from a simplejwt access token (its payload is plain base64)."""
    payload = access.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["user_id"])


async def until(page: Any, condition: str, errors: list[str]) -> None:
    """Wait until ``condition`` holds in the page; if it never does, say what the page said."""
    try:
        await page.wait_for_function(condition)
    except chromium.async_api.TimeoutError as e:
        raise AssertionError(f"{condition} never held; the page reported {errors}") from e


@pytest.mark.browser
async def test_a_page_of_another_origin_imports_client_js_calls_the_api_and_hears_live(
    site: Site, options: str, daphne_with_options: Daphne, pages: PageServer, new_context: Any
) -> None:
    server = daphne_with_options
    async with http(server) as client:
        access = await access_token(client)
    code = recipe("embed-another-origin")
    assert EXAMPLE_SERVER in code, "the recipe no longer names the example server"
    page_text = (
        PAGE.replace("USER_ID", str(user_id(access)))
        .replace("ACCESS", json.dumps(access))
        .replace("RECIPE", code.replace(EXAMPLE_SERVER, server.url))
    )
    (pages.directory / "another-origin.html").write_text(page_text)
    context = await new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    async with asyncio.timeout(120):
        await page.goto(f"{pages.origin}/another-origin.html")
        await until(page, "window.streamStatus === 'live'", errors)
        unread = await page.evaluate("api.unreadCount()")
        sent = await asyncio.to_thread(
            site.manage,
            "send_notification", "--user", USERNAME, "--title", "Across origins",
            "--url", "/orders/7/",
            settings=options,
        )  # fmt: skip
        assert "Stored 1 notification." in sent
        await until(page, "window.toasts.length > 0", errors)
        assert await page.evaluate("window.toasts") == [
            {"title": "Across origins", "url": "/orders/7/"}
        ]
        assert await page.evaluate("api.unreadCount()") == unread + 1
        newest = (await page.evaluate("api.list()"))["results"][0]
        assert newest["title"] == "Across origins"
        marked = await page.evaluate("(id) => api.markRead(id)", newest["id"])
        assert marked == {"ids": [newest["id"]], "unread_count": unread}
    assert f"{server.url}/static/notifications/client.js" in requested
    # The access token never went into a URL: the stream was opened with a ticket.
    streams = [url for url in requested if url.startswith(f"{server.url}/api/events/?")]
    assert streams and all("token=" in url and access not in url for url in streams)
    assert errors == []
