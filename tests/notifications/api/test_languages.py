"""The user's language through the API: chosen in ``/api/preferences/``, then spoken."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from notifications.models import Preference, UserLanguage

pytestmark = pytest.mark.django_db

URL = "/api/preferences/"


@pytest.fixture
def alice(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def patch(client: Client, body: Any, **headers: Any) -> Any:
    return client.patch(URL, json.dumps(body), content_type="application/json", **headers)


def test_no_choice_is_null(alice: Client) -> None:
    assert alice.get(URL).json()["language"] is None


def test_a_chosen_language_is_kept_and_answered(alice: Client, user: Any) -> None:
    response = patch(alice, {"language": "de"})
    assert response.status_code == 200
    assert response.json()["language"] == "de"
    assert alice.get(URL).json()["language"] == "de"
    assert UserLanguage.objects.get(user=user).language == "de"


def test_language_and_kinds_change_together(alice: Client) -> None:
    response = patch(alice, {"language": "ar", "order.shipped": {"email": False}})
    assert response.status_code == 200
    body = alice.get(URL).json()
    assert body["language"] == "ar"
    shipped = next(k for k in body["kinds"] if k["kind"] == "order.shipped")
    assert shipped["email"] is False


@pytest.mark.parametrize("code", ["xx", "DE", "de-at", "", 7, ["de"], {"code": "de"}])
def test_an_unknown_language_is_a_400_and_changes_nothing(alice: Client, code: Any) -> None:
    patch(alice, {"language": "de"})
    before = alice.get(URL).json()
    response = patch(alice, {"language": code, "order.shipped": {"email": False}})
    assert response.status_code == 400
    assert (
        "language" in response.json()["detail"].lower() or "Sprache" in (response.json()["detail"])
    )
    assert alice.get(URL).json() == before
    assert not Preference.objects.exists()


def test_a_bad_kind_leaves_the_language_alone(alice: Client) -> None:
    response = patch(alice, {"language": "de", "order.nope": {"email": False}})
    assert response.status_code == 400
    assert alice.get(URL).json()["language"] is None


def test_null_forgets_the_choice(alice: Client, user: Any) -> None:
    patch(alice, {"language": "de"})
    response = patch(alice, {"language": None})
    assert response.status_code == 200
    assert response.json()["language"] is None
    assert not UserLanguage.objects.filter(user=user).exists()


def test_leaving_language_out_keeps_it(alice: Client) -> None:
    patch(alice, {"language": "de"})
    assert patch(alice, {"order.shipped": {"email": False}}).json()["language"] == "de"


def test_a_session_user_reads_refusals_in_german(alice: Client) -> None:
    patch(alice, {"language": "de"})
    response = alice.post(URL)
    assert response.status_code == 405
    assert response.json()["detail"] == 'Methode "POST" nicht erlaubt.'
    assert response["Content-Language"] == "de"


def test_a_jwt_user_reads_refusals_in_german(client: Client, user: Any) -> None:
    UserLanguage.objects.create(user=user, language="de")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {AccessToken.for_user(user)}"}
    response = client.post(URL, **bearer)
    assert response.status_code == 405
    assert response.json()["detail"] == 'Methode "POST" nicht erlaubt.'
    refused = patch(client, {"order.nope": {"email": False}}, **bearer)
    assert refused.json()["detail"] == "Unbekannte Art 'order.nope': nicht registriert."


def test_a_missing_notification_is_not_found_in_german(alice: Client) -> None:
    patch(alice, {"language": "de"})
    response = alice.get("/api/notifications/99999/")
    assert response.status_code == 404
    assert response.json()["detail"] == "Nicht gefunden."


def test_the_choice_wins_over_the_browser(alice: Client) -> None:
    patch(alice, {"language": "ar"})
    response = alice.post(URL, HTTP_ACCEPT_LANGUAGE="de")
    assert response["Content-Language"] == "ar"


def test_without_a_choice_the_browser_decides(alice: Client) -> None:
    response = alice.post(URL, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert response.json()["detail"] == 'Methode "POST" nicht erlaubt.'
    assert alice.post(URL).json()["detail"] == 'Method "POST" not allowed.'


def test_a_stranger_is_refused_in_the_browsers_language(client: Client) -> None:
    response = client.get(URL, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 401
    assert response.json()["detail"] == "Anmeldedaten fehlen."


def test_the_language_does_not_outlive_the_request(alice: Client) -> None:
    patch(alice, {"language": "de"})
    alice.get(URL)
    alice.logout()
    assert alice.get(URL).json()["detail"] == "Authentication credentials were not provided."


def test_the_schema_describes_the_language() -> None:
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    schema = json.loads(out.getvalue())
    preferences = schema["components"]["schemas"]["Preferences"]
    assert preferences["properties"]["language"]["nullable"] is True
    assert "language" in preferences["required"]
    body = schema["paths"][URL]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["language"]["type"] == "string"
