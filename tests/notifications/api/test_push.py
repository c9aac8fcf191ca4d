"""``/api/push/``: the VAPID public key, and browsers subscribing and unsubscribing."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from django.test import Client

from notifications.models import PushSubscription
from notifications.push import keys
from tests.notifications.api.test_views import assert_error

pytestmark = pytest.mark.django_db

KEY = "/api/push/public-key/"
SUBSCRIPTIONS = "/api/push/subscriptions/"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser(endpoint: str = "https://push.example.net/send/abc") -> dict[str, Any]:
    """A ``PushSubscription.toJSON()`` as a browser writes it."""
    point = b"\x04" + os.urandom(64)
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))},
    }


@pytest.fixture
def vapid(settings: Any) -> keys.VapidKeys:
    pair = keys.generate()
    spec = {
        "PRIVATE_KEY": pair.private_key,
        "PUBLIC_KEY": pair.public_key,
        "SUBJECT": "mailto:ops@example.com",
    }
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBPUSH": spec}
    return pair


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def post(client: Client, body: Any) -> Any:
    return client.post(SUBSCRIPTIONS, body, content_type="application/json")


def delete(client: Client, body: Any) -> Any:
    return client.delete(SUBSCRIPTIONS, body, content_type="application/json")


def test_without_keys_push_is_off_and_says_so(client: Client, alice: Client) -> None:
    assert "not configured" in assert_error(client.get(KEY), 404)
    assert "not configured" in assert_error(post(alice, browser()), 404)
    assert not PushSubscription.objects.exists()


def test_the_public_key_is_public(client: Client, vapid: keys.VapidKeys) -> None:
    response = client.get(KEY)
    assert response.status_code == 200
    assert response.json() == {"public_key": vapid.public_key}


def test_a_browser_subscribes_once_and_renews(alice: Client, user: Any, vapid: Any) -> None:
    first = browser()
    assert post(alice, first).status_code == 201
    renewed = {**first, "keys": browser()["keys"]}
    assert post(alice, renewed).status_code == 200
    [stored] = PushSubscription.objects.all()
    assert stored.user == user and stored.p256dh == renewed["keys"]["p256dh"]


def test_the_same_browser_for_another_user_follows_the_last_one(
    alice: Client, other_user: Any, vapid: Any
) -> None:
    info = browser()
    post(alice, info)
    bob = Client()
    bob.force_login(other_user)
    assert post(bob, info).status_code == 200
    assert PushSubscription.objects.get().user == other_user


@pytest.mark.parametrize(
    "body",
    [
        {**browser(), "endpoint": "http://push.example.net/send/abc"},
        {**browser(), "endpoint": "javascript:alert(1)"},
        {**browser(), "endpoint": "https://"},
        {**browser(), "endpoint": "https://user:pw@push.example.net/x"},
        {**browser(), "endpoint": "https://push.example.net/" + "a" * 3000},
        {**browser(), "endpoint": "https://push.example.net/a b"},
        {**browser(), "endpoint": 7},
        {**browser(), "keys": {"p256dh": b64(b"\x04" + os.urandom(10)), "auth": b64(b"1" * 16)}},
        {**browser(), "keys": {"p256dh": b64(b"\x02" + os.urandom(64)), "auth": b64(b"1" * 16)}},
        {**browser(), "keys": {"p256dh": browser()["keys"]["p256dh"], "auth": "short"}},
        {**browser(), "keys": {"p256dh": "!!not-base64!!", "auth": b64(b"1" * 16)}},
        {**browser(), "keys": None},
        {"endpoint": "https://push.example.net/x"},
        [],
        "subscription",
    ],
)
def test_a_malformed_subscription_is_400(alice: Client, vapid: Any, body: Any) -> None:
    assert_error(post(alice, body), 400)
    assert not PushSubscription.objects.exists()


def test_plain_http_endpoints_only_under_debug(alice: Client, vapid: Any, settings: Any) -> None:
    settings.DEBUG = True
    assert post(alice, browser("http://127.0.0.1:9999/push/1")).status_code == 201


def test_signed_out_is_401(client: Client, vapid: Any) -> None:
    assert_error(post(client, browser()), 401)
    assert_error(delete(client, {"endpoint": "https://push.example.net/send/abc"}), 401)


def test_unsubscribe_forgets_only_ones_own(alice: Client, other_user: Any, vapid: Any) -> None:
    mine, theirs = browser("https://push.example.net/1"), browser("https://push.example.net/2")
    post(alice, mine)
    bob = Client()
    bob.force_login(other_user)
    post(bob, theirs)
    assert_error(delete(alice, {"endpoint": theirs["endpoint"]}), 404)
    assert delete(alice, {"endpoint": mine["endpoint"]}).status_code == 204
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [theirs["endpoint"]]
    assert_error(delete(alice, {"endpoint": mine["endpoint"]}), 404)
    assert_error(delete(alice, {}), 400)
    assert_error(delete(alice, ["x"]), 400)
