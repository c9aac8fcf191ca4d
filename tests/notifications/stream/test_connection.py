"""The stream driven at the ASGI level, on the ASGI front and through the Django view: every
rule of the contract, and cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from notifications import services
from notifications.asgi import with_lean_stream
from notifications.delivery import messages, publish
from notifications.models import Notification
from notifications.stream.hub import hub
from notifications.stream.limits import slots
from notifications.stream.tickets import StreamTicket
from project.asgi import application, django_application
from project.settings import channel_layers
from tests.conftest import free_port
from tests.sse_client import AsgiStream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True, params=["front", "django view"])
def served_by(
    request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Run each test on both paths of the stream: the ASGI front, and Django's handler with
    the app's view (a site's own ``STREAM_MIDDLEWARE``)."""
    if request.param == "django view":
        settings.NOTIFICATIONS = {
            **settings.NOTIFICATIONS,
            "STREAM_MIDDLEWARE": ["corsheaders.middleware.CorsMiddleware"],
        }
        monkeypatch.setattr(
            sys.modules[__name__], "application", with_lean_stream(django_application)
        )
    return str(request.param)


@pytest.fixture
def configure(settings: Any) -> Any:
    def apply(**values: Any) -> None:
        settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, **values}

    return apply


def bearer(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


async def open_stream(user: Any | None = None, *, query: str = "", **headers: str) -> AsgiStream:
    all_headers = dict(bearer(user)) if user is not None else {}
    all_headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    stream = AsgiStream(application, query=query, headers=all_headers)
    await stream.open()
    return stream


async def connected(user: Any, **kwargs: Any) -> AsgiStream:
    stream = await open_stream(user, **kwargs)
    assert stream.status == 200
    event = await stream.next_event()
    assert event.event == "connected"
    return stream


notify = sync_to_async(services.notify)


async def test_refuses_anonymous_with_json_401() -> None:
    stream = await open_stream()
    assert stream.status == 401
    assert "detail" in stream.json_body()


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("token=not-a-jwt", {}),
        ("", {"Authorization": "Bearer not-a-jwt"}),
        ("", {"Authorization": "Basic dXNlcjpwYXNz"}),
    ],
)
async def test_refuses_bad_tokens(user: Any, query: str, headers: dict[str, str]) -> None:
    stream = AsgiStream(application, query=query, headers=headers)
    assert await stream.open() == 401
    assert stream.headers["content-type"] == "application/json"


async def test_refuses_refresh_token_and_expired_ticket(user: Any) -> None:
    refresh = str(RefreshToken.for_user(user))
    assert await AsgiStream(application, query=f"token={refresh}").open() == 401
    ticket = StreamTicket.for_user(user)
    ticket.set_exp(lifetime=-ticket.lifetime)
    assert await AsgiStream(application, query=f"token={ticket}").open() == 401
    # A ticket is for ?token= only, never a Bearer credential.
    headers = {"Authorization": f"Bearer {StreamTicket.for_user(user)}"}
    assert await AsgiStream(application, headers=headers).open() == 401


async def test_refuses_inactive_user(user: Any) -> None:
    token = str(AccessToken.for_user(user))
    user.is_active = False
    await user.asave()
    stream = AsgiStream(application, headers={"Authorization": f"Bearer {token}"})
    assert await stream.open() == 401


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "١٢"])
async def test_malformed_last_event_id_is_400(user: Any, value: str) -> None:
    stream = await open_stream(user, Last_Event_ID=value)
    assert stream.status == 400
    assert "Last-Event-ID" in (stream.json_body())["detail"]
    stream = await open_stream(user, query=f"last_event_id={value}")
    assert stream.status == 400


async def test_headers_retry_and_connected_first(user: Any) -> None:
    await notify(user, kind="info", title="unread one")
    stream = await open_stream(user)
    assert stream.status == 200
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    first = await stream.read_chunk()
    assert first.startswith(b"retry: ")
    event = await stream.next_event()
    assert event.event == "connected" and event.id == "1"
    assert event.json() == {"user_id": user.pk, "unread_count": 1, "last_seq": 1}
    await stream.close()


