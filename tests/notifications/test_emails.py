"""Notification emails: who gets one, what it says, each notification once, and unsubscribing.

The mail goes to a real SMTP server (aiosmtpd) over the network, through Django's SMTP
backend; commands run in subprocesses get it from the contract's ``EMAIL_*`` environment.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core import mail, signing
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from notifications import emails, preferences, services
from notifications.models import Notification, UserLanguage
from tests.e2e.conftest import ROOT, manage, subprocess_env
from tests.smtp import SMTPServer, parts, smtp_server

pytestmark = pytest.mark.django_db

SITE = "https://shop.example.com"


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.SITE_URL = SITE
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPServer]:
    """A real SMTP server, and Django's SMTP backend pointed at it."""
    with smtp_server() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        yield server


def old(user: Any, kind: str = "order.shipped", title: str = "Order #7 shipped", **kw: Any) -> Any:
    """Notify ``user`` and make the notification an hour old."""
    (stored,) = services.notify(user, kind=kind, title=title, **kw)
    Notification.objects.filter(pk=stored.pk).update(created_at=timezone.now() - timedelta(hours=1))
    return stored


def run(*args: str) -> str:
    out = StringIO()
    call_command("send_notification_emails", *args, stdout=out)
    return out.getvalue()


def test_one_email_per_user_lists_their_unread_old_email_kinds(
    smtp: SMTPServer, user: Any, other_user: Any
) -> None:
    old(user, title="Order #7 shipped", url="/orders/7/", body="On its way.")
    old(user, kind="order.delivered", title="Order #6 delivered")
    old(user, kind="order.placed", title="Order #8 placed")  # email off by default
    old(user, kind="info", title="Unregistered")  # never emailed
    services.notify(user, kind="order.shipped", title="Too new")
    old(other_user, title="Order #9 shipped")

    assert run() == "Sent 2 emails.\n"

    (message,) = smtp.mailbox.to(user.email)
    text, html = parts(message)
    for body in (text, html):
        assert "Order #7 shipped" in body and "Order #6 delivered" in body
        assert f"{SITE}/orders/7/" in body
        for absent in ("Order #8 placed", "Unregistered", "Too new", "Order #9"):
            assert absent not in body
    assert "On its way." in text
    assert message["Subject"].startswith("2 unread notifications")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(
        rf"<{re.escape(SITE)}/notifications/unsubscribe/[^>]+/>",
        message["List-Unsubscribe"].strip(),
    )
    assert len(smtp.mailbox.to(other_user.email)) == 1


def test_the_email_is_in_the_recipients_language(
    smtp: SMTPServer, user: Any, other_user: Any
) -> None:
    """German for a user who chose it, the site's English for one who did not: the subject,
    the listed notifications, rendered from their parameters, and the text around them."""
    UserLanguage.objects.create(user=user, language="de")
    for recipient in (user, other_user):
        for number in (7, 8):
            (stored,) = services.notify(recipient, kind="order.shipped", params={"number": number})
            Notification.objects.filter(pk=stored.pk).update(
                created_at=timezone.now() - timedelta(hours=1)
            )

    assert run() == "Sent 2 emails.\n"

    with translation.override("de"):
        titles = [gettext("Order #{number} shipped").format(number=n) for n in (8, 7)]
        subject = ngettext(
            "%(count)d unread notification: %(title)s",
            "%(count)d unread notifications: %(title)s",
            2,
        ) % {"count": 2, "title": titles[0]}
    assert titles[0] != "Order #8 shipped" and not subject.startswith("2 unread")
    (german,) = smtp.mailbox.to(user.email)
    assert german["Subject"] == subject
    assert [title for _, title in smtp.mailbox.listed() if _ == user.email] == titles
    (english,) = smtp.mailbox.to(other_user.email)
    assert english["Subject"] == "2 unread notifications: Order #8 shipped"
    assert "Order #7 shipped" in parts(english)[1]


