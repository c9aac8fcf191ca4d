"""The README's recipe, followed as a new user would: build the wheel, install it into a fresh
virtualenv, ``django-admin startproject``, add the README's lines, migrate, serve with daphne,
get a JWT, open a stream, send from ``manage.py`` and see it arrive.

Nothing of this repository is on the virtualenv's path: only the wheel and what it depends
on, installed by pip. SQLite and the in-memory channel layer, as a fresh site has them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.conftest import LocalServer, started, wait_until

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# Copied to build from: everything but what a clean clone does not have.
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "node_modules", "__pycache__", "*.sqlite3*"
)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new user's shell: none of the suite's settings or paths."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run(*args: str | Path, cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{args} failed:\n{output}"
    return output


def recipe() -> dict[str, str]:
    """Return the README's recipe: the lines to add, by file name."""
    section = README.split("## Add it to your site", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "the README's section has no python block"
    parts = re.split(r"^# (\w+\.py)\n", code.group(1), flags=re.M)[1:]
    return dict(zip(parts[::2], parts[1::2], strict=True))


def test_the_readme_recipe_is_the_contracts_three_lines() -> None:
    lines = recipe()
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
        "notifications/templates/admin/notifications/send.html",
        "notifications/management/commands/send_notification.py",
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
    }
    extras = set(re.findall(r"^Provides-Extra: (\S+)", metadata, re.M))
    assert {"redis", "postgres", "metrics"} <= extras


@dataclass
class Site:
    """A site made by ``django-admin startproject`` in a virtualenv holding only the wheel."""

    venv: Path
    path: Path

    def manage(self, *args: str) -> str:
        return run(self.venv / "bin" / "python", "manage.py", *args, cwd=self.path)


@pytest.fixture(scope="module")
def site(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Site:
    tmp = tmp_path_factory.mktemp("site")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel[0], cwd=tmp)
    (tmp / "mysite").mkdir()
    run(venv / "bin" / "django-admin", "startproject", "mysite", tmp / "mysite", cwd=tmp)
    site = Site(venv, tmp / "mysite")
    for name, lines in recipe().items():
        with (site.path / "mysite" / name).open("a") as f:
            f.write("\n" + lines)
    site.manage("migrate", "--no-input")
    site.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('ada', password='analytical-engine-1843')",
    )
    return site


class Daphne(LocalServer):
    def __init__(self, site: Site) -> None:
        super().__init__()
        self.site = site

    def start(self) -> None:
        daphne = self.site.venv / "bin" / "daphne"
        args = [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), "mysite.asgi:application"]
        self.process = subprocess.Popen(
            args,
            cwd=self.site.path,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, process=self.process, seconds=60)

    def answers(self) -> bool:
        try:
            return (
                httpx.get(f"http://127.0.0.1:{self.port}/api/events/", timeout=2).status_code == 401
            )
        except httpx.TransportError:
            return False


@pytest.fixture
def daphne(site: Site) -> Iterator[Daphne]:
    with started(lambda: Daphne(site)) as start:
        server = start()
        yield server


async def test_a_notification_sent_from_manage_py_reaches_a_bearer_stream(
    site: Site, daphne: Daphne
) -> None:
    base = f"http://127.0.0.1:{daphne.port}"
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=30)) as http:
        token = await http.post(
            "/api/token/", json={"username": "ada", "password": "analytical-engine-1843"}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access']}"}
        async with (
            asyncio.timeout(60),
            aconnect_sse(http, "GET", "/api/events/", headers=headers) as source,
        ):
            assert source.response.status_code == 200
            events = source.aiter_sse()
            connected = await anext(events)
            assert connected.event == "connected"
            assert json.loads(connected.data)["last_seq"] == 0
            sent = await asyncio.to_thread(
                site.manage, "send_notification", "--user", "ada", "--title", "Embedded"
            )
            assert "1" in sent
            event = await anext(events)
            while event.event != "notification":
                event = await anext(events)
            assert event.id == "1"
            assert json.loads(event.data)["title"] == "Embedded"