async def test_connected_carries_the_resume_point(user: Any) -> None:
    """A client that drops before any notification reconnects from ``connected``'s id."""
    fresh = await open_stream(user)
    event = await fresh.next_event()
    assert (event.id, event.json()["last_seq"]) == ("0", 0), "a user with no notification"
    await fresh.close()
    for i in range(1, 4):
        await notify(user, kind="info", title=f"n{i}")
    resumed = await open_stream(user, Last_Event_ID="1")
    event = await resumed.next_event()
    assert (event.event, event.id, event.json()["last_seq"]) == ("connected", "1", 1)
    assert [e.id for e in await resumed.events(2)] == ["2", "3"]
    await resumed.close()

    # Resuming from connected's id alone replays what arrived in between, exactly once.
    first = await open_stream(user)
    resume_at = (await first.next_event()).id
    await first.close()
    await notify(user, kind="info", title="while away")
    second = await connected(user, Last_Event_ID=resume_at)
    event = await second.next_event()
    assert (event.id, event.json()["title"]) == ("4", "while away")
    await second.close()


async def test_an_id_above_the_newest_gets_resync_and_continues_from_the_newest(
    user: Any,
) -> None:
    for i in range(1, 3):
        await notify(user, kind="info", title=f"n{i}")
    stream = await open_stream(user, Last_Event_ID="40")
    event = await stream.next_event()
    assert (event.event, event.id, event.json()["last_seq"]) == ("connected", "2", 2)
    resync = await stream.next_event()
    assert resync.event == "resync" and resync.id is None
    assert resync.json() == {"reason": "unknown_position", "missed": 0}
    await notify(user, kind="info", title="n3")
    event = await stream.next_event()
    assert (event.event, event.id, event.json()["title"]) == ("notification", "3", "n3")
    await stream.close()


async def test_session_cookie_and_ticket_authenticate(user: Any) -> None:
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    stream = AsgiStream(application, headers={"Cookie": cookie})
    assert await stream.open() == 200
    assert (await stream.next_event()).json()["user_id"] == user.pk
    await stream.close()
    ticket = AsgiStream(application, query=f"token={StreamTicket.for_user(user)}")
    assert await ticket.open() == 200
    await ticket.close()


async def test_live_notification_with_seq_id(user: Any, other_user: Any) -> None:
    stream = await connected(user)
    await notify(other_user, kind="info", title="not yours")
    [stored] = await notify(user, kind="order.shipped", title="Order #1\nshipped", data={"n": 1})
    event = await stream.next_event()
    assert event.event == "notification"
    assert event.id == "1"
    payload = event.json()
    assert payload["id"] == stored.pk and payload["seq"] == 1
    assert payload["title"] == "Order #1\nshipped"
    assert payload["data"] == {"n": 1} and payload["read"] is False
    fields = {"id", "seq", "kind", "title", "body", "url", "data", "created_at", "read"}
    fields |= {"category", "actions", "archived", "snoozed_until"}
    assert set(payload) == fields
    assert payload["category"] == "orders" and payload["archived"] is False
    await stream.close()


@pytest.mark.parametrize("how", ["header", "query"])
async def test_replay_after_last_event_id_then_live(user: Any, how: str) -> None:
    for i in range(1, 4):
        await notify(user, kind="info", title=f"n{i}")
    kwargs: dict[str, Any] = (
        {"Last_Event_ID": "1"} if how == "header" else {"query": "last_event_id=1"}
    )
    stream = await connected(user, **kwargs)
    replayed = await stream.events(2)
    assert [e.id for e in replayed] == ["2", "3"]
    await notify(user, kind="info", title="n4")
    assert (await stream.next_event()).id == "4"
    await stream.close()


async def test_header_wins_over_query(user: Any) -> None:
    for i in range(1, 4):
        await notify(user, kind="info", title=f"n{i}")
    stream = await connected(user, query="last_event_id=0", Last_Event_ID="2")
    assert (await stream.next_event()).id == "3"
    await stream.close()


async def test_without_last_event_id_starts_at_the_newest(user: Any) -> None:
    await notify(user, kind="info", title="old")
    stream = await connected(user)
    await notify(user, kind="info", title="new")
    event = await stream.next_event()
    assert (event.id, event.json()["title"]) == ("2", "new")
    await stream.close()


