"""Notification emails through crashes and mail server outages: nothing lost, nothing twice.

A run killed mid-batch, a run slower than its claims' lease, a ``--loop`` worker through a
mail server that refuses, hangs, goes down and comes back: each time every notification is
emailed exactly once, counted in what the real SMTP server (aiosmtpd) accepted. The
commands run in other processes, against the test database, with claims that expire within
seconds (``tests/notifications/email_settings.py``).
"""

from __future__ import annotations

import functools
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.mail import get_connection
from django.core.management import CommandError, call_command
from django.db.models import Max, Q
from django.utils import timezone

from notifications import emails, services
from notifications.models import Notification
from tests.e2e.chaos.postgres import PostgresServer, cannot_run_reason
from tests.e2e.conftest import ROOT, subprocess_env
from tests.smtp import SMTPServer, smtp_server

SETTINGS = "tests.notifications.email_settings"


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPServer]:
    """A real SMTP server, and Django's SMTP backend in this process pointed at it."""
    with smtp_server() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        yield server


def unread(users: int, per_user: int = 2) -> Counter[tuple[str, str]]:
    """Give ``users`` new users ``per_user`` unread notifications an hour old; return the
    ``(address, title)`` of each, as many times as it should be emailed: once."""
    model = get_user_model()
    names = [f"reader{n:04d}" for n in range(users)]
    model.objects.bulk_create(model(username=name, email=f"{name}@example.com") for name in names)
    readers = model.objects.filter(username__in=names)
    for n in range(per_user):
        services.notify(readers, kind="order.shipped", title=f"Order #{n} shipped")
    Notification.objects.update(created_at=timezone.now() - timedelta(hours=1))
    return Counter(
        {(f"{name}@example.com", f"Order #{n} shipped") for name in names for n in range(per_user)}
    )


def command(
    server: SMTPServer,
    *args: str,
    claim_seconds: float = 3,
    timeout: float = 10,
    database_url: str | None = None,
    **popen: Any,
) -> subprocess.Popen[str]:
    """Start ``send_notification_emails --min-age 0`` in another process, sending to
    ``server``, with claims of ``claim_seconds`` and a mail server timeout of ``timeout``, on
    the test database or ``database_url``."""
    env = subprocess_env(
        **({"DATABASE_URL": database_url} if database_url else {}),
        DJANGO_SETTINGS_MODULE=SETTINGS,
        TEST_EMAIL_CLAIM_SECONDS=str(claim_seconds),
        TEST_EMAIL_TIMEOUT=str(timeout),
        **server.env,
    )
    popen = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen(
        [sys.executable, "manage.py", "send_notification_emails", "--min-age", "0", *args],
        cwd=ROOT, env=env, text=True, **popen,
    )  # fmt: skip


def finish(process: subprocess.Popen[str]) -> str:
    """Wait for a run to end well; return what it printed."""
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def wait_for_claims_to_expire() -> None:
    until = Notification.objects.aggregate(until=Max("email_claimed_until"))["until"]
    if until is not None:
        time.sleep(max(0.0, (until - timezone.now()).total_seconds()) + 0.1)


def nothing_sent_nor_held() -> bool:
    return not Notification.objects.filter(
        Q(emailed_at__isnull=False) | Q(email_claimed_until__isnull=False)
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_killed_mid_batch_loses_nothing_and_sends_nothing_twice() -> None:
    wanted = unread(250)  # Two batches: 200 users, then 50.
    with smtp_server() as server:
        server.mailbox.stall_after = 120
        killed = command(server, claim_seconds=12)
        # 120 emails accepted (each marked before the next goes), the 121st left hanging.
        server.mailbox.wait_for(120, stalled=1)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=30)
        server.mailbox.stall_after = None
        # The 80 users claimed and not sent stay with the dead run until its claims expire.
        assert finish(command(server)) == "Sent 50 emails.\n"
        wait_for_claims_to_expire()
        assert finish(command(server)) == "Sent 80 emails.\n"
        assert finish(command(server)) == "Sent 0 emails.\n"
        assert Counter(server.mailbox.listed()) == wanted
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_slower_than_its_claims_lease_keeps_them() -> None:
    """Ten emails a second apart, with claims of six seconds: the run renews them as it
    goes, and another run working meanwhile takes none of them."""
    wanted = unread(10, per_user=1)
    with smtp_server() as server:
        server.mailbox.delay = 1.0
        slow = command(server, claim_seconds=6)
        server.mailbox.wait_for(1)
        other = command(server, "--loop", "0.5", claim_seconds=6)
        assert finish(slow) == "Sent 10 emails.\n"
        other.terminate()
        turns = finish(other).splitlines()
        assert Counter(server.mailbox.listed()) == wanted
    assert turns[-1] == "Stopped." and set(turns[:-1]) == {"Sent 0 emails."}