def test_a_second_run_sends_nothing_new(smtp: SMTPServer, user: Any) -> None:
    old(user)
    assert run("--min-age", "0") == "Sent 1 email.\n"
    assert run("--min-age", "0") == "Sent 0 emails.\n"
    old(user, title="Order #8 shipped")
    assert run("--min-age", "0") == "Sent 1 email.\n"
    assert "Order #7" not in parts(smtp.mailbox.messages[-1])[0]


def test_read_first_means_no_email(smtp: SMTPServer, user: Any) -> None:
    stored = old(user)
    services.mark_read(notifications=Notification.objects.filter(pk=stored.pk))
    assert run() == "Sent 0 emails.\n"
    assert smtp.mailbox.messages == []


def test_min_age_and_the_default_from_settings(smtp: SMTPServer, user: Any, settings: Any) -> None:
    services.notify(user, kind="order.shipped", title="Just now")
    assert run() == "Sent 0 emails.\n"  # EMAIL_AFTER_MINUTES: 15
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "EMAIL_AFTER_MINUTES": 0}
    assert run() == "Sent 1 email.\n"


def test_choices_decide(smtp: SMTPServer, user: Any, make_user: Any) -> None:
    nobody = make_user("nomail")
    nobody.email = ""
    nobody.save()
    old(nobody)
    preferences.change(
        user_id=user.pk,
        changes={"order.shipped": {"email": False}, "order.placed": {"email": True}},
    )
    old(user, title="Order #7 shipped")
    old(user, kind="order.placed", title="Order #8 placed")
    old(user, kind="account.security", title="Password changed")  # critical, email on
    assert run() == "Sent 1 email.\n"
    text, _ = parts(smtp.mailbox.messages[0])
    assert "Order #8 placed" in text and "Password changed" in text
    assert "Order #7" not in text


def test_the_unsubscribe_link_turns_that_kind_off_in_one_click(
    smtp: SMTPServer, user: Any, client: Client
) -> None:
    old(user)
    run()
    header = smtp.mailbox.messages[0]["List-Unsubscribe"].strip()
    path = header.strip("<>").removeprefix(SITE)
    page = client.get(path)
    assert page.status_code == 200 and b"Order shipped" in page.content
    assert _email_on(user, "order.shipped")  # a GET (a link scanner) changes nothing
    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert not _email_on(user, "order.shipped")
    assert _email_on(user, "order.delivered")


def test_the_per_kind_link_in_the_body_works_from_a_form(
    smtp: SMTPServer, user: Any, client: Client
) -> None:
    old(user, kind="order.delivered", title="Order #6 delivered")
    old(user, kind="account.security", title="Password changed")
    run()
    text, _ = parts(smtp.mailbox.messages[0])
    links = re.findall(rf"{re.escape(SITE)}(/notifications/unsubscribe/\S+/)", text)
    assert len(links) == 1  # none for the critical kind
    response = client.post(links[0])
    assert response.status_code == 200 and b"unsubscribed" in response.content
    assert not _email_on(user, "order.delivered")


@pytest.mark.parametrize("token", ["nonsense", "x" * 300, "eyJ1IjoxfQ:1abc:bad"])
def test_a_forged_unsubscribe_link_changes_nothing(client: Client, user: Any, token: str) -> None:
    for response in (
        client.get(f"/notifications/unsubscribe/{token}/"),
        client.post(f"/notifications/unsubscribe/{token}/"),
    ):
        assert response.status_code == 400
    assert _email_on(user, "order.shipped")


def test_a_link_emailed_by_an_earlier_version_still_unsubscribes(client: Client, user: Any) -> None:
    """A link in a mailbox outlives the code that signed it: 0.2.0 signed them this way."""
    token = signing.dumps(
        {"u": user.pk, "k": ["order.shipped"]}, salt="notifications.unsubscribe", compress=True
    )
    response = client.post(f"/notifications/unsubscribe/{token}/")
    assert response.status_code == 200
    assert not _email_on(user, "order.shipped")


def _email_on(user: Any, kind: str) -> bool:
    return next(c.email for c in preferences.choices_for(user.pk) if c.kind == kind)