async def test_far_behind_client_gets_resync_then_newest_window(user: Any, configure: Any) -> None:
    configure(REPLAY_LIMIT=3)
    for i in range(1, 9):
        await notify(user, kind="info", title=f"n{i}")
    stream = await connected(user, Last_Event_ID="0")
    resync = await stream.next_event()
    assert resync.event == "resync" and resync.id is None
    assert resync.json() == {"reason": "replay_limit", "missed": 5}
    assert [e.id for e in await stream.events(3)] == ["6", "7", "8"]
    await stream.close()


async def test_pruned_history_gets_resync(user: Any) -> None:
    from datetime import timedelta

    for i in range(1, 4):
        await notify(user, kind="info", title=f"n{i}")
    await sync_to_async(services.prune)(older_than=timedelta(0))
    await notify(user, kind="info", title="n4")
    stream = await connected(user, Last_Event_ID="1")
    resync = await stream.next_event()
    assert resync.json()["reason"] == "retention"
    assert (await stream.next_event()).id == "4"
    await stream.close()


async def test_duplicate_skipped_and_gap_filled_from_database(user: Any) -> None:
    stream = await connected(user)
    [first] = await notify(user, kind="info", title="one")
    assert (await stream.next_event()).id == "1"
    # A replayed doorbell for seq 1 is ignored.
    await publish.send([(user.pk, messages.notification({"seq": 1}))])
    # Rows 2 and 3 exist but only 3's doorbell rings: 2 is read from the database.
    from notifications.models import Notification

    await Notification.objects.acreate(recipient=user, seq=2, kind="info", title="two")
    await Notification.objects.acreate(recipient=user, seq=3, kind="info", title="three")
    await publish.send([(user.pk, messages.notification({"seq": 3}))])
    events = await stream.events(2)
    assert [(e.id, e.json()["title"]) for e in events] == [("2", "two"), ("3", "three")]
    await stream.close()


async def test_read_events_reach_every_stream(user: Any) -> None:
    [n] = await notify(user, kind="info", title="x")
    streams = [await connected(user) for _ in range(2)]
    await sync_to_async(services.mark_read)(notifications=Notification.objects.filter(pk=n.pk))
    for s in streams:
        event = await s.until("read")
        assert event.id is None
        assert event.json() == {"ids": [n.pk], "unread_count": 0}
        await s.close()


async def test_heartbeat_comment_on_idle_stream(user: Any, configure: Any) -> None:
    configure(HEARTBEAT_SECONDS=0.2)
    stream = await connected(user)
    async with asyncio.timeout(5):
        while not stream.parser.comments:
            await stream.read_chunk()
    assert stream.parser.comments[0] == "heartbeat"
    await stream.close()


async def test_connection_limit_429_then_admitted_after_close(user: Any, configure: Any) -> None:
    configure(MAX_CONNECTIONS_PER_USER=2)
    first, second = await connected(user), await connected(user)
    refused = await open_stream(user)
    assert refused.status == 429
    assert refused.headers["retry-after"] == "5"
    assert "detail" in refused.json_body()
    await first.close()
    third = await connected(user)
    # The existing streams were not disturbed.
    await notify(user, kind="info", title="still here")
    assert (await second.next_event()).event == "notification"
    assert (await third.next_event()).event == "notification"
    await second.close()
    await third.close()
    assert await slot_count(user.pk) == 0


async def test_evict_oldest_closes_the_oldest_stream(user: Any, configure: Any) -> None:
    configure(MAX_CONNECTIONS_PER_USER=2, ON_LIMIT="evict_oldest")
    oldest, middle = await connected(user), await connected(user)
    newest = await connected(user)
    async with asyncio.timeout(5):
        while not oldest.finished:
            await oldest.read_chunk()
    await oldest.close()
    await notify(user, kind="info", title="x")
    assert (await middle.next_event()).event == "notification"
    assert (await newest.next_event()).event == "notification"
    await middle.close()
    await newest.close()


async def test_revocation_ends_the_stream(user: Any) -> None:
    stream = await connected(user)
    await sync_to_async(services.revoke_streams)(user_id=user.pk)
    await stream.until_ended(timeout=5)
    await stream.close()
    assert await slot_count(user.pk) == 0


async def test_password_change_and_deactivation_revoke(user: Any) -> None:
    for change in ("password", "deactivate"):
        stream = await connected(user)
        if change == "password":
            user.set_password("a-brand-new-password")
        else:
            user.is_active = False
        await user.asave()
        await stream.until_ended(timeout=5)
        await stream.close()


