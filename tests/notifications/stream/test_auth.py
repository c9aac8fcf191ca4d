"""Who opens a stream, resolved from the request alone: session, Bearer token, ``?token=``;
and a token whose claims are of a shape the site never issues, refused on every path."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client, RequestFactory
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from notifications.stream.auth import NotAuthenticated, stream_token, stream_user, token_user_pk
from notifications.stream.tickets import StreamTicket
from project import asgi as project_asgi
from tests.e2e.fuzz_corpus import HOSTILE_TIMES, TIME_CLAIMS, hostile_user_ids, signed
from tests.sse_client import AsgiStream

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


# --- Tokens signed with the site's key, with claims of a shape it never issues ---------------


def hostile_payloads(user: Any) -> dict[str, dict[str, Any]]:
    """Every named hostile user id and time, on an otherwise valid access token's claims."""
    base = AccessToken.for_user(user).payload
    cases = {
        f"user_id {name}": {"user_id": value} for name, value in hostile_user_ids(user.pk).items()
    }
    for claim in TIME_CLAIMS:
        cases.update({f"{claim} {name}": {claim: value} for name, value in HOSTILE_TIMES.items()})
    return {name: {**base, **changes} for name, changes in cases.items()}


def refused(query: str = "", **headers: str) -> bool:
    """Tell whether a stream request is refused: what the open reads before it takes a slot
    (the token's primary key, without the database) may only refuse, and the user it names
    must not be found. (Each read takes ``?token=`` out of its request: two requests.)"""
    try:
        token = stream_token(request(query, **headers))
        assert token is not None
        token_user_pk(token)
        stream_user(request(query, **headers))
    except NotAuthenticated:
        return True
    return False


def test_hostile_claims_are_refused_in_the_header_and_the_url(user: Any) -> None:
    problems = []
    for name, claims in hostile_payloads(user).items():
        ticket = signed({**claims, "token_type": "stream"})
        if not refused(Authorization=f"Bearer {signed(claims)}"):
            problems.append(f"{name} (bearer)")
        if not refused(f"token={ticket}"):
            problems.append(f"{name} (ticket)")
    assert not problems


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("site", ["front", "view"])
async def test_every_path_of_the_open_answers_hostile_claims_with_a_401(
    user: Any, site: str
) -> None:
    application = project_asgi.application if site == "front" else project_asgi.django_application
    problems = []
    for name, claims in (await sync_to_async(hostile_payloads)(user)).items():
        ticket = signed({**claims, "token_type": "stream"})
        for how, options in [
            ("bearer", {"headers": {"Authorization": f"Bearer {signed(claims)}"}}),
            ("ticket", {"query": f"token={ticket}"}),
        ]:
            stream = AsgiStream(application, **options)
            if await stream.open() != 401:
                await stream.close()
                problems.append(f"{name} ({how}): {stream.status}")
            elif not isinstance(stream.json_body().get("detail"), str):
                problems.append(f"{name} ({how}): {stream.body[:100]!r}")
    assert not problems, "\n".join(problems)
