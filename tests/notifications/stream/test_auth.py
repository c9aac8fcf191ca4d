"""Who opens a stream, resolved from the request alone: session, Bearer token, ``?token=``."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from notifications.stream.auth import NotAuthenticated, stream_user
from notifications.stream.tickets import StreamTicket

pytestmark = pytest.mark.django_db


def request(query: str = "", **headers: str) -> Any:
    return RequestFactory().get(f"/api/events/?{query}", headers=headers)


def test_a_bearer_access_token_names_its_user(user: Any) -> None:
    assert stream_user(request(Authorization=f"Bearer {AccessToken.for_user(user)}")) == user


@pytest.mark.parametrize(
    "make_header",
    [
        lambda user: f"Bearer {RefreshToken.for_user(user)}",  # not an access token
        lambda user: f"Bearer {StreamTicket.for_user(user)}",  # tickets go in the URL only
        lambda user: f"Basic {AccessToken.for_user(user)}",
        lambda user: "Bearer ",
    ],
)
def test_other_authorization_headers_are_refused(user: Any, make_header: Any) -> None:
    with pytest.raises(NotAuthenticated):
        stream_user(request(Authorization=make_header(user)))


def test_a_ticket_in_the_url_names_its_user_and_leaves_no_trace(user: Any) -> None:
    ticket = str(StreamTicket.for_user(user))
    incoming = request(f"last_event_id=4&token={ticket}")
    assert stream_user(incoming) == user
    assert "token" not in incoming.GET and incoming.GET["last_event_id"] == "4"
    assert ticket not in incoming.META["QUERY_STRING"]
    assert ticket not in incoming.get_full_path()


def test_an_access_token_in_the_url_works_too(user: Any) -> None:
    assert stream_user(request(f"token={AccessToken.for_user(user)}")) == user


def test_bad_explicit_credentials_are_refused_even_with_a_session(user: Any) -> None:
    client = Client()
    client.force_login(user)
    incoming = request("token=forged")
    incoming.COOKIES = {"sessionid": client.cookies["sessionid"].value}
    with pytest.raises(NotAuthenticated):
        stream_user(incoming)


def test_the_session_cookie_is_read_without_session_middleware(user: Any) -> None:
    client = Client()
    client.force_login(user)
    incoming = request()
    incoming.COOKIES = {"sessionid": client.cookies["sessionid"].value}
    assert stream_user(incoming) == user


def test_no_credentials_and_inactive_users_are_refused(user: Any) -> None:
    with pytest.raises(NotAuthenticated, match="not provided"):
        stream_user(request())
    token = AccessToken.for_user(user)
    user.is_active = False
    user.save()
    with pytest.raises(NotAuthenticated):
        stream_user(request(Authorization=f"Bearer {token}"))
