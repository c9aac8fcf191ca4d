"""Throttles and log-in lockouts count real clients, not what a client writes in a header."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from notifications.api.addresses import client_address
from tests.conftest import clear_cache

PASSWORD = "correct-horse-battery-staple"  # tests/conftest.py's


@pytest.fixture(autouse=True)
def _fresh_counts_and_cheap_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 3
    clear_cache()


@pytest.fixture
def proxies(settings: Any) -> Any:
    def set_proxies(count: int) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return set_proxies


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "127.0.0.1"),
        (0, "", "127.0.0.1"),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        (2, "1.1.1.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (1, "1.1.1.1, not-an-address", "127.0.0.1"),
        (1, "", "127.0.0.1"),
        (1, " 2001:DB8::1 ", "2001:db8::1"),
    ],
)
def test_client_address(proxies: Any, count: int, forwarded: str, expected: str) -> None:
    proxies(count)
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_unset_num_proxies_trusts_no_header(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        k: v for k, v in settings.REST_FRAMEWORK.items() if k != "NUM_PROXIES"
    }
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_address(request) == "127.0.0.1"


def obtain(client: Client, username: str, password: str, forwarded: str) -> Any:
    return client.post(
        "/api/token/",
        {"username": username, "password": password},
        content_type="application/json",
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
def test_a_new_x_forwarded_for_each_time_does_not_dodge_the_token_throttle(
    settings: Any, user: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "5/min"},
    }
    settings.AXES_ENABLED = False
    client = Client()
    statuses = [obtain(client, "alice", "wrong", f"198.51.100.{i}").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]


@pytest.mark.django_db
def test_behind_a_proxy_the_throttle_counts_the_address_it_added(
    settings: Any, proxies: Any, user: Any
) -> None:
    proxies(1)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "2/min"},
    }
    settings.AXES_ENABLED = False
    client = Client()
    # The client writes a new first entry each time; the proxy appends the same address.
    first = [obtain(client, "alice", "wrong", f"10.9.9.{i}, 203.0.113.1") for i in range(3)]
    assert [r.status_code for r in first] == [401, 401, 429]
    # Another client behind the same proxy is counted apart.
    assert obtain(client, "alice", PASSWORD, "203.0.113.2").status_code == 200


def log_in(client: Client, username: str, password: str, forwarded: str = "") -> Any:
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
def test_the_log_in_page_locks_out_a_client_after_repeated_failures(user: Any) -> None:
    client = Client()
    statuses = [log_in(client, "alice", "wrong", f"198.51.100.{i}").status_code for i in range(3)]
    # The form again with its error, until the failure that reaches the limit.
    assert statuses == [200, 200, 429]
    refused = log_in(client, "alice", PASSWORD, "198.51.100.99")
    assert refused.status_code == 429
    assert b"Too many failed log-in attempts" in refused.content
    assert int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302  # still not logged in


@pytest.mark.django_db
def test_one_username_is_locked_out_whichever_client_tries(
    proxies: Any, user: Any, other_user: Any
) -> None:
    proxies(1)
    client = Client()
    for i in range(3):
        log_in(client, "alice", "wrong", f"203.0.113.{i}")
    assert log_in(client, "alice", PASSWORD, "203.0.113.50").status_code == 429
    # Another user, from another client, is not locked out.
    assert log_in(client, "bob", PASSWORD, "203.0.113.51").status_code == 302


@pytest.mark.django_db
def test_a_success_before_the_limit_resets_the_count(user: Any) -> None:
    client = Client()
    for _ in range(2):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_admin_log_in_is_locked_out_too(staff_user: Any) -> None:
    client = Client()
    for _ in range(3):
        client.post("/admin/login/", {"username": "staff", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "staff", "password": PASSWORD})
    assert response.status_code == 429


@pytest.mark.django_db
def test_a_locked_out_username_gets_a_json_429_from_the_token_endpoint(user: Any) -> None:
    client = Client()
    statuses = [obtain(client, "alice", "wrong", "").status_code for _ in range(3)]
    assert statuses[:2] == [401, 401]
    response = obtain(client, "alice", PASSWORD, "")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "Too many failed log-in attempts" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
