"""The demo site's ``create_demo_data``: the demo log-ins (the app ships no passwords)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from notifications.models import Notification

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_demo_data_creates_the_log_ins_once_and_prints_them(settings):
    settings.DEBUG = True

    first = run("create_demo_data")
    second = run("create_demo_data")

    assert "Created the demo data." in first
    assert "Demo data already present." in second
    for output in (first, second):
        logins = [line.split()[:3] for line in output.splitlines()]
        for name in ("admin", "alice", "bob"):
            assert [name, "/", f"{name}-password"] in logins
    users = get_user_model().objects.order_by("username")
    assert [(u.username, u.is_staff, u.is_superuser) for u in users] == [
        ("admin", True, True),
        ("alice", False, False),
        ("bob", False, False),
    ]
    for user in users:
        assert user.check_password(f"{user.username}-password")
    customers = Group.objects.get(name="customers").user_set
    assert set(customers.values_list("username", flat=True)) == {"alice", "bob"}
    assert sorted(Notification.objects.values_list("recipient__username", flat=True)) == [
        "alice",
        "bob",
    ]


def test_create_demo_data_leaves_existing_accounts_alone(settings, make_user):
    settings.DEBUG = True
    alice = make_user("alice")
    alice.set_password("a-secret-she-chose")
    alice.save()

    output = run("create_demo_data")

    alice.refresh_from_db()
    assert alice.check_password("a-secret-she-chose")
    assert "Created the demo data." in output
    assert Group.objects.get(name="customers").user_set.filter(pk=alice.pk).exists()
    # Her password change told her so (account.security); the welcome is of kind "info".
    welcomed = Notification.objects.filter(kind="info").values_list(
        "recipient__username", flat=True
    )
    assert list(welcomed) == ["bob"], "only a newly created user is welcomed"


def test_create_demo_data_refuses_without_debug_unless_forced(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--force"):
        run("create_demo_data")
    assert not get_user_model().objects.exists()

    assert "Created the demo data." in run("create_demo_data", "--force")
