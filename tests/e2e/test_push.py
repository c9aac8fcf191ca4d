"""Web Push across processes: a notification sent by the operators' command (one process)
for a user whose stream a daphne server holds (another) is shown live and not pushed; once
the stream is closed, the next one is pushed, exactly once, decrypted and verified by a local
push service (``tests/push_service.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken

from notifications.models import PushSubscription
from notifications.push import keys
from notifications.stream.limits import slots
from tests.e2e.conftest import client, send
from tests.e2e.listener import Listener
from tests.push_service import PushService

pytestmark = pytest.mark.django_db(transaction=True)


async def until_no_stream(server: Any, user_id: int) -> None:
    """Wait until the servers' connection slots (in Redis) hold no stream of ``user_id``."""
    configured = {
        **settings.NOTIFICATIONS,
        "REDIS_URL": server.env["REDIS_URL"],
        "REDIS_PREFIX": server.env["NOTIFICATIONS_REDIS_PREFIX"],
    }
    with override_settings(NOTIFICATIONS=configured):
        async with asyncio.timeout(15):
            while await slots().watching([user_id]):
                await asyncio.sleep(0.05)
        await slots().aclose()


async def test_a_push_only_while_no_stream_is_open_anywhere(start_server: Any, user: Any) -> None:
    pair = keys.generate()
    push_env = {
        "WEBPUSH_PRIVATE_KEY": pair.private_key,
        "WEBPUSH_PUBLIC_KEY": pair.public_key,
        "WEBPUSH_SUBJECT": "mailto:ops@example.com",
    }
    server = start_server(**push_env)
    with PushService(expected_public_key=pair.public_key) as service:
        browser = service.subscribe()
        await PushSubscription.objects.acreate(
            user=user,
            endpoint=browser.endpoint,
            p256dh=browser.info["keys"]["p256dh"],
            auth=browser.info["keys"]["auth"],
        )
        bearer = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
        async with client(server) as http, Listener(http, headers=bearer) as stream:
            assert (await stream.next()).event == "connected"
            await sync_to_async(send)(server, user.username, "Seen live", kind="order.shipped")
            await stream.next_named("notification")
        # The stream's slot is freed once the server sees it closed: then the command's
        # process finds no stream of the user in Redis.
        await until_no_stream(server, user.pk)
        await sync_to_async(send)(server, user.username, "Pushed", kind="order.shipped")
        [delivery] = await asyncio.to_thread(service.wait_for, 1, 30)
        assert delivery.json()["title"] == "Pushed"
        assert delivery.claims["sub"] == "mailto:ops@example.com"
        await asyncio.sleep(1)
        assert [d.json()["title"] for d in service.deliveries()] == ["Pushed"]
        assert service.refusals() == []