@pytest.mark.django_db(transaction=True)
def test_a_loop_goes_on_through_refusals_a_hung_server_and_a_dead_one(tmp_path: Path) -> None:
    wanted = unread(30, per_user=1)
    out, err = tmp_path / "out", tmp_path / "err"
    with smtp_server() as server, out.open("w") as stdout, err.open("w") as stderr:
        server.mailbox.refuse = "451 4.3.0 Try again later"
        worker = command(server, "--loop", "0.5", timeout=1, stdout=stdout, stderr=stderr)

        def wait_for(ready: Any) -> None:
            deadline = time.monotonic() + 60
            while not ready():
                assert worker.poll() is None, err.read_text()
                assert time.monotonic() < deadline, (out.read_text(), err.read_text())
                time.sleep(0.1)

        wait_for(lambda: out.read_text().count("Sent 0 emails.") >= 2)
        refusing_turns = out.read_text().count("Sent 0 emails.")
        server.mailbox.refuse = None
        server.mailbox.stall_after = 10
        server.mailbox.wait_for(10, stalled=2)  # It hung twice: the loop outlived a timeout.
        server.stop()
        wait_for(lambda: "Cannot reach the mail server" in err.read_text())
        server.mailbox.stall_after = None
        server.start()
        server.mailbox.wait_for(30)
        worker.terminate()
        assert worker.wait(60) == 0
        assert Counter(server.mailbox.listed()) == wanted
    errors = err.read_text().splitlines()
    assert "Traceback" not in err.read_text()
    assert any("timed out" in line for line in errors)
    # One line a turn says what the server refused, not one per email.
    refusals = [line for line in errors if "Try again later" in line]
    assert 1 <= len(refusals) <= refusing_turns + 1
    assert out.read_text().endswith("Stopped.\n")
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_against_a_dead_mail_server_fails_and_keeps_everything_for_the_next() -> None:
    wanted = unread(3, per_user=1)
    with smtp_server() as server:
        server.stop()
        failed = command(server)
        stdout, stderr = failed.communicate(timeout=60)
        assert failed.returncode != 0
        assert stdout == "Sent 0 emails.\n"
        assert "Cannot reach the mail server" in stderr and "Connection refused" in stderr
        assert nothing_sent_nor_held()  # Not even until a claim expires.
        server.start()
        assert finish(command(server)) == "Sent 3 emails.\n"
        assert Counter(server.mailbox.listed()) == wanted


