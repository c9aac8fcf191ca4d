"""The HTTP API as a client sees it: every endpoint, its errors, auth, and the schema."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.api.serializers import NotificationSerializer
from notifications.delivery import messages
from notifications.delivery.payloads import notification_payload
from notifications.models import Notification
from tests.conftest import clear_cache
from tests.layer import listening

LIST = "/api/notifications/"
UNREAD_COUNT = "/api/notifications/unread-count/"
READ_ALL = "/api/notifications/read-all/"
PASSWORD = "correct-horse-battery-staple"  # tests/conftest.py's


def detail(pk: int) -> str:
    return f"/api/notifications/{pk}/"


def read(pk: int) -> str:
    return f"/api/notifications/{pk}/read/"


@pytest.fixture(autouse=True)
def _fresh_throttles_and_cheap_passwords(settings: Any) -> None:
    """Start each test with no throttle history; hash fixture passwords cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    clear_cache()


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    """A client signed in (session) as ``user``."""
    client.force_login(user)
    return client


@pytest.fixture
def send() -> Any:
    """Store ``n`` notifications for a user, oldest first; return them."""

    def make(user: Any, n: int = 1, **fields: Any) -> list[Notification]:
        stored = []
        for i in range(n):
            stored += services.notify(user, kind="test", title=f"Hello {i}", **fields)
        return stored

    return make


