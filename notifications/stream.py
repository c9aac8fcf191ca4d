"""One stream's life: subscribe, replay, follow the live feed, heartbeat, clean up.

The database is the log and the channel layer is the doorbell. Because each user's ``seq``
has no holes, the stream always knows which notification comes next: a live message it
has already sent is skipped, and one that jumps ahead makes it read the missing rows from
the database. When the live feed cannot be trusted (the in-memory layer cannot hear other
processes; Redis may be down), the stream reads the database every ``POLL_SECONDS`` and
goes back to live delivery as soon as the layer answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from notifications import metrics, publish, selectors, sse
from notifications.conf import conf
from notifications.db import database
from notifications.hub import HEAD, REVOKED, SLOT_LOST, Inbox, hub
from notifications.limits import Slot, slots
from notifications.models import Notification
from notifications.payloads import notification_payload

logger = logging.getLogger(__name__)


def notification_frame(seq: int, payload_json: str) -> bytes:
    """Return the SSE frame of one notification."""
    return sse.event("notification", payload_json, id=seq)


def _frame(notification: Notification) -> bytes:
    return notification_frame(notification.seq, sse.encode_json(notification_payload(notification)))


class Closed(Exception):
    """The stream must end: revoked, evicted, or its slot lost."""


class Stream:
    """Owns one connection: call :meth:`frames` and send what it yields."""

    def __init__(self, *, user_id: int, last_event_id: int | None, slot: Slot) -> None:
        self.user_id = user_id
        self.last_event_id = last_event_id
        self.slot = slot
        self.hub = hub()
        self.inbox: Inbox | None = None
        self.generation = 0
        self.last_seq = 0
        self.revocations = 0

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield the stream's bytes until the client leaves or the stream is closed."""
        metrics.streams_open.inc()
        try:
            # Headers go out with the first chunk: send something at once.
            yield sse.retry(conf.RETRY_MILLISECONDS)
            # Subscribe before reading the database, so nothing falls between the two.
            self.inbox = self.hub.register(self.user_id, self.slot)
            await self.hub.wait_started()
            self.generation = self.hub.generation
            start = await database(
                selectors.stream_start,
                self.user_id,
                last_event_id=self.last_event_id,
                limit=conf.REPLAY_LIMIT,
            )
            yield sse.json_event(
                "connected", {"user_id": self.user_id, "unread_count": start.unread_count}
            )
            if start.replay.missed:
                metrics.resyncs.inc()
                yield sse.json_event(
                    "resync", {"reason": start.replay.reason, "missed": start.replay.missed}
                )
            self.last_seq = start.resume_from
            self.revocations = start.revocations
            for notification in start.replay.notifications:
                yield _frame(notification)
                metrics.written(replay=True)
                self.last_seq = notification.seq
            async for frame in self._follow(self.inbox):
                yield frame
        except Closed as e:
            logger.info("Stream %s of user %s closed: %s", self.slot.id, self.user_id, e)
        finally:
            metrics.streams_open.dec()
            await self._cleanup()

    async def _follow(self, inbox: Inbox) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        heartbeat_at = loop.time() + conf.HEARTBEAT_SECONDS
        sent_since_heartbeat = False
        while True:
            wait = heartbeat_at - loop.time()
            if not self.hub.live:
                wait = min(wait, conf.POLL_SECONDS)
            message = await _next(inbox, max(wait, 0))
            if self.generation != self.hub.generation or inbox.overflowed:
                # The live feed went down or up, or this stream fell behind: doorbells may
                # have been lost, and the database has everything.
                self.generation, inbox.overflowed = self.hub.generation, False
                async for frame in self._fill_gap():
                    sent_since_heartbeat = True
                    yield frame
            if message is not None:
                async for frame in self._handle(message):
                    sent_since_heartbeat = True
                    yield frame
            elif not self.hub.live:
                # Read the database in place of a live feed that cannot be trusted.
                async for frame in self._catch_up():
                    sent_since_heartbeat = True
                    yield frame
            if loop.time() >= heartbeat_at:
                if not sent_since_heartbeat:
                    yield sse.HEARTBEAT
                heartbeat_at = loop.time() + conf.HEARTBEAT_SECONDS
                sent_since_heartbeat = False

    async def _handle(self, message: dict[str, Any]) -> AsyncIterator[bytes]:
        kind = message.get("type")
        if kind in (publish.NOTIFICATION, HEAD):
            seq = message["seq"]
            if kind == publish.NOTIFICATION and seq == self.last_seq + 1:
                self.last_seq = seq
                yield notification_frame(seq, message["json"])
                metrics.written(message)
            elif seq > self.last_seq:
                # A message was lost or overtaken: the database has everything up to seq.
                async for frame in self._fill_gap():
                    yield frame
        elif kind == publish.READ:
            yield sse.json_event("read", {k: v for k, v in message.items() if k != "type"})
        elif kind == publish.REVOKE:
            raise Closed("revoked")
        elif kind == REVOKED and message["revocations"] > self.revocations:
            raise Closed("revoked while its message was lost")
        elif kind == SLOT_LOST:
            raise Closed("its connection slot expired and was taken")
        elif kind == publish.EVICT and message.get("connection") == self.slot.id:
            raise Closed("evicted by a newer stream over the limit")

    async def _fill_gap(self) -> AsyncIterator[bytes]:
        """Catch up where the live feed may have lost messages, and count it."""
        metrics.gaps_filled.inc()
        async for frame in self._catch_up():
            yield frame

    async def _catch_up(self) -> AsyncIterator[bytes]:
        """Send every stored notification after ``last_seq``, a page at a time.

        Catching up means messages may have been lost, and a lost one may have been a
        revocation: the first visit to the database checks that first.
        """
        recheck = True
        while True:
            page = await database(self._page_after_last_seq, recheck)
            recheck = False
            for notification in page:
                yield _frame(notification)
                metrics.written()
                self.last_seq = notification.seq
            if len(page) < conf.REPLAY_LIMIT:
                return

    def _page_after_last_seq(self, recheck: bool) -> list[Notification]:
        if recheck and not selectors.stream_allowed(self.user_id, self.revocations):
            raise Closed("revoked, or the account is no longer active")
        return selectors.after_seq(self.user_id, self.last_seq, limit=conf.REPLAY_LIMIT)

    async def _cleanup(self) -> None:
        """Leave the hub and free the slot; safe to run twice, never raises."""
        if self.inbox is not None:
            self.hub.unregister(self.user_id, self.inbox)
            self.inbox = None
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await slots().release(self.slot)


async def _next(inbox: Inbox, timeout: float) -> dict[str, Any] | None:
    """Wait up to ``timeout`` for the next message (cancelling a queue get loses nothing)."""
    try:
        async with asyncio.timeout(timeout):
            return await inbox.get()
    except TimeoutError:
        return None
