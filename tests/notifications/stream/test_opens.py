"""One open, three paths: the ASGI front, Django's stream handler under a site's
``STREAM_MIDDLEWARE``, and a site serving ``notifications.urls`` through Django's handler.

Every refusal is the same status, headers and body whichever path serves it, and a started
stream is the same stream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.asgi import with_lean_stream
from notifications.stream.limits import slots
from notifications.stream.tickets import StreamTicket
from project.asgi import application, django_application
from tests.sse_client import AsgiStream

pytestmark = pytest.mark.django_db(transaction=True)

# The headers a refusal carries that a client acts on.
ANSWER_HEADERS = ("content-type", "www-authenticate", "retry-after", "allow")


@pytest.fixture(params=["front", "stream middleware", "urls only"])
def site(request: pytest.FixtureRequest, settings: Any) -> Any:
    """The ASGI application that serves the stream on one of the three paths."""
    if request.param == "front":
        return application
    if request.param == "stream middleware":
        settings.NOTIFICATIONS = {
            **settings.NOTIFICATIONS,
            "STREAM_MIDDLEWARE": ["corsheaders.middleware.CorsMiddleware"],
        }
        return with_lean_stream(django_application)
    return django_application


@pytest.fixture
def answer(site: Any) -> Callable[..., Any]:
    """Open a stream on ``site``; return ``(status, json body, answer headers)``."""

    async def open_on_site(headers: dict[str, str], **kwargs: Any) -> Any:
        stream = AsgiStream(site, headers=headers, **kwargs)
        await stream.open()
        kept = {name: stream.headers.get(name) for name in ANSWER_HEADERS}
        return stream.status, stream.json_body(), kept

    return open_on_site


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


def refusal(status: int, detail: str, **headers: str) -> Any:
    kept: dict[str, str | None] = dict.fromkeys(ANSWER_HEADERS)
    kept["content-type"] = "application/json"
    kept.update({name.replace("_", "-").lower(): value for name, value in headers.items()})
    return status, {"detail": detail}, kept


UNAUTHORIZED = {"WWW_Authenticate": 'Bearer realm="api"'}


async def test_no_credentials_are_refused(answer: Any) -> None:
    assert await answer({}) == refusal(
        401, "Authentication credentials were not provided.", **UNAUTHORIZED
    )


async def test_a_bad_token_is_refused(answer: Any) -> None:
    assert await answer({"Authorization": "Bearer not-a-jwt"}) == refusal(
        401, "The token is invalid, expired or not valid for this stream.", **UNAUTHORIZED
    )
    assert await answer({"Authorization": "Basic abc"}) == refusal(
        401, "The Authorization header must be 'Bearer <access token>'.", **UNAUTHORIZED
    )


async def test_a_token_of_a_deleted_user_is_refused(answer: Any, user: Any) -> None:
    headers = bearer(user)
    await user.adelete()
    assert await answer(headers) == refusal(401, "User not found", **UNAUTHORIZED)


async def test_an_inactive_users_ticket_is_refused(answer: Any, user: Any) -> None:
    ticket = str(StreamTicket.for_user(user))
    user.is_active = False
    await user.asave()
    assert await answer({}, query=f"token={ticket}") == refusal(
        401, "User is inactive", **UNAUTHORIZED
    )


async def test_a_bad_last_event_id_is_refused(answer: Any, user: Any) -> None:
    assert await answer({**bearer(user), "Last-Event-ID": "-1"}) == refusal(
        400, "Last-Event-ID must be a non-negative integer below 2**63, not '-1'."
    )


async def test_a_disallowed_host_is_refused(answer: Any, user: Any) -> None:
    assert await answer(bearer(user), host="evil.example") == refusal(400, "Invalid Host header.")


async def test_another_method_is_refused(answer: Any, user: Any) -> None:
    assert await answer(bearer(user), method="DELETE") == refusal(
        405, 'Method "DELETE" not allowed.', Allow="GET"
    )


async def test_a_user_at_their_limit_is_refused(
    site: Any, answer: Any, user: Any, settings: Any
) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "MAX_CONNECTIONS_PER_USER": 1}
    first = AsgiStream(site, headers=bearer(user))
    assert await first.open() == 200
    try:
        assert await answer(bearer(user)) == refusal(
            429, "Too many open streams: at most 1 per user.", Retry_After="5"
        )
    finally:
        await first.close()


@pytest.mark.parametrize("kind", ["bearer", "ticket", "session"])
async def test_every_credential_opens_the_same_stream(
    site: Any, user: Any, client: Any, kind: str
) -> None:
    await sync_to_async(services.notify)(user, kind="info", title="one")
    headers, query = {"Last-Event-ID": "0"}, ""
    if kind == "bearer":
        headers.update(bearer(user))
    elif kind == "ticket":
        query = f"token={StreamTicket.for_user(user)}"
    else:
        await sync_to_async(client.force_login)(user)
        headers["Cookie"] = f"sessionid={client.cookies['sessionid'].value}"
    stream = AsgiStream(site, headers=headers, query=query)
    assert await stream.open() == 200
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    assert (await stream.next_event()).json()["unread_count"] == 1
    assert (await stream.next_event()).json()["title"] == "one"
    await stream.close()
    assert (await slots().by_user()).get(user.pk, []) == []