def test_a_loop_goes_on_through_a_database_restart(tmp_path: Path) -> None:
    """A ``--loop`` worker on a PostgreSQL of its own, stopped and started again under it:
    one line on stderr a turn while it is away, no traceback, and what is sent afterwards
    goes out once."""
    if reason := cannot_run_reason():
        pytest.skip(reason)
    postgres = PostgresServer()
    try:
        postgres.start()
        url = postgres.create_database("emails")
        manage = functools.partial(_manage, DATABASE_URL=url, REDIS_URL=None)
        manage("migrate", "--no-input")
        manage("shell", "-c", CREATE_READER)
        manage("send_notification", "--user", "reader", "--kind", KIND, "--title", "Before")
        out, err = tmp_path / "out", tmp_path / "err"
        with smtp_server() as server, out.open("w") as stdout, err.open("w") as stderr:
            worker = command(
                server, "--loop", "0.3", database_url=url, stdout=stdout, stderr=stderr
            )
            try:
                server.mailbox.wait_for(1)
                postgres.halt()
                _wait_until(lambda: err.read_text().count("The database is unreachable") >= 2)
                postgres.start()
                manage("send_notification", "--user", "reader", "--kind", KIND, "--title", "After")
                server.mailbox.wait_for(2)
            finally:
                worker.terminate()
                worker.wait(60)
            assert Counter(server.mailbox.listed()) == {
                ("reader@example.com", "Before"): 1,
                ("reader@example.com", "After"): 1,
            }
    finally:
        postgres.stop()
    assert worker.returncode == 0, err.read_text()
    assert "Traceback" not in err.read_text()
    # The worker's own line a turn, and the connection pool's warnings (one line each, with
    # libpq's indented hint) as it drops dead connections and reconnects.
    ours = [line for line in err.read_text().splitlines() if not POOL_LINE.match(line)]
    assert ours and all(line.startswith("The database is unreachable (") for line in ours)
    assert out.read_text().endswith("Stopped.\n")


POOL_LINE = re.compile(r"^(\S+ \S+ WARNING psycopg\.pool: |\s)")
# A kind the demo site emails by default.
KIND = "order.shipped"
CREATE_READER = (
    "from django.contrib.auth import get_user_model; "
    "get_user_model().objects.create_user('reader', 'reader@example.com')"
)


def _manage(*args: str, **env: str | None) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=subprocess_env(**env), check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def _wait_until(ready: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline
        time.sleep(0.1)


# --- In this process -------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command("send_notification_emails", "--min-age", "0", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_what_a_dead_run_claimed_waits_for_its_claims_to_expire(
    smtp: SMTPServer, settings: Any
) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "EMAIL_CLAIM_SECONDS": 2}
    wanted = unread(2, per_user=1)
    dead, live = get_user_model().objects.order_by("pk")
    emails._claim(emails.Run(), [dead.pk], older_than=timezone.now())  # Then it died.
    assert run() == "Sent 1 email.\n"
    assert smtp.mailbox.to(dead.email) == []
    wait_for_claims_to_expire()
    assert run() == "Sent 1 email.\n"
    assert run() == "Sent 0 emails.\n"
    assert Counter(smtp.mailbox.listed()) == wanted


@pytest.mark.django_db
@pytest.mark.timeout(60)
def test_a_mail_server_that_stops_answering_fails_the_run_instead_of_holding_it(
    smtp: SMTPServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django's own default is to wait forever: the run sets a timeout of its own."""
    settings.EMAIL_TIMEOUT = None
    monkeypatch.setattr(emails, "DEFAULT_EMAIL_TIMEOUT", 1)
    wanted = unread(1, per_user=1)
    smtp.mailbox.stall_after = 0
    with pytest.raises(CommandError, match="timed out.*retried on the next run"):
        run()
    assert nothing_sent_nor_held()
    smtp.mailbox.stall_after = None
    assert run() == "Sent 1 email.\n"
    assert Counter(smtp.mailbox.listed()) == wanted


@pytest.mark.django_db
def test_a_run_that_lost_its_claims_sends_none_of_them(smtp: SMTPServer, settings: Any) -> None:
    """A run held up past its claims' expiry (a stopped process, a long wait) finds, before
    its next email, that another run took them over, and leaves them to that run."""
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "EMAIL_CLAIM_SECONDS": 1}
    wanted = unread(2, per_user=1)
    held_up = emails.Run()
    users = list(get_user_model().objects.values_list("pk", flat=True))
    digests = emails._digests(emails._claim(held_up, users, older_than=timezone.now()))
    wait_for_claims_to_expire()
    assert run() == "Sent 2 emails.\n"
    mail = get_connection()
    try:
        emails._send_batch(mail, held_up, digests)
    finally:
        mail.close()
    assert held_up.sent == 0
    assert Counter(smtp.mailbox.listed()) == wanted
