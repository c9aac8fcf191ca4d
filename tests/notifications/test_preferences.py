"""Preferences per kind: read with the defaults, changed whole, and obeyed by notify()."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from notifications import preferences, services
from notifications.conf import conf
from notifications.models import Notification, Preference

pytestmark = pytest.mark.django_db

KINDS = {
    "order.shipped": {"label": "Order shipped", "critical": False, "email": True},
    "order.placed": {"label": "Order placed", "critical": False, "email": False},
    "account.security": {"label": "Account security", "critical": True, "email": True},
}


@pytest.fixture(autouse=True)
def kinds(settings: Any) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "KINDS": KINDS}


def by_kind(user: Any) -> dict[str, tuple[bool, bool]]:
    return {c.kind: (c.in_app, c.email) for c in preferences.choices_for(user.pk)}


def test_a_user_without_choices_gets_the_defaults_in_the_settings_order(
    user: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
        choices = preferences.choices_for(user.pk)
    assert [dataclasses.asdict(c) for c in choices] == [
        {
            "kind": "order.shipped",
            "label": "Order shipped",
            "in_app": True,
            "email": True,
            "critical": False,
            "push": False,
        },
        {
            "kind": "order.placed",
            "label": "Order placed",
            "in_app": True,
            "email": False,
            "critical": False,
            "push": False,
        },
        {
            "kind": "account.security",
            "label": "Account security",
            "in_app": True,
            "email": True,
            "critical": True,
            "push": False,
        },
    ]


def test_a_change_keeps_the_other_switch_and_only_touches_this_user(
    user: Any, other_user: Any, django_assert_num_queries: Any
) -> None:
    preferences.change(user_id=user.pk, changes={"order.shipped": {"email": False}})
    preferences.change(user_id=user.pk, changes={"order.placed": {"in_app": False}})
    with django_assert_num_queries(1):
        mine = by_kind(user)
    assert mine == {
        "order.shipped": (True, False),
        "order.placed": (False, False),
        "account.security": (True, True),
    }
    assert by_kind(other_user)["order.shipped"] == (True, True)


@pytest.mark.parametrize(
    "changes",
    [
        {"order.shipped": {"email": False}, "nope": {"email": False}},
        {"order.shipped": {"email": False}, "account.security": {"in_app": False}},
        {"order.shipped": {"email": False}, "account.security": {"email": False}},
        {"order.shipped": {"email": "false"}},
        {"order.shipped": {"email": 0}},
        {"order.shipped": {"sms": True}},
        {"order.shipped": {}},
        {"order.shipped": True},
        ["order.shipped"],
        "order.shipped",
    ],
)
def test_a_refused_change_changes_nothing(user: Any, changes: Any) -> None:
    with pytest.raises(preferences.InvalidPreferences):
        preferences.change(user_id=user.pk, changes=changes)
    assert not Preference.objects.exists()


def test_notify_skips_who_muted_the_kind_and_returns_what_it_stored(
    user: Any, other_user: Any, make_user: Any
) -> None:
    carol = make_user("carol")
    preferences.change(user_id=user.pk, changes={"order.shipped": {"in_app": False}})
    stored = services.notify([user, other_user, carol], kind="order.shipped", title="Shipped")
    assert sorted(n.recipient_id for n in stored) == sorted([other_user.pk, carol.pk])
    assert not Notification.objects.filter(recipient=user).exists()
    # Another kind still reaches them.
    assert len(services.notify(user, kind="order.placed", title="Placed")) == 1


def test_unregistered_and_critical_kinds_are_always_delivered(user: Any) -> None:
    Preference.objects.create(user=user, kind="account.security", in_app=False, email=False)
    assert len(services.notify(user, kind="account.security", title="Password changed")) == 1
    assert len(services.notify(user, kind="something.else", title="Hello")) == 1


def test_one_kind_is_read_as_the_whole_list_reads_it() -> None:
    assert {name: conf.kind(name) for name in KINDS} == conf.KINDS
    assert conf.kind("something.else") is None


def test_muted_recipients_are_skipped_in_one_query_however_many(
    make_user: Any, django_assert_max_num_queries: Any, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user_model = get_user_model()
    user_model.objects.bulk_create([user_model(username=f"u{i:04d}") for i in range(1_500)])
    ids = sorted(user_model.objects.values_list("pk", flat=True))
    Preference.objects.bulk_create(
        [Preference(user_id=pk, kind="order.shipped", in_app=False) for pk in ids[::3]]
    )
    for some in (ids[:10], ids):  # asked by id, and (above 1,000) as the kind's whole list
        with django_assert_max_num_queries(1):
            kept = preferences.deliverable(some, kind="order.shipped")
        assert kept == [pk for pk in some if pk not in set(ids[::3])]
    stored = services.notify(user_model.objects.filter(pk__in=ids), kind="order.shipped", title="x")
    assert len(stored) == len(ids) - len(ids[::3])


def test_turning_email_off_ignores_critical_and_unknown_kinds(user: Any) -> None:
    off = preferences.turn_email_off(
        user_id=user.pk, kinds=["order.shipped", "account.security", "gone"]
    )
    assert off == ["order.shipped"]
    assert by_kind(user)["order.shipped"] == (True, False)
    assert by_kind(user)["account.security"] == (True, True)