def test_a_refused_message_is_retried_next_run_and_others_still_go(
    smtp: SMTPServer, user: Any, other_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    old(user)
    old(other_user)
    smtp.mailbox.refuse = "554 Transaction failed"
    assert run() == "Sent 0 emails.\n"
    assert not Notification.objects.filter(emailed_at__isnull=False).exists()
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "notifications.emails"]
    assert "refused 2 email(s)" in warning and "554" in warning  # One line a run, not per email.
    smtp.mailbox.refuse = None
    assert run() == "Sent 2 emails.\n"
    assert run() == "Sent 0 emails.\n"


def test_an_unreachable_server_fails_the_run_and_nothing_is_lost(settings: Any, user: Any) -> None:
    old(user)
    with smtp_server() as server:
        port = server.port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    with pytest.raises(CommandError, match="retried on the next run"):
        run()
    assert not Notification.objects.filter(emailed_at__isnull=False).exists()
    with smtp_server() as server:
        settings.EMAIL_PORT = server.port
        assert run() == "Sent 1 email.\n"
        assert len(server.mailbox.messages) == 1


def test_the_service_counts_what_it_sent(user: Any) -> None:
    old(user)
    assert emails.send_unread(min_age=timedelta(0)) == 1
    assert len(mail.outbox) == 1  # pytest-django's in-memory backend
    assert mail.outbox[0].alternatives[0][1] == "text/html"


@pytest.mark.parametrize("args", [["--min-age", "-1"], ["--min-age", "x"], ["--loop", "0"]])
def test_bad_arguments_are_refused(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "send_notification_emails", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "invalid" in result.stderr


# --- Other processes, configured by the environment ---------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_command_sends_through_the_smtp_server_of_the_environment(user: Any) -> None:
    old(user)
    with smtp_server() as server:
        result = manage("send_notification_emails", env=subprocess_env(SITE_URL=SITE, **server.env))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "Sent 1 email."
        (message,) = server.mailbox.messages
    assert message["To"] == user.email
    assert f"{SITE}/" in parts(message)[0]


@pytest.mark.django_db(transaction=True)
def test_without_email_host_the_email_is_printed(user: Any) -> None:
    old(user)
    result = manage("send_notification_emails", env=subprocess_env(EMAIL_HOST=None))
    assert result.returncode == 0, result.stderr
    assert "Order #7 shipped" in result.stdout and "Sent 1 email." in result.stdout
    assert f"To: {user.email}" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_moment_email_each_notification_once(make_user: Any) -> None:
    users = [make_user(f"u{i:03d}") for i in range(120)]
    for user in users:
        for n in range(3):
            old(user, title=f"Order #{n} shipped for {user.username}")
    with smtp_server() as server:
        env = subprocess_env(**server.env)
        command = [sys.executable, "manage.py", "send_notification_emails", "--min-age", "0"]
        runs = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [process.communicate(timeout=120)[0] for process in runs]
        assert all(process.returncode == 0 for process in runs), outputs
        titles = [title for _, title in server.mailbox.listed()]
    assert sorted(titles) == sorted(
        f"Order #{n} shipped for {u.username}" for u in users for n in range(3)
    )
    sent = sum(int(re.search(r"Sent (\d+)", out).group(1)) for out in outputs)  # type: ignore[union-attr]
    assert sent == len(server.mailbox.messages)
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_run_skips_rows_another_run_is_claiming(user: Any) -> None:
    """A claim in progress holds its rows; a second run passes them by without waiting."""
    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has one writer at a time")
    stored = [old(user, title=f"Order #{n} shipped") for n in range(3)]
    now = timezone.now()
    claimed = threading.Event()
    finish = threading.Event()
    first: list[int] = []

    def claim_and_hold() -> None:
        try:
            with transaction.atomic():
                first.extend(emails._claim(emails.Run(), [user.pk], older_than=now))
                claimed.set()
                finish.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=claim_and_hold)
    holder.start()
    try:
        assert claimed.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting instead of skipping would fail
        assert emails._claim(emails.Run(), [user.pk], older_than=now) == []
    finally:
        finish.set()
        holder.join(30)
    assert sorted(first) == sorted(n.pk for n in stored)
    assert emails._claim(emails.Run(), [user.pk], older_than=now) == []
