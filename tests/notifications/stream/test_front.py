"""The stream's own ASGI application: the same answers as the Django view it stands in for."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.handlers.asgi import ASGIRequest
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.asgi import with_lean_stream
from notifications.stream import auth, front, opens
from notifications.stream.connection import Stream
from notifications.stream.limits import slots
from project.asgi import application, django_application
from tests.sse_client import AsgiStream

pytestmark = pytest.mark.django_db(transaction=True)


async def slot_count(user_id: int) -> int:
    return len((await slots().by_user()).get(user_id, []))


async def refused(headers: dict[str, str], **kwargs: Any) -> AsgiStream:
    stream = AsgiStream(application, headers=headers, **kwargs)
    await stream.open()
    return stream


async def test_a_token_older_than_the_password_is_refused_and_holds_no_slot(user: Any) -> None:
    token = str(AccessToken.for_user(user))
    user.set_password("a-brand-new-password")
    await user.asave()
    stream = await refused({"Authorization": f"Bearer {token}"})
    assert stream.status == 401
    assert stream.json_body() == {"detail": "The user's password has been changed."}
    assert stream.headers["www-authenticate"] == 'Bearer realm="api"'
    assert await slot_count(user.pk) == 0


async def test_a_token_of_a_deleted_user_is_refused_and_holds_no_slot(user: Any) -> None:
    token = str(AccessToken.for_user(user))
    user_id = user.pk
    await user.adelete()
    stream = await refused({"Authorization": f"Bearer {token}"})
    assert stream.status == 401
    assert stream.json_body() == {"detail": "User not found"}
    assert await slot_count(user_id) == 0


async def test_refusals_carry_cors_headers_for_allowed_origins(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    stream = await refused({"Origin": "https://shop.example"})
    assert stream.status == 401
    assert stream.headers["access-control-allow-origin"] == "https://shop.example"
    assert "origin" in stream.headers["vary"].lower()
    other = await refused({"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_a_disallowed_host_is_400_before_any_credential_is_read() -> None:
    stream = await refused({"Authorization": "Bearer not-a-jwt"}, host="evil.example")
    assert stream.status == 400
    assert stream.json_body() == {"detail": "Invalid Host header."}


async def test_preflights_and_other_methods_are_answered_by_django(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    preflight = await refused(
        {"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
        method="OPTIONS",
    )
    assert preflight.status == 200
    assert preflight.headers["access-control-allow-origin"] == "https://shop.example"
    post = await refused({}, method="POST")
    assert post.status == 405
    assert post.json_body()["detail"] == 'Method "POST" not allowed.'


async def test_a_site_middleware_list_keeps_streams_on_djangos_handler(
    user: Any, settings: Any
) -> None:
    settings.NOTIFICATIONS = {
        **settings.NOTIFICATIONS,
        "STREAM_MIDDLEWARE": ["django.middleware.clickjacking.XFrameOptionsMiddleware"],
    }
    site = with_lean_stream(django_application)
    stream = AsgiStream(site, headers={"Authorization": f"Bearer {AccessToken.for_user(user)}"})
    assert await stream.open() == 200
    assert stream.headers["x-frame-options"] == "DENY"
    assert (await stream.next_event()).event == "connected"
    await stream.close()


async def test_djangos_handler_resumes_as_the_stream_application_does(
    user: Any, settings: Any
) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "STREAM_MIDDLEWARE": []}
    for title in ("one", "two"):
        await sync_to_async(services.notify)(user, kind="info", title=title)
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", "Last-Event-ID": "1"}
    stream = AsgiStream(with_lean_stream(django_application), headers=headers)
    assert await stream.open() == 200
    connected = await stream.next_event()
    assert (connected.event, connected.id, connected.json()["last_seq"]) == ("connected", "1", 1)
    replayed = await stream.next_event()
    assert (replayed.event, replayed.id, replayed.json()["title"]) == ("notification", "2", "two")
    await stream.close()


async def test_a_user_the_start_read_refuses_gets_no_stream_and_keeps_no_slot(
    user: Any,
) -> None:
    # Authenticated by Django a moment before, deactivated since (no signal sent).
    admission = await opens.admit(user.pk)
    assert admission.slot is not None
    await get_user_model().objects.filter(pk=user.pk).aupdate(is_active=False)
    stream = Stream(user_id=user.pk, last_event_id=None, slot=admission.slot)
    with pytest.raises(auth.NotAuthenticated):
        await stream.start()
    assert await slot_count(user.pk) == 0


async def test_a_refused_token_never_evicts_a_stream(user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS = {
        **settings.NOTIFICATIONS,
        "MAX_CONNECTIONS_PER_USER": 1,
        "ON_LIMIT": "evict_oldest",
    }
    token = AccessToken.for_user(user)
    stream = AsgiStream(application, headers={"Authorization": f"Bearer {token}"})
    assert await stream.open() == 200
    assert (await stream.next_event()).event == "connected"
    # Signed and unexpired, but issued for another password.
    stale = AccessToken.for_user(user)
    stale[jwt_settings.REVOKE_TOKEN_CLAIM] = "another password"
    other = await refused({"Authorization": f"Bearer {stale}"})
    assert other.status == 401
    assert other.json_body() == {"detail": "The user's password has been changed."}
    assert await slot_count(user.pk) == 1
    assert not stream.finished
    await stream.close()


async def test_a_live_stream_holds_neither_its_request_nor_its_token(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream lives for hours: what only its open needed is freed once it is served
    (docs/PERFORMANCE.md, "Memory"), the replayed notifications and their frames too."""
    made: list[weakref.ref[Any]] = []

    class Watched(ASGIRequest):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(front, "ASGIRequest", Watched)
    tokens: list[weakref.ref[Any]] = []
    stream_token = auth.stream_token

    def watched_token(request: Any) -> Any:
        token = stream_token(request)
        tokens.append(weakref.ref(token))
        return token

    monkeypatch.setattr(auth, "stream_token", watched_token)
    for title in ("one", "two"):
        await sync_to_async(services.notify)(user, kind="info", title=title)
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", "Last-Event-ID": "0"}
    stream = AsgiStream(application, headers=headers)
    assert await stream.open() == 200
    assert [(await stream.next_event()).event for _ in range(3)] == [
        "connected",
        "notification",
        "notification",
    ]
    gc.collect()
    assert made and tokens and all(ref() is None for ref in made + tokens)
    await stream.close()
