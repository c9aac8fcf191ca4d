"""``GET`` and ``PATCH /api/preferences/`` as a client sees them."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from notifications.models import Preference

pytestmark = pytest.mark.django_db

URL = "/api/preferences/"


@pytest.fixture
def alice(client: Client, user: Any, settings: Any) -> Client:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(user)
    return client


def patch(client: Client, body: Any, **kwargs: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.patch(URL, data, content_type="application/json", **kwargs)


def test_every_registered_kind_with_its_defaults(alice: Client, settings: Any) -> None:
    response = alice.get(URL)
    assert response.status_code == 200
    kinds = response.json()["kinds"]
    assert [k["kind"] for k in kinds] == list(settings.NOTIFICATIONS["KINDS"])
    shipped = next(k for k in kinds if k["kind"] == "order.shipped")
    assert shipped == {
        "kind": "order.shipped",
        "label": "Order shipped",
        "in_app": True,
        "email": True,
        "critical": False,
        "push": True,
    }
    security = next(k for k in kinds if k["kind"] == "account.security")
    assert security["critical"] is True and security["in_app"] is True
    placed = next(k for k in kinds if k["kind"] == "order.placed")
    assert placed["push"] is False


def test_push_may_be_chosen_for_any_kind_even_a_critical_one(alice: Client) -> None:
    response = patch(alice, {"order.placed": {"push": True}, "account.security": {"push": False}})
    assert response.status_code == 200, response.content
    kinds = {k["kind"]: k for k in alice.get(URL).json()["kinds"]}
    assert kinds["order.placed"]["push"] is True and kinds["order.placed"]["in_app"] is True
    assert kinds["account.security"]["push"] is False
    assert kinds["account.security"]["in_app"] is True and kinds["account.security"]["email"]


def test_a_change_is_answered_with_every_choice_and_kept(alice: Client) -> None:
    response = patch(
        alice, {"order.shipped": {"email": False}, "order.placed": {"in_app": False, "email": True}}
    )
    assert response.status_code == 200
    after = {k["kind"]: (k["in_app"], k["email"]) for k in response.json()["kinds"]}
    assert after["order.shipped"] == (True, False)
    assert after["order.placed"] == (False, True)
    assert alice.get(URL).json() == response.json()


def test_a_jwt_client_may_change_them(client: Client, user: Any) -> None:
    token = str(AccessToken.for_user(user))
    response = patch(
        client, {"order.shipped": {"email": False}}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"order.shipped": {"email": False}, "order.nope": {"email": False}}, "order.nope"),
        ({"order.shipped": {"email": False}, "account.security": {"in_app": False}}, "critical"),
        ({"order.shipped": {"email": "no"}}, "true or false"),
        ({"order.shipped": {"email": None}}, "true or false"),
        ({"order.shipped": {"push": "yes"}}, "push"),
        ({"order.shipped": {"sms": True}}, "sms"),
        ({"order.shipped": []}, "order.shipped"),
        ([{"order.shipped": {"email": False}}], "JSON object"),
        ("not json", "JSON"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
        (json.dumps({"order.shipped": {"email": {"a": [1, {"b": 2}]}}}), "true or false"),
    ],
)
def test_a_bad_change_is_a_400_with_detail_and_changes_nothing(
    alice: Client, body: Any, says: str
) -> None:
    before = alice.get(URL).json()
    response = patch(alice, body)
    assert response.status_code == 400
    assert says in response.json()["detail"]
    assert alice.get(URL).json() == before
    assert not Preference.objects.exists()


def test_a_form_body_is_refused(alice: Client) -> None:
    response = alice.patch(URL, "order.shipped=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code in (400, 415)
    assert "detail" in response.json()


def test_strangers_get_401(client: Client) -> None:
    assert client.get(URL).status_code == 401
    assert patch(client, {"order.shipped": {"email": False}}).status_code == 401


def test_other_methods_are_405_json(alice: Client) -> None:
    for response in (alice.post(URL, {}), alice.put(URL, "{}", content_type="application/json")):
        assert response.status_code == 405
        assert "detail" in response.json()


def test_the_schema_describes_both_operations() -> None:
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    path = json.loads(out.getvalue())["paths"][URL]
    assert {"get", "patch"} <= set(path)
    assert "400" in path["patch"]["responses"]