async def test_disconnect_cleans_up_hub_and_slot(user: Any) -> None:
    stream = await connected(user)
    assert await slot_count(user.pk) == 1
    assert len(hub().inboxes[user.pk]) == 1
    await stream.close()
    assert await slot_count(user.pk) == 0
    assert user.pk not in hub().inboxes


async def test_stream_skips_site_middleware_but_keeps_cors(user: Any, settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    stream = await open_stream(user, Origin="https://shop.example")
    assert stream.status == 200
    assert stream.headers["access-control-allow-origin"] == "https://shop.example"
    # The site's sync middleware (here XFrameOptionsMiddleware) costs thread hops: skipped.
    assert "x-frame-options" not in stream.headers
    await stream.close()
    other = await open_stream(user, Origin="https://evil.example")
    assert "access-control-allow-origin" not in other.headers
    await other.close()


async def test_channel_layer_down_streams_read_the_database(
    user: Any, settings: Any, configure: Any, caplog: Any
) -> None:
    configure(POLL_SECONDS=0.2)
    # The project's layer, on a port nothing listens on: every channel-layer call fails.
    settings.CHANNEL_LAYERS = channel_layers(f"redis://127.0.0.1:{free_port()}/0")
    stream = await connected(user)
    await notify(user, kind="info", title="rung while Redis is down")
    event = await stream.next_event()
    assert (event.event, event.json()["title"]) == ("notification", "rung while Redis is down")
    assert not hub().live
    # Said once, loudly: a silent fall-back to polling would hide the outage.
    assert caplog.text.count("Channel layer unavailable") == 1
    await stream.close()


@pytest.fixture
def redis_layer(settings: Any, redis_url: str) -> None:
    """Use the project's own Redis channel-layer configuration, on this run's Redis."""
    from tests.conftest import CHANNELS_PREFIX

    settings.CHANNEL_LAYERS = channel_layers(redis_url, CHANNELS_PREFIX)


async def slot_count(user_id: int) -> int:
    """Count the live connection slots of ``user_id``, in every process."""
    return len((await slots().by_user()).get(user_id, []))


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    """Wait for ``condition`` to hold, checking often, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def until_live() -> None:
    await until(lambda: hub().live)


async def test_idle_hub_stays_subscribed_on_redis(
    user: Any, redis_layer: None, configure: Any
) -> None:
    configure(HEARTBEAT_SECONDS=30)
    stream = await connected(user)
    await until_live()
    generation, probes = hub().generation, hub().probes_answered
    # Probes answered for longer than the layer's blocking receive (5 s): an idle receive
    # must not look like an outage, which would send every stream to the database.
    await until(lambda: hub().probes_answered >= probes + 7, timeout=15)
    assert hub().live and hub().generation == generation
    await notify(user, kind="info", title="still live")
    assert (await stream.next_event()).json()["title"] == "still live"
    await stream.close()


async def test_a_blip_in_the_feed_is_noticed_and_caught_up(
    user: Any, redis_layer: None, configure: Any, caplog: Any
) -> None:
    # Frequent probes; the heartbeat (and so the sweep) is far beyond the test's wait.
    configure(POLL_SECONDS=0.2, HEARTBEAT_SECONDS=60)
    stream = await connected(user)
    await until_live()
    async with blip():
        await notify(user, kind="info", title="rung during the blip")
    event = await stream.next_event(timeout=5)
    assert event.json()["title"] == "rung during the blip"
    assert "dropped messages" in caplog.text
    assert hub().live
    await stream.close()


async def test_a_revocation_lost_in_a_blip_still_ends_the_stream(
    user: Any, redis_layer: None, configure: Any
) -> None:
    configure(POLL_SECONDS=0.2, HEARTBEAT_SECONDS=60)
    stream = await connected(user)
    await until_live()
    async with blip():
        # Say, logging out elsewhere while the feed reconnects: the message is lost...
        await sync_to_async(services.revoke_streams)(user_id=user.pk)
    # ...but it was counted in the database, which the stream checks when it catches up.
    await stream.until_ended(timeout=5)
    await stream.close()


async def test_a_revocation_while_the_layer_is_down_ends_the_stream(
    user: Any, settings: Any, configure: Any
) -> None:
    configure(POLL_SECONDS=0.2)
    settings.CHANNEL_LAYERS = channel_layers(f"redis://127.0.0.1:{free_port()}/0")
    stream = await connected(user)
    await sync_to_async(services.revoke_streams)(user_id=user.pk)  # its message cannot be sent
    await stream.until_ended(timeout=5)
    await stream.close()


async def test_a_frozen_redis_is_an_outage_and_nothing_waits_for_the_sweep(
    user: Any,
    settings: Any,
    configure: Any,
    redis_server_factory: Any,
    monkeypatch: Any,
) -> None:
    import os
    import signal

    from notifications.stream import hub as hub_module
    from tests.conftest import CHANNELS_PREFIX

    redis_server = redis_server_factory()
    settings.CHANNEL_LAYERS = channel_layers(redis_server.url, CHANNELS_PREFIX)
    configure(POLL_SECONDS=0.2, HEARTBEAT_SECONDS=60, PUBLISH_TIMEOUT_SECONDS=0.5)
    monkeypatch.setattr(hub_module, "PROBE_TIMEOUT", 1.0)
    stream = await connected(user)
    await until_live()
    # A Redis that stops answering without closing anything (paused, or a dead network
    # path): calls hang instead of failing.
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        await notify(user, kind="info", title="rung while Redis hung")  # its publish times out
        event = await stream.next_event(timeout=5)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    assert event.json()["title"] == "rung while Redis hung"
    await stream.close()


@contextlib.asynccontextmanager
async def blip(seconds: float = 0.5) -> AsyncIterator[None]:
    """A blip of the live feed, shorter than the probe timeout, as when the pub/sub layer
    reconnects on its own: for ``seconds``, everything sent vanishes and no call fails."""
    from channels.layers import get_channel_layer

    from notifications.delivery.direct import Ringer

    layer = get_channel_layer()
    send, group_send, ring = layer.send, layer.group_send, Ringer.group_send
    layer.send = layer.group_send = _vanish
    Ringer.group_send = _vanish_now  # type: ignore[method-assign]
    try:
        yield
        await asyncio.sleep(seconds)
    finally:
        layer.send, layer.group_send = send, group_send
        Ringer.group_send = ring  # type: ignore[method-assign]


async def _vanish(*args: Any) -> None:
    pass


def _vanish_now(*args: Any) -> None:
    pass


async def test_lost_doorbell_is_found_by_the_sweep(
    user: Any, redis_layer: None, configure: Any
) -> None:
    from notifications.models import Notification, StreamCounter

    configure(HEARTBEAT_SECONDS=0.5)
    stream = await connected(user)
    await until_live()
    # Stored, but its doorbell never rang (say the publisher's Redis connection failed).
    await StreamCounter.objects.acreate(user=user, last_seq=1)
    await Notification.objects.acreate(recipient=user, seq=1, kind="info", title="silent")
    event = await stream.next_event(timeout=10)
    assert (event.event, event.id, event.json()["title"]) == ("notification", "1", "silent")
    assert hub().live
    await stream.close()


async def test_revocation_without_a_doorbell_is_found_by_the_sweep(
    user: Any, redis_layer: None, configure: Any
) -> None:
    from django.utils import timezone

    from notifications.models import StreamCounter

    configure(HEARTBEAT_SECONDS=0.5)
    stream = await connected(user)
    await until_live()
    # Revoked, but its doorbell never rang (say the publisher's Redis connection failed).
    await StreamCounter.objects.acreate(user=user, revocations=1, revoked_at=timezone.now())
    await stream.until_ended(timeout=10)
    await stream.close()


async def test_the_sweep_leaves_streams_opened_after_a_revocation_open(
    user: Any, redis_layer: None, configure: Any
) -> None:
    configure(HEARTBEAT_SECONDS=0.5)
    await sync_to_async(services.revoke_streams)(user_id=user.pk)  # say, a logout elsewhere before
    stream = await connected(user)
    await until_live()
    # Sweeps see the revocation for a while; this stream's credentials are newer than it.
    beats = hub().upkeep.beats
    await until(lambda: hub().upkeep.beats >= beats + 4)
    await notify(user, kind="info", title="still open")
    assert (await stream.next_event()).json()["title"] == "still open"
    await stream.close()


async def test_heartbeat_renews_slots_and_the_newest_over_the_limit_is_closed(
    user: Any, configure: Any
) -> None:
    configure(HEARTBEAT_SECONDS=0.2, MAX_CONNECTIONS_PER_USER=1)
    established = await connected(user)
    # Leases last three heartbeats; renewed, the slot outlives them.
    beats = hub().upkeep.beats
    await until(lambda: hub().upkeep.beats >= beats + 5)
    assert await slot_count(user.pk) == 1
    # The store forgets the slot (as a restarted Redis would), and a newer stream takes the
    # only place: at the next renewal the established stream keeps it, the newer one goes.
    [inbox] = hub().inboxes[user.pk]
    await slots().release(inbox.slot)
    newer = await connected(user)
    await newer.until_ended(timeout=5)
    await newer.close()
    assert await slot_count(user.pk) == 1
    await notify(user, kind="info", title="still here")
    assert (await established.next_event()).json()["title"] == "still here"
    await established.close()


def test_the_site_keeps_the_garbage_collector_off_its_streams() -> None:
    import gc

    # project.asgi (imported above) calls notifications.asgi.tune_garbage_collector().
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] >= 50_000


# --- What issue-free operation needs: deploys, crashes, hostile clients --------------------


async def test_retry_is_jittered_per_connection_within_its_bounds(
    user: Any, configure: Any
) -> None:
    configure(RETRY_MILLISECONDS=2000, MAX_CONNECTIONS_PER_USER=20)
    streams = [await connected(user) for _ in range(12)]
    retries = {s.parser.retry for s in streams}
    assert all(r is not None and 2000 <= r <= 3000 for r in retries)
    assert len(retries) > 1  # twelve equal draws from 1,001 values would be a broken jitter
    for s in streams:
        await s.close()


async def test_an_open_abandoned_before_its_first_byte_gives_its_slot_back(
    user: Any, configure: Any
) -> None:
    configure(MAX_CONNECTIONS_PER_USER=1, HEARTBEAT_SECONDS=30)
    gone = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            # The client leaves as the answer starts: the response is never sent and its
            # stream never starts.
            gone.set()
            await asyncio.Event().wait()

    scope = AsgiStream(application, headers=bearer(user)).communicator.scope
    async with asyncio.timeout(10):
        await application(scope, receive, send)
    assert await slot_count(user.pk) == 0
    await (await connected(user)).close()


@pytest.mark.parametrize("how", ["update", "delete"])
async def test_an_account_deactivated_or_deleted_without_a_signal_loses_its_streams(
    user: Any, configure: Any, how: str
) -> None:
    from django.contrib.auth import get_user_model

    configure(HEARTBEAT_SECONDS=0.3)
    stream = await connected(user)
    accounts = get_user_model().objects.filter(pk=user.pk)
    if how == "update":
        await accounts.aupdate(is_active=False)  # QuerySet.update() sends no signal
    else:
        await sync_to_async(_delete_without_signals)(user.pk)
    await stream.until_ended(timeout=5)  # two heartbeats, with room for a slow machine
    await stream.close()


def _delete_without_signals(user_id: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table, column in (
            (Notification._meta.db_table, "recipient_id"),
            ("notifications_streamcounter", "user_id"),
            ("notifications_preference", "user_id"),
            ("auth_user", "id"),
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {column} = %s", [user_id])


async def test_notify_returns_at_once_while_redis_hangs(
    user: Any, settings: Any, configure: Any, redis_server_factory: Any
) -> None:
    import os
    import signal

    from tests.conftest import CHANNELS_PREFIX

    redis_server = redis_server_factory()
    settings.CHANNEL_LAYERS = channel_layers(redis_server.url, CHANNELS_PREFIX)
    configure(POLL_SECONDS=0.2, HEARTBEAT_SECONDS=60, PUBLISH_TIMEOUT_SECONDS=2)
    stream = await connected(user)
    await until_live()
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        [stored] = await notify(user, kind="info", title="ordered while Redis hung")
        # notify() has returned with its row committed, and its doorbell is still waiting
        # on the hung layer: nothing made the caller wait for it.
        assert not await sync_to_async(publish.flush)(0)
        assert await Notification.objects.filter(pk=stored.pk).aexists()
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    assert (await stream.next_event(timeout=10)).json()["title"] == "ordered while Redis hung"
    await stream.close()
