"""The management commands: send_notification, prune_notifications."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from notifications.models import Notification
from notifications.services import mark_read, notify
from tests.notifications.test_content import HOSTILE_LINKS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    """Run a command as ``call_command`` does and return what it printed."""
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def recipients() -> set[str]:
    return set(Notification.objects.values_list("recipient__username", flat=True))


@pytest.fixture
def customers(user: Any, other_user: Any, make_user: Any) -> Group:
    """A group of alice, bob and an inactive member; carol is active and not in it."""
    make_user("carol")
    group = Group.objects.create(name="customers")
    group.user_set.add(user, other_user, make_user("dormant", is_active=False))
    return group


# --- send_notification ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "targets",
    [
        pytest.param(["--user", "alice", "--user", "bob"], id="repeated --user"),
        pytest.param(["--user", "alice", "bob"], id="several names after --user"),
    ],
)
def test_send_to_named_users(user, other_user, make_user, targets):
    make_user("carol")

    output = run("send_notification", *targets, "--title", "Maintenance tonight")

    assert output == "Stored 2 notifications.\n"
    assert recipients() == {"alice", "bob"}
    row = Notification.objects.first()
    assert (row.kind, row.title, row.body, row.url, row.data) == (
        "info",
        "Maintenance tonight",
        "",
        "",
        {},
    )


def test_send_stores_every_field(user):
    output = run(
        "send_notification",
        "--user",
        "alice",
        "--title",
        "Order #7 shipped",
        "--body",
        "It is on its way.",
        "--kind",
        "order",
        "--url",
        "/orders/7/",
        "--data",
        '{"order": 7, "items": ["book"], "gift": true}',
    )

    assert output == "Stored 1 notification.\n"
    row = Notification.objects.get(recipient=user)
    assert (row.kind, row.title, row.body, row.url) == (
        "order",
        "Order #7 shipped",
        "It is on its way.",
        "/orders/7/",
    )
    assert row.data == {"order": 7, "items": ["book"], "gift": True}


def test_send_to_a_group_reaches_its_active_members_only(customers):
    output = run("send_notification", "--group", "customers", "--title", "Sale")

    assert output == "Stored 2 notifications.\n"
    assert recipients() == {"alice", "bob"}


def test_send_to_all_reaches_every_active_user(customers, staff_user):
    output = run("send_notification", "--all", "--title", "We have moved")

    assert output == "Stored 4 notifications.\n"
    assert recipients() == {"alice", "bob", "carol", "staff"}


def test_send_to_an_empty_group_stores_nothing_and_says_so(db):
    Group.objects.create(name="nobody-here")

    assert run("send_notification", "--group", "nobody-here", "--title", "Hi") == (
        "Stored 0 notifications.\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--user", "alice", "--user", "ghost", "--user", "nobody", "--title", "Hi"],
            "Unknown user(s): ghost, nobody.",
            id="unknown users",
        ),
        pytest.param(
            ["--user", "alice", "--user", "dormant", "--title", "Hi"],
            "Inactive user(s), who cannot read it: dormant.",
            id="inactive user",
        ),
        pytest.param(
            ["--group", "suppliers", "--title", "Hi"], "Unknown group: suppliers.", id="group"
        ),
        pytest.param(
            ["--all", "--title", "Hi", "--data", "{'order': 7}"],
            "--data is not valid JSON",
            id="bad JSON",
        ),
        pytest.param(
            ["--all", "--title", "Hi", "--data", "[7]"],
            "--data must be a JSON object",
            id="JSON not an object",
        ),
        pytest.param(["--all", "--title", ""], "The title must not be empty.", id="empty title"),
        pytest.param(["--all", "--title", "   "], "The title must not be empty.", id="blank title"),
        pytest.param(
            ["--all", "--title", "x" * 201], "The title is longer than 200", id="long title"
        ),
        pytest.param(["--all", "--title", "Hi", "--kind", ""], "The kind", id="empty kind"),
        pytest.param(
            ["--title", "Hi"],
            "one of the arguments --user --group --all is required",
            id="no target",
        ),
        pytest.param(
            ["--all", "--group", "customers", "--title", "Hi"],
            "not allowed with argument",
            id="two targets",
        ),
        pytest.param(["--all"], "The title must not be empty.", id="no title"),
    ],
)
def test_send_refuses_and_stores_nothing(customers, args, message):
    with pytest.raises(CommandError) as excinfo:
        run("send_notification", *args)

    assert message in str(excinfo.value)
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--body", "x" * 5001], "The body is longer than 5000", id="body"),
        pytest.param(["--url", "/" + "x" * 500], "The url is longer than 500", id="url"),
        pytest.param(
            ["--data", json.dumps({"k": "x" * 8185})],
            "The data is longer than 8192 bytes",
            id="data",
        ),
    ],
)
def test_send_refuses_a_field_over_its_limit_and_stores_nothing(user, args, message):
    with pytest.raises(CommandError, match=message):
        run("send_notification", "--user", "alice", "--title", "Hi", *args)

    assert not Notification.objects.exists()


@pytest.mark.parametrize("url", HOSTILE_LINKS)
def test_send_refuses_a_link_off_the_site_and_stores_nothing(user, url):
    with pytest.raises(CommandError, match="The url must be a path on this site"):
        run("send_notification", "--user", "alice", "--title", "Hi", "--url", url)

    assert not Notification.objects.exists()


def test_send_a_templated_kind_with_its_params(user):
    output = run(
        "send_notification",
        "--user",
        "alice",
        "--kind",
        "order.placed",
        "--param",
        "number=1042",
        "--param",
        "total=12.50 EUR",
    )

    assert output == "Stored 1 notification.\n"
    row = Notification.objects.get(recipient=user)
    assert row.params == {"number": 1042, "total": "12.50 EUR"}
    assert (row.title, row.body) == (
        "Order #1042 placed",
        "We have received your order. Total: 12.50 EUR.",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--param", "number=7"], "'total' is missing", id="missing param"),
        pytest.param(["--param", "number"], "--param takes NAME=VALUE", id="no value"),
        pytest.param(["--param", "a.b=1"], "--param takes NAME=VALUE", id="not a name"),
        pytest.param(["--param", "number=1", "--param", "number=2"], "given twice", id="twice"),
        pytest.param(
            ["--param", "number=1", "--param", "total=2", "--title", "Hi"],
            "not a title or body",
            id="title and params",
        ),
    ],
)
def test_send_refuses_bad_params_and_stores_nothing(user, args, message):
    with pytest.raises(CommandError, match=message):
        run("send_notification", "--user", "alice", "--kind", "order.placed", *args)

    assert not Notification.objects.exists()


def test_params_for_a_kind_without_templates_are_refused(user):
    with pytest.raises(CommandError, match="has no title template"):
        run("send_notification", "--user", "alice", "--kind", "info", "--param", "n=1")

    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_missing_param_goes_to_stderr_with_a_non_zero_exit_status(user):
    result = send_from_a_shell("--user", "alice", "--kind", "order.shipped")

    assert result.returncode != 0
    assert "'number' is missing" in result.stderr
    assert result.stdout == ""
    assert not Notification.objects.exists()


def send_from_a_shell(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py send_notification`` as an operator does, in a process of its own."""
    return subprocess.run(
        [sys.executable, "manage.py", "send_notification", *arguments],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": child_database_url()},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_send_errors_go_to_stderr_with_a_non_zero_exit_status():
    """From a shell, as an operator runs it: the message on stderr, exit status non-zero."""
    result = send_from_a_shell("--all", "--title", "Hi", "--data", "not json")

    assert result.returncode != 0
    assert "--data is not valid JSON" in result.stderr
    assert result.stdout == ""


@pytest.mark.django_db(transaction=True)
def test_a_refused_link_goes_to_stderr_with_a_non_zero_exit_status(user):
    result = send_from_a_shell("--user", "alice", "--title", "Hi", "--url", "//evil.example/x")

    assert result.returncode != 0
    assert "The url must be a path on this site" in result.stderr
    assert result.stdout == ""
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_send_from_another_process_stores_in_the_shared_database(user):
    result = send_from_a_shell("--user", "alice", "--title", "Hi")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "Stored 1 notification.\n"
    assert Notification.objects.get().recipient == user


def child_database_url() -> str:
    """Point a child process at the test database this process is using."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


# --- prune_notifications -------------------------------------------------------------------


@pytest.fixture
def old_and_new(user: Any) -> dict[str, Notification]:
    """An old read, an old unread and a new notification of one user."""
    old_read, old_unread, new = (notify(user, kind="info", title=t)[0] for t in "abc")
    mark_read(notifications=Notification.objects.filter(pk=old_read.pk))
    Notification.objects.filter(pk__in=[old_read.pk, old_unread.pk]).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    return {"old_read": old_read, "old_unread": old_unread, "new": new}


def test_prune_deletes_notifications_older_than_the_given_days(old_and_new):
    output = run("prune_notifications", "--older-than", "30")

    assert output == "Deleted 2 notifications older than 30 days.\n"
    assert list(Notification.objects.all()) == [old_and_new["new"]]


def test_prune_read_only_keeps_unread_ones(old_and_new):
    output = run("prune_notifications", "--older-than", "30", "--read-only")

    assert output == "Deleted 1 read notification older than 30 days.\n"
    assert set(Notification.objects.all()) == {old_and_new["old_unread"], old_and_new["new"]}


def test_prune_accepts_fractions_of_a_day(old_and_new):
    assert run("prune_notifications", "--older-than", "0.5") == (
        "Deleted 2 notifications older than 0.5 days.\n"
    )


@pytest.mark.parametrize("days", ["-1", "thirty", "nan", "inf", "1e9", ""])
def test_prune_refuses_what_is_not_a_non_negative_number_of_days(old_and_new, days):
    with pytest.raises(CommandError, match="--older-than"):
        run("prune_notifications", "--older-than", days)

    assert Notification.objects.count() == 3


def test_prune_requires_an_age(old_and_new):
    with pytest.raises(CommandError, match="--older-than"):
        run("prune_notifications")
