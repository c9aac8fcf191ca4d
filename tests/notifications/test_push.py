"""Web Push end to end against a local push service that checks VAPID and decrypts
(``tests/push_service.py``): what is pushed, to whom, and what a failing service does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from notifications import services
from notifications.models import Notification, Preference, PushSubscription
from notifications.push import keys
from notifications.push.sender import sender
from notifications.stream.limits import new_slot, slots
from tests.push_service import PushService, Subscription
from tests.recipes import recipe, shell_commands

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_password_hashing"),
]

SUBJECT = "mailto:ops@example.com"


@pytest.fixture
def vapid(settings: Any) -> keys.VapidKeys:
    pair = keys.generate()
    configured = {"PRIVATE_KEY": pair.private_key, "PUBLIC_KEY": pair.public_key}
    settings.NOTIFICATIONS = {
        **settings.NOTIFICATIONS,
        "WEBPUSH": {**configured, "SUBJECT": SUBJECT},
    }
    return keys.VapidKeys(pair.private_key, pair.public_key, SUBJECT)


@pytest.fixture
def service(vapid: keys.VapidKeys) -> Iterator[PushService]:
    with PushService(expected_public_key=vapid.public_key) as service:
        yield service
    # What the test left in flight (retries to a service that is gone) ends here, not in
    # the next test.
    assert sender().drain(timeout=60)


def subscribed(service: PushService, user: Any) -> Subscription:
    browser = service.subscribe()
    keys_ = browser.info["keys"]
    PushSubscription.objects.create(
        user=user, endpoint=browser.endpoint, p256dh=keys_["p256dh"], auth=keys_["auth"]
    )
    return browser


def shipped(user: Any, number: int = 1042) -> Notification:
    [stored] = services.notify(
        user, kind="order.shipped", params={"number": number}, url=f"/orders/{number}/"
    )
    return stored


def test_a_user_with_no_stream_gets_one_push_per_notification(
    service: PushService, user: Any, vapid: keys.VapidKeys
) -> None:
    browser = subscribed(service, user)
    first, second = shipped(user, 1), shipped(user, 2)
    assert sender().drain()
    deliveries = service.wait_for(2)
    assert sorted(d.json()["id"] for d in deliveries) == [first.pk, second.pk]
    delivery = next(d for d in deliveries if d.json()["id"] == first.pk)
    assert delivery.json() == {
        "id": first.pk,
        "seq": first.seq,
        "kind": "order.shipped",
        "title": "Order #1 shipped",
        "body": "Your order is on its way.",
        "url": "/orders/1/",
    }
    assert delivery.claims["sub"] == SUBJECT and delivery.vapid_key == vapid.public_key
    assert delivery.ttl > 0 and delivery.urgency == "normal"
    assert delivery.subscription_id == browser.id
    assert service.refusals() == []


def test_the_push_is_in_the_users_language(service: PushService, user: Any, client: Client) -> None:
    subscribed(service, user)
    client.force_login(user)
    assert (
        client.patch(
            "/api/preferences/", {"language": "de"}, content_type="application/json"
        ).status_code
        == 200
    )
    shipped(user)
    [delivery] = service.wait_for(1)
    assert delivery.json()["title"] not in ("", "Order #1042 shipped")
    assert "1042" in delivery.json()["title"]


def test_no_push_while_a_stream_is_open_and_one_once_it_is_closed(
    service: PushService, user: Any
) -> None:
    subscribed(service, user)
    slot = new_slot(user.pk)
    asyncio.run(slots().take(slot, evict=False))
    try:
        shipped(user, 1)
        assert sender().drain()
    finally:
        asyncio.run(slots().release(slot))
    shipped(user, 2)
    assert sender().drain()
    [delivery] = service.wait_for(1)
    assert delivery.json()["title"] == "Order #2 shipped"
    assert len(service.deliveries()) == 1


def test_kinds_and_choices_decide(service: PushService, user: Any) -> None:
    subscribed(service, user)
    services.notify(user, kind="order.placed", params={"number": 1, "total": 1})  # push: off
    services.notify(user, kind="info", title="Unregistered kinds are never pushed")
    Preference.objects.create(user=user, kind="order.shipped", push=False, email=True)
    shipped(user)
    assert sender().drain()
    assert service.deliveries() == []


def test_every_subscription_of_the_user_gets_it(service: PushService, user: Any) -> None:
    phone, laptop = subscribed(service, user), subscribed(service, user)
    stored = shipped(user)
    service.wait_for(2)
    assert {d.subscription_id for d in service.deliveries()} == {phone.id, laptop.id}
    assert all(d.json()["id"] == stored.pk for d in service.deliveries())


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deleted(service: PushService, user: Any, status: int) -> None:
    browser = subscribed(service, user)
    browser.respond_with(status)
    shipped(user)
    assert sender().drain()
    assert not PushSubscription.objects.filter(endpoint=browser.endpoint).exists()


def test_a_failure_that_passes_is_retried_once_more(service: PushService, user: Any) -> None:
    browser = subscribed(service, user)
    browser.respond_with(503, times=1, retry_after=1)
    stored = shipped(user)
    [delivery] = service.wait_for(1, timeout=30)
    assert delivery.json()["id"] == stored.pk
    assert [r.status for r in service.refusals()] == [503]
    assert PushSubscription.objects.filter(endpoint=browser.endpoint).exists()


def test_a_refusal_is_not_retried(service: PushService, user: Any) -> None:
    browser = subscribed(service, user)
    browser.respond_with(400)
    shipped(user)
    assert sender().drain()
    assert [r.status for r in service.refusals()] == [400]


def test_a_hanging_push_service_delays_neither_notify_nor_other_pushes(
    service: PushService, user: Any, other_user: Any
) -> None:
    stuck = subscribed(service, user)
    stuck.hang()
    subscribed(service, other_user)
    started = time.monotonic()
    services.notify([user, other_user], kind="order.shipped", params={"number": 5})
    returned_after = time.monotonic() - started
    [delivery] = service.wait_for(1, hanging=1)
    assert delivery.json()["title"] == "Order #5 shipped"
    # notify() only queued the pushes: it returned before the hung one could have answered.
    assert service.hanging(stuck) == 1 and returned_after < 5


def test_without_keys_nothing_is_queued(settings: Any, user: Any) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBPUSH": None}
    PushSubscription.objects.create(
        user=user, endpoint="https://push.example/1", p256dh="x", auth="y"
    )
    before = sender()._loop
    shipped(user)
    assert sender()._loop is before  # no thread was started for it


# --- keys -----------------------------------------------------------------------------------


def test_the_command_prints_a_pair_the_check_accepts(settings: Any) -> None:
    out = StringIO()
    call_command("generate_vapid_keys", stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    spec = {
        "PRIVATE_KEY": lines["WEBPUSH_PRIVATE_KEY"],
        "PUBLIC_KEY": lines["WEBPUSH_PUBLIC_KEY"],
        "SUBJECT": SUBJECT,
    }
    assert keys.validate(spec).public_key == spec["PUBLIC_KEY"]
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBPUSH": spec}
    call_command("check", stdout=StringIO())


@pytest.mark.parametrize(
    "change",
    [
        {"PRIVATE_KEY": "not base64!"},
        {"PRIVATE_KEY": "AAAA"},
        {"PUBLIC_KEY": keys.generate().public_key},  # another pair's half
        {"SUBJECT": "ops@example.com"},
        {"SUBJECT": 7},
    ],
)
def test_the_check_refuses_keys_that_could_not_sign(settings: Any, change: dict[str, Any]) -> None:
    pair = keys.generate()
    spec = {"PRIVATE_KEY": pair.private_key, "PUBLIC_KEY": pair.public_key, "SUBJECT": SUBJECT}
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "WEBPUSH": {**spec, **change}}
    assert [e.id for e in keys.check_keys()] == ["notifications.E009"]


def test_the_readmes_keys_and_settings_turn_push_on(
    settings: Any, monkeypatch: pytest.MonkeyPatch, service: PushService, user: Any
) -> None:
    ((python, manage, name),) = shell_commands(recipe("readme-webpush-keys"))
    assert (python, manage) == ("python", "manage.py")
    out = StringIO()
    call_command(name, stdout=out)
    for line in out.getvalue().split():
        variable, value = line.split("=", 1)
        monkeypatch.setenv(variable, value)
    example: dict[str, Any] = {}
    exec(recipe("readme-webpush-settings"), example)
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, **example["NOTIFICATIONS"]}
    call_command("check", stdout=StringIO())
    service.expected_public_key = example["NOTIFICATIONS"]["WEBPUSH"]["PUBLIC_KEY"]

    subscribed(service, user)
    services.notify(user, kind="order.shipped", title="Shipped")
    [delivery] = service.wait_for(1)
    assert delivery.json()["title"] == "Shipped"
    assert delivery.claims["sub"] == "mailto:ops@shop.example.com"


def test_the_admin_lists_subscriptions_and_lets_staff_delete_one(
    service: PushService, user: Any, staff_user: Any
) -> None:
    browser = subscribed(service, user)
    staff = Client()
    staff.force_login(staff_user)
    listing = staff.get("/admin/notifications/pushsubscription/")
    assert listing.status_code == 200 and b"127.0.0.1" in listing.content
    [row] = PushSubscription.objects.all()
    assert staff.get(f"/admin/notifications/pushsubscription/{row.pk}/change/").status_code == 200
    deleted = staff.post(f"/admin/notifications/pushsubscription/{row.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not PushSubscription.objects.filter(endpoint=browser.endpoint).exists()
