"""The README is the newcomer's map: it must name every setting and command there is, and
what it tells to run must run. Its blocks are taken from the Markdown (``tests.recipes``) and
run as written, with only paths, ports and secrets replaced: the demo's ``make run`` and the
command that rings alice's bell, the Python examples, the operator commands, the cron line and
the systemd units. (``tests/test_embedding.py`` runs *Add it to your site*.)"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand
from httpx_sse import aconnect_sse

from notifications.conf import DEFAULTS
from notifications.models import Notification
from notifications.preferences import choices_for
from notifications.services import notify
from project.orders.models import Order
from tests.conftest import LocalServer, started, wait_until
from tests.deployment import DEPLOY, environment, replaced, unit_command, with_values
from tests.e2e.conftest import database_url
from tests.recipes import recipe, shell_commands
from tests.test_embedding import IGNORED, clean_env, next_event

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_app_setting_is_documented(key: str) -> None:
    assert f"`{key}`" in README


@pytest.mark.parametrize(
    "variable",
    [
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CORS_ALLOWED_ORIGINS",
        "NOTIFICATIONS_HEARTBEAT_SECONDS",
        "NOTIFICATIONS_MAX_CONNECTIONS_PER_USER",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_HOST_PASSWORD",
        "EMAIL_USE_TLS",
        "DEFAULT_FROM_EMAIL",
        "SITE_URL",
        "CSRF_TRUSTED_ORIGINS",
        "NUM_PROXIES",
        "HTTPS",
        "METRICS_TOKEN",
        "PROMETHEUS_MULTIPROC_DIR",
        "STATIC_ROOT",
    ],
)
def test_every_environment_variable_is_documented(variable: str) -> None:
    assert f"`{variable}`" in README
    assert variable in (ROOT / "project" / "settings.py").read_text()


def test_every_command_is_documented() -> None:
    commands = ROOT / "notifications" / "management" / "commands"
    names = [p.stem for p in commands.glob("*.py") if not p.stem.startswith("_")]
    assert names
    for name in names:
        assert f"manage.py {name}" in README


def test_the_two_commands_are_shown() -> None:
    assert "make run" in README and "make test" in README


def test_linked_documents_exist() -> None:
    for link in (
        "docs/ARCHITECTURE.md",
        "docs/PERFORMANCE.md",
        "docs/BROWSER.md",
        "docs/CLIENTS.md",
        "docs/DEPLOY.md",
        "CHANGELOG.md",
    ):
        assert link in README
        assert (ROOT / link).is_file(), f"{link} is linked but missing"


def test_preferences_and_email_have_their_section() -> None:
    section = README.split("## Preferences and email", 1)[1].split("\n## ", 1)[0]
    for needed in ("KINDS", "send_notification_emails", "cron", "systemd", "/api/preferences/"):
        assert needed in section


# The README's recipes, run as written: each test takes its block from the Markdown.


@pytest.mark.django_db
def test_the_notify_example_stores_one_notification_however_often_it_runs(user: Any) -> None:
    order = SimpleNamespace(user=user, number=1042, pk=7)
    for _ in range(2):
        exec(recipe("readme-notify"), {"order": order})  # the dedupe key stores it once
    (stored,) = Notification.objects.filter(recipient=user)
    assert (stored.kind, stored.title, stored.url, stored.data) == (
        "order.shipped",
        "Order #1042 shipped",
        "/orders/1042/",
        {"order": 1042},
    )


@pytest.mark.django_db
def test_the_kinds_example_passes_the_system_checks_and_is_offered(
    settings: Any, user: Any
) -> None:
    example: dict[str, Any] = {}
    exec(recipe("readme-kinds"), example)
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, **example["NOTIFICATIONS"]}
    call_command("check", stdout=StringIO())  # raises SystemCheckError on any error
    assert [(c.kind, c.label, c.critical, c.email) for c in choices_for(user.pk)] == [
        ("order.shipped", "Order shipped", False, True),
        ("account.security", "Account security", True, True),
    ]


def operator_commands() -> dict[str, str]:
    """The README's operator commands: each command's name and the rest of its synopsis."""
    code = recipe("readme-commands").replace("\\\n", " ")
    found = [re.fullmatch(r"manage\.py (\S+)(.*?)\s*(?:#.*)?", line) for line in code.splitlines()]
    assert found and all(found), code
    return {match.group(1): match.group(2) for match in found if match}


def parser_options(name: str) -> set[str]:
    """The options ``manage.py name --help`` lists, less those every command has."""

    def options(command: BaseCommand, name: str) -> set[str]:
        parser = command.create_parser("manage.py", name)
        return {option for action in parser._actions for option in action.option_strings}

    command = load_command_class(get_commands()[name], name)
    assert isinstance(command, BaseCommand)
    return options(command, name) - options(BaseCommand(), "any")


@pytest.mark.parametrize("name", operator_commands())
def test_each_operator_command_takes_the_options_its_synopsis_shows(name: str) -> None:
    shown = set(re.findall(r"--[a-z-]+", operator_commands()[name]))
    assert shown <= parser_options(name)
    if get_commands()[name] == "notifications":  # the app's own are shown whole
        assert shown == parser_options(name)


# Examples in place of the synopses' placeholders.
EXAMPLES = {"USERNAME": "alice", "TEXT": "Hello", "DAYS": "30"}


def shortest_call(synopsis: str) -> list[str]:
    """Return the shortest call a synopsis allows: optional parts left out, the first of each
    choice, and an example in place of each placeholder."""
    required = re.sub(r"\[[^\[\]]*\]", "", synopsis)
    chosen = re.sub(r"\(\s*([^|()]*?)\s*\|[^()]*\)", r"\1", required)
    return [EXAMPLES.get(word, word) for word in chosen.split()]


@pytest.mark.django_db
def test_the_operator_commands_run_against_the_database(
    settings: Any, user: Any, other_user: Any
) -> None:
    settings.DEBUG = True  # create_demo_data publishes its passwords: development only
    outputs = {}
    for name, synopsis in operator_commands().items():
        args = shortest_call(synopsis)
        assert not [word for word in args if word.isupper()], f"{name}: fill in {args}"
        out = StringIO()
        call_command(name, *args, stdout=out)
        outputs[name] = out.getvalue()
    assert "Stored 1 notification." in outputs["send_notification"]
    assert Notification.objects.filter(recipient=user, title="Hello").exists()
    assert "Sent 0 emails." in outputs["send_notification_emails"]  # nothing 15 minutes old
    assert "alice  / alice-password" in outputs["create_demo_data"]
    assert Order.objects.filter(user__in=[user, other_user]).exists()


class MakeRun(LocalServer):
    """``make run`` in a copy of the repository, on a free port, with no environment set."""

    def __init__(self, directory: Path, command: list[str]) -> None:
        super().__init__()
        self.directory = directory
        self.command = command
        self.log = directory / "make-run.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*self.command, f"PORT={self.port}"],
                cwd=self.directory,
                env=clean_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: make and the server it runs
            )
        try:
            wait_until(self.listening, process=self.process, seconds=300)
        except RuntimeError as e:
            raise RuntimeError(f"make run did not serve:\n{self.log.read_text()}") from e

    def stop(self) -> None:
        if self.process is None:
            return
        group = self.process.pid
        os.killpg(group, signal.SIGTERM)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _group_alive(group):
            if time.monotonic() > deadline:
                os.killpg(group, signal.SIGKILL)
                break
            time.sleep(0.1)
        self.process = None


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def copy_with_this_virtualenv(directory: Path) -> Path:
    """Copy the repository as a clone has it, with a ``.venv`` that sees this virtualenv's
    packages: ``make run`` finds it installed, and cannot install into this one."""
    app = directory / "app"
    shutil.copytree(ROOT, app, ignore=IGNORED)
    venv = app / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    purelib = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    this = sysconfig.get_path("purelib")
    (Path(purelib) / "suite.pth").write_text(f"import site; site.addsitedir({this!r})\n")
    (venv / ".installed-run").touch()
    return app


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> None:
    """Log in through the site's log-in form, as a browser would."""
    form = await client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token, form.text
    response = await client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        follow_redirects=True,
    )
    assert (response.status_code, response.url.path) == (200, "/"), response.text


