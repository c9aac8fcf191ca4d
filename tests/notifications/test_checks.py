"""The system checks that refuse a ``NOTIFICATIONS`` setting streams would misbehave with."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from notifications.checks import check_settings


def error_ids(notifications: Any) -> list[str]:
    with override_settings(NOTIFICATIONS=notifications):
        return [error.id for error in check_settings()]


def test_the_defaults_pass():
    assert error_ids({}) == []


def test_the_projects_own_settings_pass():
    assert check_settings() == []


def test_a_setting_that_is_not_a_dict_is_refused():
    assert error_ids(["HEARTBEAT_SECONDS", 30]) == ["notifications.E001"]


def test_an_unknown_key_is_named_with_the_known_ones():
    with override_settings(NOTIFICATIONS={"HEARTBEAT_SECOND": 30}):
        [error] = check_settings()

    assert error.id == "notifications.E002"
    assert "'HEARTBEAT_SECOND'" in error.msg
    assert "HEARTBEAT_SECONDS" in error.hint


@pytest.mark.parametrize("value", [0, -1, "30", None, True, float("nan"), float("inf")])
def test_a_number_that_is_not_positive_is_refused(value):
    with override_settings(NOTIFICATIONS={"HEARTBEAT_SECONDS": value}):
        [error] = check_settings()

    assert error.id == "notifications.E003"
    assert "HEARTBEAT_SECONDS" in error.msg


@pytest.mark.parametrize("value", [1, 0.5])
def test_positive_numbers_pass(value):
    assert error_ids({"POLL_SECONDS": value, "REPLAY_LIMIT": value}) == []


def test_on_limit_must_be_reject_or_evict_oldest():
    assert error_ids({"ON_LIMIT": "evict_oldest"}) == []
    assert error_ids({"ON_LIMIT": "queue"}) == ["notifications.E004"]


def test_every_problem_is_reported_at_once():
    assert error_ids({"RETRY_MILLISECONDS": -5, "ON_LIMIT": "drop", "COLOUR": "red"}) == [
        "notifications.E002",
        "notifications.E003",
        "notifications.E004",
    ]


def test_the_checks_run_with_djangos_own():
    with override_settings(NOTIFICATIONS={"ON_LIMIT": "queue"}):
        assert "notifications.E004" in [error.id for error in run_checks()]


@pytest.mark.parametrize(
    "kinds",
    [
        ["order.shipped"],
        {"order.shipped": "Order shipped"},
        {"order.shipped": {"label": ""}},
        {"order.shipped": {"label": 7}},
        {"order.shipped": {"critical": "yes"}},
        {"order.shipped": {"email": 1}},
        {"order.shipped": {"mail": True}},
        {"": {"label": "Nameless"}},
        {"x" * 65: {"label": "Too long to store"}},
        {"order.shipped": {"category": ""}},
        {"order.shipped": {"category": 7}},
        {"order.shipped": {"actions": {"label": "View", "url": "/orders/"}}},
        {"order.shipped": {"actions": [{"label": "View"}]}},
        {"order.shipped": {"actions": [{"label": "", "url": "/orders/"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "/o/", "target": "_blank"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "/orders/{order.pk}/"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "/orders/{0}/"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "{link}"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "javascript:{code}"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "//evil.example/{x}"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "https://{host}/x"}]}},
        {"order.shipped": {"actions": [{"label": "View", "url": "orders/{order}/"}]}},
    ],
)
def test_malformed_kinds_are_refused(kinds: Any) -> None:
    assert set(error_ids({"KINDS": kinds})) == {"notifications.E005"}


def test_well_formed_kinds_pass() -> None:
    kinds = {
        "order.shipped": {"label": "Order shipped", "critical": False, "email": True},
        "account.security": {"label": "Account security", "critical": True},
        "bare": {},
        "order.paid": {
            "category": "orders",
            "actions": [
                {"label": "View", "url": "/orders/{order}/"},
                {"label": "Track", "url": "https://parcels.example/track?n={order}"},
            ],
        },
    }
    assert error_ids({"KINDS": kinds, "EMAIL_AFTER_MINUTES": 0}) == []


@pytest.mark.parametrize(
    "categories", [["orders"], {"orders": 7}, {"": "Nameless"}, {7: "Seven"}, "orders"]
)
def test_malformed_categories_are_refused(categories: Any) -> None:
    assert error_ids({"CATEGORIES": categories}) == ["notifications.E008"]


@pytest.mark.parametrize("minutes", [-1, "15", None, float("nan"), True])
def test_a_bad_email_delay_is_refused(minutes: Any) -> None:
    assert error_ids({"EMAIL_AFTER_MINUTES": minutes}) == ["notifications.E006"]


@pytest.mark.parametrize("value", [0, -1, "1MiB", None])
def test_the_slow_client_buffer_must_be_a_positive_number_of_bytes(value):
    assert error_ids({"SLOW_CLIENT_BUFFER_BYTES": value}) == ["notifications.E003"]
    assert error_ids({"SLOW_CLIENT_BUFFER_BYTES": 65_536}) == []
