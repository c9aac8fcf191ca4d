"""Malformed and hostile requests, one per kind the API once answered with a 500 or let
through: each gets a clear 4xx with a JSON ``detail`` (a plain 404 outside /api/)."""

from __future__ import annotations

import base64
import threading
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.api import schema_views
from notifications.models import Notification
from project.asgi import application
from tests.sse_client import AsgiStream

PASSWORD = "correct-horse-battery-staple"  # tests/conftest.py's


def assert_error(response: Any, status: int) -> str:
    """Assert a JSON error with a ``detail``; return the detail."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


@pytest.fixture
def anonymous() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def alice(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/token/", "/api/token/refresh/"])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_400(anonymous: Client, path: str, opener: str) -> None:
    response = anonymous.post(path, opener * 50_000, content_type="application/json")
    assert "nested too deeply" in assert_error(response, 400)


def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("forged", ["p=abc", "p=1e5", "p=", "p=-1", "p=١", "r=1&p=" + "9" * 30])
def test_forged_cursor_is_404(alice: Client, user: Any, forged: str) -> None:
    services.notify(user, kind="test", title="Hello")
    response = alice.get("/api/notifications/", {"cursor": cursor(forged)})
    assert assert_error(response, 404) == "Invalid cursor"


@pytest.mark.django_db
def test_genuine_cursors_still_page(alice: Client, user: Any) -> None:
    for i in range(3):
        services.notify(user, kind="test", title=f"Hello {i}")
    first = alice.get("/api/notifications/", {"page_size": 2}).json()
    second = alice.get(first["next"]).json()
    assert [n["title"] for n in first["results"] + second["results"]] == [
        "Hello 2",
        "Hello 1",
        "Hello 0",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["options", "post", "put", "delete"])
def test_odd_methods_on_the_docs_get_json(anonymous: Client, method: str) -> None:
    response = getattr(anonymous, method)("/api/docs/")
    assert response.status_code in (200, 405), response.content[:300]
    assert response["Content-Type"] == "application/json"
    if response.status_code == 405:
        assert_error(response, 405)
    assert anonymous.get("/api/docs/")["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_concurrent_first_schema_requests_all_succeed(anonymous: Client) -> None:
    schema_views._forget_schemas()
    start = threading.Barrier(10)
    statuses: list[int] = []

    def fetch() -> None:
        start.wait(timeout=10)
        statuses.append(Client(raise_request_exception=False).get("/api/schema/").status_code)

    threads = [threading.Thread(target=fetch) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 10
    assert b"/api/notifications/" in anonymous.get("/api/schema/").content


@pytest.mark.django_db
@pytest.mark.parametrize("pk", ["%D9%A1", "%EF%BC%91", "1%C2%A0", "%F0%9D%9F%99"])
def test_non_ascii_digit_ids_are_not_found(alice: Client, user: Any, pk: str) -> None:
    services.notify(user, kind="test", title="Hello")
    for response in (
        alice.get(f"/api/notifications/{pk}/"),
        alice.delete(f"/api/notifications/{pk}/"),
        alice.post(f"/api/notifications/{pk}/read/"),
    ):
        assert_error(response, 404)
    assert Notification.objects.filter(recipient=user, read_at__isnull=True).count() == 1


@pytest.mark.django_db
def test_ids_beyond_bigint_are_not_found(alice: Client) -> None:
    assert_error(alice.get(f"/api/notifications/{10**30}/"), 404)


# --- The stream ------------------------------------------------------------------------------


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


@pytest.mark.django_db(transaction=True)
async def test_the_stream_refuses_a_disallowed_host(user: Any) -> None:
    stream = AsgiStream(application, headers=bearer(user), host="evil.example")
    assert await stream.open() == 400
    assert stream.json_body() == {"detail": "Invalid Host header."}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", ["9" * 5000, "9" * 20, str(2**63)])
async def test_huge_last_event_id_gets_our_400(user: Any, value: str) -> None:
    stream = AsgiStream(application, headers={**bearer(user), "Last-Event-ID": value})
    assert await stream.open() == 400
    assert stream.json_body()["detail"].startswith("Last-Event-ID must be a non-negative integer")


# --- Static files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/static/../manage.py", "/static/../../etc/passwd", "/static/%2e%2e/manage.py"]
)
async def test_dot_dot_under_static_is_not_found(path: str) -> None:
    stream = AsgiStream(application, path=path)
    assert await stream.open() == 404
    assert b"manage" not in stream.body and b"root:" not in stream.body


# --- Commands --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_send_notification_refuses_non_json_numbers(user: Any, constant: str) -> None:
    with pytest.raises(CommandError, match=f"--data is not valid JSON: {constant}"):
        call_command(
            "send_notification",
            "--user",
            user.username,
            "--title",
            "Hi",
            "--data",
            f'{{"a": {constant}}}',
            stdout=StringIO(),
        )
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_disallowed_host_under_api_gets_json(anonymous: Client) -> None:
    response = anonymous.get("/api/notifications/", HTTP_HOST="evil.example")
    assert_error(response, 400)
    page = anonymous.get("/accounts/login/", HTTP_HOST="evil.example")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
