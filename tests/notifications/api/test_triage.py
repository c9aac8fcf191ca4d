"""Working through the inbox over HTTP: archive, snooze, categories, actions, bulk changes."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from notifications import services
from notifications.delivery import messages
from notifications.models import Notification
from tests.notifications.api.test_views import LIST, UNREAD_COUNT, assert_error
from tests.recipes import recipe

pytestmark = pytest.mark.django_db


def on(pk: int, action: str) -> str:
    return f"/api/notifications/{pk}/{action}/"


def post(client: Client, url: str, body: Any = None) -> Any:
    data = "" if body is None else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


def listed(client: Client, **query: str) -> list[int]:
    response = client.get(LIST, query)
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def count(client: Client) -> Any:
    response = client.get(UNREAD_COUNT)
    assert response.status_code == 200
    return response.json()


def soon(**delta: float) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def three(user: Any) -> list[Notification]:
    """Three unread notifications of ``user``: two of orders, one of the account."""
    return [
        *services.notify(
            user, kind="order.shipped", params={"number": 7, "total": 1.0}, data={"order": 7}
        ),
        *services.notify(
            user, kind="order.paid", params={"number": 8, "total": 2.0}, data={"order": 8}
        ),
        *services.notify(user, kind="account.security"),
    ]


def state_events(published: list[tuple[int, dict[str, Any]]], event: str) -> list[dict[str, Any]]:
    return [m for _, m in published if m["type"] == messages.STATE and m["event"] == event]


# --- Archive --------------------------------------------------------------------------------


def test_archive_hides_marks_read_and_tells_the_streams(
    alice: Client,
    three: list[Notification],
    published: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    shipped = three[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = post(alice, on(shipped.pk, "archive"))
    assert response.status_code == 204
    assert shipped.pk not in listed(alice)
    assert listed(alice, archived="true") == [shipped.pk]
    archived = alice.get(LIST, {"archived": "true"}).json()["results"][0]
    assert archived["archived"] is True and archived["read"] is True
    assert count(alice) == {"unread_count": 2, "by_category": {"orders": 1, "account": 1}}
    [event] = state_events(published, "archived")
    assert event["ids"] == [shipped.pk] and event["unread_count"] == 2

    with django_capture_on_commit_callbacks(execute=True):
        assert post(alice, on(shipped.pk, "unarchive")).status_code == 204
    assert shipped.pk in listed(alice) and listed(alice, archived="true") == []
    [back] = state_events(published, "unarchived")
    assert back["ids"] == [shipped.pk] and back["unread_count"] == 2
    [(payload, params)] = back["notifications"]
    assert payload["id"] == shipped.pk and payload["read"] is True and params["number"] == 7


def test_archiving_again_changes_nothing_and_tells_nobody(
    alice: Client,
    three: list[Notification],
    published: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    post(alice, on(three[0].pk, "archive"))
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(alice, on(three[0].pk, "archive")).status_code == 204
        assert post(alice, on(three[1].pk, "unarchive")).status_code == 204
    assert published == []


@pytest.mark.parametrize("action", ["archive", "unarchive", "snooze", "unsnooze"])
def test_another_users_notification_is_not_found(
    alice: Client, other_user: Any, action: str
) -> None:
    [theirs] = services.notify(other_user, kind="info", title="Theirs")
    assert_error(post(alice, on(theirs.pk, action), {"until": soon(hours=1)}), 404)
    theirs.refresh_from_db()
    assert theirs.archived_at is None and theirs.snoozed_until is None and not theirs.read


def test_signed_out_is_401(client: Client, three: list[Notification]) -> None:
    assert_error(post(client, on(three[0].pk, "archive")), 401)
    assert_error(post(client, "/api/notifications/archive/", {"ids": [three[0].pk]}), 401)


# --- Snooze ---------------------------------------------------------------------------------


def test_snooze_hides_until_then_and_comes_back_unread_once(
    alice: Client,
    three: list[Notification],
    published: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    paid = three[1]
    until = soon(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(alice, on(paid.pk, "snooze"), {"until": until}).status_code == 204
    assert paid.pk not in listed(alice)
    assert paid.pk not in listed(alice, unread="true")
    [snoozed] = alice.get(LIST, {"snoozed": "true"}).json()["results"]
    assert snoozed["id"] == paid.pk and snoozed["snoozed_until"] is not None
    assert count(alice)["by_category"] == {"orders": 1, "account": 1}
    [event] = state_events(published, "snoozed")
    assert event["ids"] == [paid.pk] and event["unread_count"] == 2 and event["until"]

    # Its time comes: the next reader (or any server's upkeep) brings it back, once.
    Notification.objects.filter(pk=paid.pk).update(snoozed_until=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert listed(alice)[:2] == [three[2].pk, paid.pk]
        assert count(alice)["unread_count"] == 3
    [woken] = state_events(published, "unsnoozed")
    assert woken["ids"] == [paid.pk] and woken["unread_count"] == 3
    assert woken["notifications"][0][0]["read"] is False
    assert services.wake_snoozed() == 0


def test_unsnooze_brings_it_back_now_unread(
    alice: Client,
    three: list[Notification],
    published: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    post(alice, on(three[0].pk, "read"))
    post(alice, on(three[0].pk, "snooze"), {"until": soon(days=3)})
    with django_capture_on_commit_callbacks(execute=True):
        assert post(alice, on(three[0].pk, "unsnooze")).status_code == 204
    three[0].refresh_from_db()
    assert three[0].snoozed_until is None and not three[0].read
    assert [e["ids"] for e in state_events(published, "unsnoozed")] == [[three[0].pk]]


@pytest.mark.parametrize(
    "body",
    [
        {"until": soon(minutes=-1)},
        {"until": soon(days=91)},
        {"until": "2030-01-01T09:00:00"},  # no zone
        {"until": "tomorrow"},
        {"until": "2030-02-30T09:00:00Z"},
        {"until": ""},
        {"until": None},
        {"until": ["2030-01-01T09:00:00Z"]},
        {},
        ["until"],
        "until",
    ],
)
def test_a_bad_snooze_is_400_and_changes_nothing(
    alice: Client, three: list[Notification], body: Any
) -> None:
    assert_error(post(alice, on(three[0].pk, "snooze"), body), 400)
    three[0].refresh_from_db()
    assert three[0].snoozed_until is None and not three[0].read


def test_snoozing_an_archived_one_takes_it_out_of_the_archive(
    alice: Client, three: list[Notification]
) -> None:
    post(alice, on(three[0].pk, "archive"))
    post(alice, on(three[0].pk, "snooze"), {"until": soon(hours=1)})
    assert listed(alice, archived="true") == []
    assert listed(alice, snoozed="true") == [three[0].pk]
    # And archiving a snoozed one ends the snooze.
    post(alice, on(three[0].pk, "archive"))
    assert listed(alice, snoozed="true") == [] and listed(alice, archived="true") == [three[0].pk]


# --- Categories -----------------------------------------------------------------------------


def test_the_list_filters_by_category(alice: Client, user: Any, three: list[Notification]) -> None:
    [free] = services.notify(user, kind="info", title="Free text")
    assert listed(alice, category="orders") == [three[1].pk, three[0].pk]
    assert listed(alice, category="account") == [three[2].pk]
    assert free.pk in listed(alice)
    assert count(alice) == {"unread_count": 4, "by_category": {"orders": 2, "account": 1}}


@pytest.mark.parametrize(
    "query",
    [
        {"category": "nope"},
        {"category": ""},
        {"archived": "yes"},
        {"snoozed": "1"},
        {"archived": "true", "snoozed": "true"},
    ],
)
def test_a_bad_filter_is_400(alice: Client, query: dict[str, str]) -> None:
    assert_error(alice.get(LIST, query), 400)


def test_a_payload_names_its_category_and_state(alice: Client, three: list[Notification]) -> None:
    items = alice.get(LIST).json()["results"]
    assert [item["category"] for item in items] == ["account", "orders", "orders"]
    assert all(item["archived"] is False and item["snoozed_until"] is None for item in items)


# --- Actions --------------------------------------------------------------------------------


def test_actions_are_filled_from_data_in_the_readers_language(
    alice: Client, three: list[Notification]
) -> None:
    shipped = alice.get(f"/api/notifications/{three[0].pk}/").json()
    assert shipped["actions"] == [
        {"label": "View order", "url": "/orders/7/"},
        {"label": "Track parcel", "url": "https://parcels.example.com/track/7"},
    ]
    german = alice.get(f"/api/notifications/{three[0].pk}/", HTTP_ACCEPT_LANGUAGE="de")
    assert [a["url"] for a in german.json()["actions"]] == [a["url"] for a in shipped["actions"]]
    assert german.json()["actions"][0]["label"] != "View order"
    account = alice.get(f"/api/notifications/{three[2].pk}/").json()
    assert account["actions"] == []


@pytest.mark.parametrize(
    ("data", "urls"),
    [
        ({}, []),  # no field to fill: no button rather than a broken one
        ({"order": None}, []),
        ({"order": {"nested": 1}}, []),
        ({"order": "../../admin"}, ["/orders/..%2F..%2Fadmin/"]),
        ({"order": "1?next=//evil.example"}, ["/orders/1%3Fnext%3D%2F%2Fevil.example/"]),
    ],
)
def test_data_can_fill_an_action_but_never_redirect_it(
    alice: Client, user: Any, data: dict[str, Any], urls: list[str]
) -> None:
    [paid] = services.notify(user, kind="order.paid", params={"number": 1, "total": 1}, data=data)
    actions = alice.get(f"/api/notifications/{paid.pk}/").json()["actions"]
    assert [a["url"] for a in actions] == urls


# --- Many at once ---------------------------------------------------------------------------


def test_bulk_archive_read_and_unarchive_pass_by_others_ids(
    alice: Client,
    other_user: Any,
    three: list[Notification],
    published: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    [theirs] = services.notify(other_user, kind="info", title="Theirs")
    ids = [three[0].pk, three[1].pk, theirs.pk]
    with django_capture_on_commit_callbacks(execute=True):
        read = post(alice, "/api/notifications/read/", {"ids": ids[:1]}).json()
        archived = post(alice, "/api/notifications/archive/", {"ids": ids}).json()
    assert read == {"ids": [three[0].pk], "unread_count": 2}
    assert sorted(archived["ids"]) == sorted(ids[:2]) and archived["unread_count"] == 1
    assert [e["ids"] for e in state_events(published, "archived")] == [sorted(ids[:2])]
    assert all(user_id != other_user.pk for user_id, _ in published)
    theirs.refresh_from_db()
    assert theirs.archived_at is None

    back = post(alice, "/api/notifications/unarchive/", {"ids": ids}).json()
    assert sorted(back["ids"]) == sorted(ids[:2]) and back["unread_count"] == 1
    again = post(alice, "/api/notifications/unarchive/", {"ids": ids}).json()
    assert again == {"ids": [], "unread_count": 1}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"ids": list(range(1, 102))},
        {"ids": "1,2"},
        {"ids": ["one"]},
        {"ids": [0]},
        {"ids": [2**63]},
        {"ids": [[1]]},
        [1, 2],
        None,
    ],
)
@pytest.mark.parametrize("action", ["read", "archive", "unarchive"])
def test_a_bad_bulk_body_is_400(
    alice: Client, three: list[Notification], action: str, body: Any
) -> None:
    assert_error(post(alice, f"/api/notifications/{action}/", body), 400)
    assert Notification.objects.filter(archived_at__isnull=False).count() == 0
    assert Notification.objects.filter(read_at__isnull=False).count() == 0


def test_the_readmes_categories_and_actions_pass_the_checks_and_show(
    settings: Any, alice: Client, user: Any
) -> None:
    example: dict[str, Any] = {}
    exec(recipe("readme-kind-actions"), example)
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, **example["NOTIFICATIONS"]}
    call_command("check", stdout=StringIO())  # raises SystemCheckError on any error

    [shipped] = services.notify(user, kind="order.shipped", title="Shipped", data={"order": 1042})
    item = alice.get(f"/api/notifications/{shipped.pk}/").json()
    assert item["category"] == "orders"
    assert item["actions"] == [
        {"label": "View order", "url": "/orders/1042/"},
        {"label": "Track parcel", "url": "https://parcels.example.com/track/1042"},
    ]
    assert count(alice)["by_category"] == {"orders": 1}
    assert listed(alice, category="orders") == [shipped.pk]
