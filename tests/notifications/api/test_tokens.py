"""Tokens on the API: claims of a shape the site never issues are refused, and a refresh
token follows its user (deleted, deactivated, new password, signed out: refused)."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken

from notifications import services
from notifications.api.tokens import RefreshToken
from tests.conftest import PASSWORD, clear_cache
from tests.e2e.fuzz_corpus import HOSTILE_TIMES, TIME_CLAIMS, hostile_user_ids, signed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

LIST = "/api/notifications/"
OBTAIN = "/api/token/"
REFRESH = "/api/token/refresh/"


@pytest.fixture(autouse=True)
def _no_throttle_history() -> None:
    clear_cache()


@pytest.fixture
def http() -> Client:
    """A client that gets a server error as the response a browser would, not an exception."""
    return Client(raise_request_exception=False)


def assert_refused(response: Any, status: int = 401) -> str:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def access_with(user: Any, **claims: Any) -> str:
    """An access token of ``user``, signed with the site's key, with ``claims`` changed."""
    return signed({**AccessToken.for_user(user).payload, **claims})


def refresh_of(http: Client, username: str = "alice") -> str:
    response = http.post(
        OBTAIN, {"username": username, "password": PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    refresh: str = response.json()["refresh"]
    return refresh


def refreshed(http: Client, refresh: str) -> Any:
    return http.post(REFRESH, {"refresh": refresh}, content_type="application/json")


# --- Hostile claims ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(hostile_user_ids(1)))
def test_a_user_id_of_another_shape_than_issued_is_refused(
    http: Client, user: Any, case: str
) -> None:
    token = access_with(user, user_id=hostile_user_ids(user.pk)[case])
    assert_refused(http.get(LIST, **bearer(token)))


@pytest.mark.parametrize("claim", TIME_CLAIMS)
@pytest.mark.parametrize("case", list(HOSTILE_TIMES))
def test_a_time_out_of_range_is_refused(http: Client, user: Any, claim: str, case: str) -> None:
    token = access_with(user, **{claim: HOSTILE_TIMES[case]})
    assert_refused(http.get(LIST, **bearer(token)))


def test_a_fractional_user_id_does_not_sign_in_as_the_user_it_rounds_to(
    http: Client, user: Any
) -> None:
    assert http.get(LIST, **bearer(access_with(user, user_id=str(user.pk)))).status_code == 200
    assert_refused(http.get(LIST, **bearer(access_with(user, user_id=user.pk + 0.5))))


def test_an_expiry_beyond_the_year_9999_is_refused(http: Client, user: Any) -> None:
    assert_refused(http.get(LIST, **bearer(access_with(user, exp=1e20))))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/notifications/unread-count/"),
        ("post", "/api/notifications/read-all/"),
        ("post", "/api/events/ticket/"),
        ("get", "/api/preferences/"),
        ("get", "/api/schema/"),  # the site's REST_FRAMEWORK defaults, not the app's own
        ("get", "/api/docs/"),
    ],
)
def test_every_api_view_refuses_hostile_claims(
    http: Client, user: Any, method: str, path: str
) -> None:
    for claims in ({"exp": 1e20}, {"user_id": f"{user.pk}.0"}, {"user_id": user.pk + 0.5}):
        assert_refused(getattr(http, method)(path, **bearer(access_with(user, **claims))))


@pytest.mark.parametrize(
    "claims",
    [{"user_id": 2.5}, {"user_id": "2.0"}, {"exp": 1e20}, {"exp": "x"}, {"iat": float("nan")}],
    ids=repr,
)
def test_a_refresh_token_with_hostile_claims_is_refused(
    http: Client, user: Any, claims: dict[str, Any]
) -> None:
    token = signed({**RefreshToken.for_user(user).payload, **claims})
    assert_refused(refreshed(http, token))


# --- Refresh tokens follow their user -----------------------------------------------------------


def test_a_refresh_rotates_and_the_new_tokens_carry_the_same_claims(
    http: Client, user: Any
) -> None:
    first = refresh_of(http)
    response = refreshed(http, first)
    assert response.status_code == 200, response.content
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"} and tokens["refresh"] != first

    old, new = UntypedToken(first).payload, UntypedToken(tokens["refresh"]).payload
    kept = ("user_id", "hash_password", "revocations", "token_type")
    assert {k: new[k] for k in kept} == {k: old[k] for k in kept}
    assert new["jti"] != old["jti"]
    assert http.get(LIST, **bearer(tokens["access"])).status_code == 200
    assert refreshed(http, tokens["refresh"]).status_code == 200


def test_the_refresh_token_of_a_deleted_user_is_refused(http: Client, user: Any) -> None:
    refresh = refresh_of(http)
    user.delete()
    assert assert_refused(refreshed(http, refresh)) == "User not found"


@pytest.mark.parametrize("how", ["save", "update"])
def test_a_new_password_refuses_the_refresh_tokens_issued_before(
    http: Client, user: Any, how: str
) -> None:
    refresh = refresh_of(http)
    if how == "save":
        user.set_password("another-horse-battery-staple")
        user.save()
    else:  # no signal: the password claim alone tells
        user.set_password("another-horse-battery-staple")
        get_user_model().objects.filter(pk=user.pk).update(password=user.password)
    assert_refused(refreshed(http, refresh))


@pytest.mark.parametrize("how", ["save", "update"])
def test_deactivation_refuses_the_refresh_tokens(http: Client, user: Any, how: str) -> None:
    refresh = refresh_of(http)
    if how == "save":
        user.is_active = False
        user.save()
    else:
        get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert_refused(refreshed(http, refresh))


def test_logging_out_refuses_the_refresh_tokens_issued_before(http: Client, user: Any) -> None:
    refresh = refresh_of(http)
    browser = Client()
    browser.force_login(user)
    assert browser.post(reverse("logout")).status_code == 302

    assert "revoked" in assert_refused(refreshed(http, refresh))
    assert refreshed(http, refresh_of(http)).status_code == 200  # a new log-in refreshes


def test_closing_a_users_streams_ends_their_refresh_tokens_but_not_others(
    http: Client, user: Any, other_user: Any
) -> None:
    alices, bobs = refresh_of(http, "alice"), refresh_of(http, "bob")
    services.revoke_streams(user_id=user.pk)
    assert_refused(refreshed(http, alices))
    assert refreshed(http, bobs).status_code == 200


def test_the_schema_describes_the_token_views_and_their_authentication() -> None:
    out = StringIO()
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )
    schema = json.loads(out.getvalue())
    components = schema["components"]["schemas"]

    def fields(path: str, direction: str) -> set[str]:
        operation = schema["paths"][path]["post"]
        if direction == "request":
            body = operation["requestBody"]["content"]["application/json"]["schema"]
        else:
            body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        component = components[body["$ref"].rsplit("/", 1)[1]]
        read_only = {k for k, v in component["properties"].items() if v.get("readOnly")}
        write_only = {k for k, v in component["properties"].items() if v.get("writeOnly")}
        return set(component["properties"]) - (write_only if direction == "response" else read_only)

    assert fields(OBTAIN, "response") == {"access", "refresh"}
    assert fields(REFRESH, "request") == {"refresh"}
    assert fields(REFRESH, "response") == {"access", "refresh"}
    assert {"jwtAuth": []} in schema["paths"][LIST]["get"]["security"]