def bearer(token: Any) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def assert_error(response: Any, status: int) -> str:
    """Assert a JSON error with a ``detail``; return the detail."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


# --- Reading --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_is_newest_first_in_the_streams_shape(alice: Client, user: Any, send: Any) -> None:
    stored = send(user, 3, body="Body", url="/x/", data={"a": [1, 2]})
    services.mark_read(notifications=Notification.objects.filter(pk__in=[stored[0].pk]))

    response = alice.get(LIST)

    assert response.status_code == 200
    results = response.json()["results"]
    expected = [notification_payload(n) for n in Notification.objects.order_by("-seq")]
    assert results == json.loads(json.dumps(expected))
    assert [r["seq"] for r in results] == [3, 2, 1]
    assert [r["read"] for r in results] == [False, False, True]


@pytest.mark.django_db
def test_the_serializer_describes_exactly_the_payload(user: Any, send: Any) -> None:
    notification = send(user)[0]
    assert list(NotificationSerializer().fields) == list(notification_payload(notification))
    assert NotificationSerializer(notification).data == notification_payload(notification)


@pytest.mark.django_db
def test_pages_walk_every_notification_once_newest_first(
    alice: Client, user: Any, other_user: Any, send: Any
) -> None:
    stored = send(user, 45)
    send(other_user, 3)

    seen: list[int] = []
    sizes: list[int] = []
    url: str | None = LIST
    while url:
        page = alice.get(url).json()
        sizes.append(len(page["results"]))
        seen += [n["id"] for n in page["results"]]
        url = page["next"]

    assert sizes == [20, 20, 5]
    assert seen == [n.pk for n in reversed(stored)]


@pytest.mark.django_db
def test_page_size_is_chosen_by_the_client_up_to_100(alice: Client, user: Any, send: Any) -> None:
    send(user, 105)
    assert len(alice.get(LIST, {"page_size": 7}).json()["results"]) == 7
    assert len(alice.get(LIST, {"page_size": 1000}).json()["results"]) == 100
    assert len(alice.get(LIST, {"page_size": "lots"}).json()["results"]) == 20


@pytest.mark.django_db
def test_a_page_does_not_shift_when_new_notifications_arrive(
    alice: Client, user: Any, send: Any
) -> None:
    stored = send(user, 30)
    first = alice.get(LIST).json()
    send(user, 5)
    second = alice.get(first["next"]).json()
    assert [n["id"] for n in second["results"]] == [n.pk for n in reversed(stored[:10])]


@pytest.mark.django_db
def test_unread_true_lists_only_unread(alice: Client, user: Any, send: Any) -> None:
    stored = send(user, 4)
    services.mark_read(
        notifications=Notification.objects.filter(pk__in=[stored[1].pk, stored[2].pk])
    )

    unread = alice.get(LIST, {"unread": "true"}).json()["results"]
    everything = alice.get(LIST, {"unread": "false"}).json()["results"]

    assert [n["id"] for n in unread] == [stored[3].pk, stored[0].pk]
    assert len(everything) == 4


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["", "yes", "1", "True", "maybe"])
def test_unread_must_be_true_or_false(alice: Client, value: str) -> None:
    detail = assert_error(alice.get(LIST, {"unread": value}), 400)
    assert detail == f'unread: Must be "true" or "false", not "{value}".'


@pytest.mark.django_db
def test_a_bad_cursor_is_a_json_404(alice: Client) -> None:
    assert_error(alice.get(LIST, {"cursor": "garbage"}), 404)


@pytest.mark.django_db
def test_unread_count(alice: Client, user: Any, other_user: Any, send: Any) -> None:
    stored = send(user, 3)
    send(other_user, 2)
    services.mark_read(notifications=Notification.objects.filter(pk__in=[stored[0].pk]))
    assert alice.get(UNREAD_COUNT).json()["unread_count"] == 2


@pytest.mark.django_db
def test_detail_shows_ones_own_notification(alice: Client, user: Any, send: Any) -> None:
    notification = send(user)[0]
    response = alice.get(detail(notification.pk))
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(notification_payload(notification)))


# --- Ownership ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [("get", detail), ("post", read), ("delete", detail)],
    ids=["detail", "read", "delete"],
)
def test_another_users_notification_is_not_found(
    alice: Client, other_user: Any, send: Any, method: str, url: Any
) -> None:
    theirs = send(other_user)[0]

    assert_error(getattr(alice, method)(url(theirs.pk)), 404)

    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999"])
def test_a_missing_notification_is_a_json_404(alice: Client, pk: str) -> None:
    assert_error(alice.get(f"/api/notifications/{pk}/"), 404)
    assert_error(alice.post(f"/api/notifications/{pk}/read/"), 404)
    assert_error(alice.delete(f"/api/notifications/{pk}/"), 404)


# --- Writing --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_read_marks_one_and_says_what_changed(alice: Client, user: Any, send: Any) -> None:
    first, second = send(user, 2)

    response = alice.post(read(first.pk))

    assert response.status_code == 200
    assert response.json() == {"ids": [first.pk], "unread_count": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None
    assert second.read_at is None
    assert alice.post(read(first.pk)).json() == {"ids": [], "unread_count": 1}


@pytest.mark.django_db
def test_read_all_marks_only_ones_own(alice: Client, user: Any, other_user: Any, send: Any) -> None:
    mine = send(user, 3)
    services.mark_read(notifications=Notification.objects.filter(pk__in=[mine[0].pk]))
    theirs = send(other_user)[0]

    response = alice.post(READ_ALL)

    assert response.status_code == 200
    body = response.json()
    assert sorted(body["ids"]) == [mine[1].pk, mine[2].pk]
    assert body["unread_count"] == 0
    assert not Notification.objects.filter(recipient=user, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert alice.post(READ_ALL).json() == {"ids": [], "unread_count": 0}


@pytest.mark.django_db
def test_delete_removes_ones_own(alice: Client, user: Any, send: Any) -> None:
    doomed, kept = send(user, 2)

    response = alice.delete(detail(doomed.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert list(Notification.objects.values_list("pk", flat=True)) == [kept.pk]
    assert_error(alice.get(detail(doomed.pk)), 404)
    assert_error(alice.delete(detail(doomed.pk)), 404)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"), [("put", "/api/notifications/1/"), ("get", READ_ALL), ("post", LIST)]
)
def test_wrong_methods_are_json_405(
    alice: Client, user: Any, send: Any, method: str, url: str
) -> None:
    send(user)
    assert_error(getattr(alice, method)(url), 405)


# --- Authentication -------------------------------------------------------------------------

ENDPOINTS = [
    ("get", LIST),
    ("get", UNREAD_COUNT),
    ("get", "/api/notifications/1/"),
    ("post", "/api/notifications/1/read/"),
    ("post", READ_ALL),
    ("delete", "/api/notifications/1/"),
    ("post", "/api/events/ticket/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), ENDPOINTS)
def test_anonymous_requests_get_401_with_json_detail(
    client: Client, user: Any, send: Any, method: str, url: str
) -> None:
    send(user)
    response = getattr(client, method)(url)
    assert assert_error(response, 401) == "Authentication credentials were not provided."
    assert response["WWW-Authenticate"].startswith("Bearer")


def obtain(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/api/token/",
        {"username": username, "password": password},
        content_type="application/json",
    )


@pytest.mark.django_db
def test_a_token_pair_from_the_token_endpoint_authenticates(
    client: Client, user: Any, send: Any
) -> None:
    send(user, 2)
    tokens = obtain(client, "alice").json()

    response = client.get(UNREAD_COUNT, **bearer(tokens["access"]))
    assert response.json()["unread_count"] == 2
    # Bearer requests are not subject to CSRF: no cookie carries them.
    csrf_client = Client(enforce_csrf_checks=True)
    assert csrf_client.post(READ_ALL, **bearer(tokens["access"])).status_code == 200


@pytest.mark.django_db
def test_the_refresh_endpoint_issues_a_working_access_token(client: Client, user: Any) -> None:
    tokens = obtain(client, "alice").json()

    response = client.post(
        "/api/token/refresh/", {"refresh": tokens["refresh"]}, content_type="application/json"
    )

    assert response.status_code == 200
    assert client.get(UNREAD_COUNT, **bearer(response.json()["access"])).status_code == 200


@pytest.mark.django_db
def test_the_token_endpoints_refuse_bad_input_with_json_detail(client: Client, user: Any) -> None:
    assert_error(obtain(client, "alice", "wrong"), 401)
    missing = client.post("/api/token/", {}, content_type="application/json")
    assert assert_error(missing, 400) == "username: This field is required."
    assert set(missing.json()["errors"]) == {"username", "password"}
    access = obtain(client, "alice").json()["access"]
    refresh_with_access = client.post(
        "/api/token/refresh/", {"refresh": access}, content_type="application/json"
    )
    assert_error(refresh_with_access, 401)


@pytest.mark.django_db
def test_the_token_endpoint_is_throttled(client: Client, user: Any, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "2/min"},
    }
    assert obtain(client, "alice").status_code == 200
    assert obtain(client, "alice", "wrong").status_code == 401
    response = obtain(client, "alice")
    assert "throttled" in assert_error(response, 429)
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "expired", "refresh", "ticket"],
)
def test_only_access_tokens_authenticate_the_api(
    alice: Client, client: Client, user: Any, token: str
) -> None:
    if token == "expired":
        expired = AccessToken.for_user(user)
        expired.set_exp(lifetime=-expired.lifetime)
        token = str(expired)
    elif token == "refresh":
        token = obtain(Client(), "alice").json()["refresh"]
    elif token == "ticket":
        response = alice.post("/api/events/ticket/")
        assert response.json()["expires_in"] == 60
        token = response.json()["ticket"]
    anonymous = Client()
    assert_error(anonymous.get(LIST, **bearer(token)), 401)


@pytest.mark.django_db
def test_the_stream_ticket_endpoint(alice: Client) -> None:
    response = alice.post("/api/events/ticket/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == 60
    assert body["ticket"].count(".") == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"), [("post", READ_ALL), ("post", read), ("delete", detail)]
)
def test_session_writes_need_the_csrf_token(user: Any, send: Any, method: str, url: Any) -> None:
    notification = send(user)[0]
    path = url(notification.pk) if callable(url) else url
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    refused = getattr(browser, method)(path)
    assert assert_error(refused, 403).startswith("CSRF Failed")
    notification.refresh_from_db()
    assert notification.read_at is None

    browser.cookies["csrftoken"] = secret = "a" * 32
    assert getattr(browser, method)(path, HTTP_X_CSRFTOKEN=secret).status_code in (200, 204)


# --- Open streams hear about read-state changes ----------------------------------------------


def is_read_event(message: dict[str, Any]) -> bool:
    return message["type"] == messages.READ_STATE


@pytest.mark.django_db(transaction=True)
async def test_marking_read_through_the_api_reaches_open_streams(
    alice: Client, user: Any, send: Any
) -> None:
    first, _ = await sync_to_async(send)(user, 2)

    async with listening(user.pk) as listener:
        response = await sync_to_async(alice.post)(read(first.pk))
        assert response.status_code == 200
        message = (await listener.until(is_read_event))[-1]

    assert message["ids"] == [first.pk]
    assert message["unread_count"] == 1


@pytest.mark.django_db(transaction=True)
async def test_read_all_and_delete_through_the_api_reach_open_streams(
    alice: Client, user: Any, send: Any
) -> None:
    stored = await sync_to_async(send)(user, 3)

    async with listening(user.pk) as listener:
        await sync_to_async(alice.delete)(detail(stored[0].pk))
        deleted = (await listener.until(is_read_event))[-1]
        await sync_to_async(alice.post)(READ_ALL)
        all_read = (await listener.until(is_read_event))[-1]

    assert (deleted["ids"], deleted["unread_count"]) == ([], 2)
    assert sorted(all_read["ids"]) == [stored[1].pk, stored[2].pk]
    assert all_read["unread_count"] == 0


# --- The schema -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The OpenAPI schema, generated and validated as ``manage.py spectacular`` does."""
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    return json.loads(out.getvalue())


