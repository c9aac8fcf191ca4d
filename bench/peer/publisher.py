"""The peer's side of a publisher process: ``send_event`` to a user's channel, timed."""

from __future__ import annotations

from typing import Any

from bench.peer import channel_of
from bench.publisher import Marks, Site, Timer


def site() -> Site:
    """Return how a publisher sends to the peer, with its Redis publish timed.

    Each event carries ``{"title": ..., "data": data}`` like the product's notifications, so
    the clients read ``t`` the same way; its ``id:`` (``user-<id>:<n>``) ends with the
    channel's sequence, which the clients check for order as they do the product's ``seq``.
    """
    from django.db import connection
    from django_eventstream import eventstream, send_event

    # ``send_event`` stores the event, then publishes it on this client: what lies between
    # is the storing, what this call takes is the publishing.
    timer = Timer(eventstream.redis_client, "publish")

    def send(user_id: int, title: str, data: dict[str, Any], body: str = "") -> Marks:
        payload = {"title": title, "body": body, "data": data}
        return timer.call(send_event, channel_of(user_id), "message", payload)[1]

    def warm_up() -> None:
        connection.ensure_connection()
        eventstream.redis_client.ping()

    return Site(timer, send, warm_up)
