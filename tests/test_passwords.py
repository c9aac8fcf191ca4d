"""Password reset sends a limited number of emails per address and per client, and answers
the same whether the address has an account or not."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from tests.conftest import clear_cache

pytestmark = pytest.mark.django_db

RESET = "/accounts/password_reset/"
DONE = "/accounts/password_reset/done/"


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    """Small limits, fresh counts, one proxy in front (as ``NUM_PROXIES=1``), cheap hashes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PASSWORD_RESET_PER_ADDRESS = 3
    settings.PASSWORD_RESET_PER_CLIENT = 5
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    clear_cache()


def reset(email: str, client_ip: str = "203.0.113.9", **headers: str) -> Any:
    """Ask for a reset from ``client_ip``, as the nearest proxy reports it."""
    headers.setdefault("HTTP_X_FORWARDED_FOR", client_ip)
    return Client().post(RESET, {"email": email}, REMOTE_ADDR="10.0.0.1", **headers)


def answer(response: Any) -> tuple[int, str | None, str]:
    """What a client can see of a response, but for the CSRF token a page carries."""
    body = "" if response.status_code == 302 else response.content.decode()
    return response.status_code, response.get("Location"), body


def test_an_address_gets_a_few_emails_then_none(user: Any) -> None:
    responses = [reset(user.email, f"198.51.100.{i}") for i in range(6)]

    assert len(mail.outbox) == 3
    assert {message.to[0] for message in mail.outbox} == {user.email}
    assert [answer(r) for r in responses] == [(302, DONE, "")] * 6


def test_the_address_is_counted_in_any_letter_case(user: Any) -> None:
    for i, email in enumerate(["alice@example.com", "ALICE@example.com", "Alice@Example.com"]):
        reset(email, f"198.51.100.{i}")
    reset("aLiCe@example.COM", "198.51.100.9")

    assert len(mail.outbox) == 3


def test_a_known_and_an_unknown_address_get_the_same_answers(user: Any) -> None:
    known = [answer(reset(user.email, f"198.51.100.{i}")) for i in range(5)]
    sent = len(mail.outbox)
    unknown = [answer(reset("nobody@example.com", f"192.0.2.{i}")) for i in range(5)]

    assert known == unknown
    assert sent == 3
    assert len(mail.outbox) == 3, "an unknown address was sent an email"


def test_a_client_gets_a_few_resets_then_a_429(make_user: Any) -> None:
    emails = [make_user(f"user{i}").email for i in range(7)]

    responses = [reset(email) for email in emails]

    assert len(mail.outbox) == 5
    assert [r.status_code for r in responses] == [302] * 5 + [429] * 2
    assert responses[-1]["Retry-After"] == "3600"
    assert "Too many password reset requests" in responses[-1].content.decode()
    # Another client is still served.
    assert reset(emails[-1], "192.0.2.1").status_code == 302
    assert len(mail.outbox) == 6


def test_the_client_limit_counts_unknown_addresses_alike(user: Any) -> None:
    unknown = [reset(f"nobody{i}@example.com") for i in range(5)]

    assert [r.status_code for r in unknown] == [302] * 5
    assert reset(user.email).status_code == 429
    assert mail.outbox == []


def test_a_client_cannot_dodge_the_limit_with_its_own_x_forwarded_for(
    settings: Any, make_user: Any
) -> None:
    """Without a proxy in front the header is the client's own text, and is not believed."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    emails = [make_user(f"user{i}").email for i in range(6)]

    statuses = [reset(email, f"198.51.100.{i}").status_code for i, email in enumerate(emails)]

    assert statuses == [302] * 5 + [429]
    assert len(mail.outbox) == 5


def test_a_client_behind_the_proxy_cannot_prepend_addresses_to_dodge_it(make_user: Any) -> None:
    emails = [make_user(f"user{i}").email for i in range(6)]

    statuses = [
        reset(email, HTTP_X_FORWARDED_FOR=f"1.1.1.{i}, 203.0.113.9").status_code
        for i, email in enumerate(emails)
    ]

    assert statuses == [302] * 5 + [429]


def test_the_reset_form_still_renders_and_refuses_a_malformed_address() -> None:
    assert Client().get(RESET).status_code == 200
    response = reset("not an address")
    assert response.status_code == 200
    assert mail.outbox == []