def test_the_schema_describes_every_endpoint(schema: dict[str, Any]) -> None:
    operations = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert operations == {
        ("POST", "/api/token/"),
        ("POST", "/api/token/refresh/"),
        ("GET", "/api/events/"),
        ("POST", "/api/events/ticket/"),
        ("GET", "/api/notifications/"),
        ("POST", "/api/notifications/{id}/archive/"),
        ("POST", "/api/notifications/{id}/unarchive/"),
        ("POST", "/api/notifications/{id}/snooze/"),
        ("POST", "/api/notifications/{id}/unsnooze/"),
        ("POST", "/api/notifications/read/"),
        ("POST", "/api/notifications/archive/"),
        ("POST", "/api/notifications/unarchive/"),
        ("GET", "/api/push/public-key/"),
        ("POST", "/api/push/subscriptions/"),
        ("DELETE", "/api/push/subscriptions/"),
        ("GET", "/api/notifications/unread-count/"),
        ("GET", "/api/notifications/{id}/"),
        ("DELETE", "/api/notifications/{id}/"),
        ("POST", "/api/notifications/{id}/read/"),
        ("POST", "/api/notifications/read-all/"),
        ("GET", "/api/preferences/"),
        ("PATCH", "/api/preferences/"),
    }
    listing = schema["paths"]["/api/notifications/"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "cursor",
        "page_size",
        "unread",
        "archived",
        "snoozed",
        "category",
    }
    assert set(schema["components"]["schemas"]["Notification"]["properties"]) == set(
        NotificationSerializer().fields
    )


def test_the_schema_describes_the_event_stream(schema: dict[str, Any]) -> None:
    stream = schema["paths"]["/api/events/"]["get"]
    ok = stream["responses"]["200"]["content"]["text/event-stream"]
    assert set(ok["x-sse-events"]) == {"connected", "notification", "read", "resync"}
    for event in ("connected", "notification", "read", "resync"):
        assert f"`{event}`" in stream["description"]
    for status in ("400", "401", "429"):
        assert "application/json" in stream["responses"][status]["content"]
    assert {p["name"] for p in stream["parameters"]} == {"Last-Event-ID", "last_event_id"}
    assert {"streamToken": []} in stream["security"]
    for ref in ok["x-sse-events"].values():
        assert ref["$ref"].rsplit("/", 1)[1] in schema["components"]["schemas"]


@pytest.mark.django_db
def test_the_schema_and_docs_are_served_without_a_cdn(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/events/" in response.json()["paths"]

    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr.net" not in page