@pytest.mark.e2e
@pytest.mark.timeout(600)
async def test_make_run_serves_the_demo_and_the_readmes_command_rings_alices_bell(
    tmp_path: Path,
) -> None:
    make_run, make_test = shell_commands(recipe("readme-make"))
    assert (make_run, make_test) == (["make", "run"], ["make", "test"])
    (send,) = shell_commands(recipe("readme-send"))
    title = send[send.index("--title") + 1]
    app = await asyncio.to_thread(copy_with_this_virtualenv, tmp_path)
    with started(lambda: MakeRun(app, make_run)) as start:
        server = await asyncio.to_thread(start)
        # "It prints the demo log-ins"
        printed = re.search(r"^\s+alice\s+/\s+(\S+)$", server.log.read_text(), re.M)
        assert printed, server.log.read_text()
        timeout = httpx.Timeout(10, read=30)
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=timeout) as client,
            asyncio.timeout(120),
        ):
            await log_in(client, "alice", printed[1])
            async with aconnect_sse(client, "GET", "/api/events/") as source:
                assert source.response.status_code == 200
                events = source.aiter_sse()
                await next_event(events, "connected")
                # From a second terminal: the command as written, in the copy, no environment.
                sent = await asyncio.to_thread(
                    subprocess.run,
                    send,
                    cwd=app,
                    env=clean_env(),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert "Stored 1 notification." in sent.stdout, sent.stdout + sent.stderr
                event = await next_event(events, "notification")
                assert json.loads(event.data)["title"] == title


def test_make_test_and_make_run_do_what_the_readme_says_they_do(tmp_path: Path) -> None:
    """``make test`` runs this very suite, so it is not run from inside it: its dry run on a
    fresh clone is checked against the README's words, and ``make run``'s too (the test
    above runs it for real)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)

    def dry_run(target: str) -> list[str]:
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.replace("\\\n", " ").splitlines()

    # "creates .venv, installs .[dev], runs the whole test suite"
    test = dry_run("test")
    assert any(re.search(r"-m venv \.venv$", line) for line in test)
    assert any(line.endswith("pip install --quiet -e '.[dev]'") for line in test)
    assert test[-1] == ".venv/bin/python -m pytest"  # no selection: every test under tests/
    # "creates .venv, installs, migrates, creates demo users, serves http://127.0.0.1:8000"
    run = "\n".join(dry_run("run"))
    for step in (
        "-m venv .venv",
        "pip install --quiet -e '.[site]'",
        "manage.py migrate",
        "manage.py create_demo_data",
        "tcp:port=8000:interface=127.0.0.1",
    ):
        assert step in run


def environment_file(directory: Path, redis_url: str) -> Path:
    """Write ``deploy/shop.env.example`` as an operator would fill it in, for this machine:
    the test database, a Redis, the suite's key, a metrics directory."""
    metrics = directory / "metrics"
    metrics.mkdir()
    path = directory / "env"
    example = DEPLOY / "shop.env.example"
    values = {
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    path.write_text(with_values(example.read_text(), values, str(example)))
    return path


def left_unread(user: Any) -> None:
    """Give ``user`` a notification of an emailed kind, left unread for an hour."""
    (left,) = notify(user, kind="order.shipped", title="Order #1042 shipped")
    Notification.objects.filter(pk=left.pk).update(created_at=left.created_at - timedelta(hours=1))


def documented_paths(directory: Path, redis_url: str) -> dict[str, str]:
    """This machine's paths in place of docs/DEPLOY.md's, and an environment file."""
    return {
        "/srv/shop/app": str(ROOT),
        "/srv/shop/venv": sys.prefix,
        "/etc/shop/env": str(environment_file(directory, redis_url)),
    }


# cron and systemd run commands with a bare environment of their own.
BARE = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_cron_line_emails_what_was_left_unread(
    tmp_path: Path, user: Any, redis_url: str
) -> None:
    left_unread(user)
    fields = recipe("readme-cron").split(maxsplit=5)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"]
    log = tmp_path / "emails.log"
    paths = {**documented_paths(tmp_path, redis_url), "/var/log/shop/emails.log": str(log)}
    command = replaced(fields[5], paths, "the README's cron line")
    cron = subprocess.run(["/bin/sh", "-c", command], env=BARE, timeout=120)
    emailed = log.read_text()
    assert cron.returncode == 0, emailed
    assert "Sent 1 email." in emailed
    assert "To: alice@example.com" in emailed and "Order #1042 shipped" in emailed


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_systemd_units_are_valid_and_the_service_emails_what_was_left_unread(
    tmp_path: Path, user: Any, redis_url: str
) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    left_unread(user)
    units = re.split(r"^# /etc/systemd/system/(\S+)\n", recipe("readme-systemd"), flags=re.M)
    files = dict(zip(units[1::2], units[2::2], strict=True))
    assert list(files) == ["shop-emails.service", "shop-emails.timer"]
    paths = documented_paths(tmp_path, redis_url)
    service = replaced(files["shop-emails.service"], paths, "the README's service")
    files["shop-emails.service"] = service
    for name, unit in files.items():
        (tmp_path / name).write_text(unit)
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / name) for name in files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    command, directory, environment_path = unit_command(service, instance="")
    ran = subprocess.run(
        command,
        cwd=directory,
        env={**BARE, **environment(environment_path.read_text())},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Sent 1 email." in ran.stdout
    assert "To: alice@example.com" in ran.stdout
