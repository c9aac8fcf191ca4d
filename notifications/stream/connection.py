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
import functools
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Protocol

from django.db import InterfaceError, OperationalError

from notifications import metrics, selectors
from notifications.conf import conf
from notifications.delivery import messages
from notifications.delivery.messages import Message
from notifications.models import Notification
from notifications.stream import frames, sse, start_read
from notifications.stream.heap import heap
from notifications.stream.hub import hub
from notifications.stream.inboxes import Inbox
from notifications.stream.limits import Slot, slots
from notifications.stream.threads import on_thread

logger = logging.getLogger(__name__)


# A frame goes to the server in pieces of at most this size. A server takes each piece
# whole (into Twisted's buffer, an asyncio transport's), however full its buffer already is:
# in pieces, what it holds past its own limit is one piece, and the rest of a large frame
# waits here, where it counts against a slow client (``inboxes``, ``backpressure``).
PIECE_BYTES = 65_536


class Closed(Exception):
    """The stream must end: revoked, evicted, or its slot lost."""


# The bytes of a stream up to its ``connected`` event, and the iterator of the rest (None
# when the stream ended there).
Started = tuple[bytes, AsyncIterator[bytes] | None]


class Stream:
    """Owns one connection: call :meth:`start`, send its bytes, then the rest it returns."""

    def __init__(
        self,
        *,
        user_id: int,
        last_event_id: int | None,
        slot: Slot,
        read_start: StartReader | None = None,
    ) -> None:
        self.user_id = user_id
        # How the start is read: by default for a user Django authenticated (no token).
        # Dropped once read: it holds the open's token.
        self.read_start: StartReader | None = read_start or functools.partial(
            start_read.read_start, token=None
        )
        self.last_event_id = last_event_id
        self.slot = slot
        self.hub = hub()
        self.inbox: Inbox | None = None
        self.last_seq = 0
        self.revocations = 0
        # The reader's language, read with the start: what templated notifications render in.
        self.language = ""
        self.released = False
        # Whether the start read succeeded: a failure before it is the open's to answer.
        self.connected = False
        # The hub's generation this stream has caught up with (see Hub).
        self.generation = 0

    async def start(self) -> Started:
        """Run the stream up to its ``connected`` event (the start read) and return its bytes.

        Headers go out with them, so that a start that fails is answered as a refusal:
        ``auth.NotAuthenticated`` for a user the read refuses (gone, inactive, password
        changed), the database's error while it is unreachable. Whatever is raised, the
        slot has been given back.
        """
        frames = self.frames()
        first = await anext(frames)
        try:
            connected = await anext(frames)
        except StopAsyncIteration:
            return first, None
        finally:
            # The rest is handed over by whoever sends it, not by this task.
            self._handing_over(None)
        return first + connected, frames

    async def frames(self) -> AsyncIterator[bytes]:
        """Yield the stream's bytes, in pieces of at most ``PIECE_BYTES``, until the client
        leaves or the stream is closed."""
        whole = self._frames()
        large = False
        try:
            async for frame in whole:
                large |= len(frame) > PIECE_BYTES
                for start in range(0, len(frame), PIECE_BYTES):
                    self._handing_over(len(frame) - start)
                    yield frame[start : start + PIECE_BYTES]
                    self._handing_over(None)
        finally:
            await whole.aclose()
            if large:
                # The frames it held are freed with it, and the C heap would keep them: hand
                # them back to the operating system.
                heap.trim_soon()

    def _handing_over(self, unsent: int | None) -> None:
        """Tell the inbox which task hands the stream's bytes to the server, while one does
        (the task to cancel when the server cannot take them: a slow client), and how much
        of the frame is left; ``None`` once the server took the piece."""
        if self.inbox is not None:
            writer = None if unsent is None else asyncio.current_task()
            self.inbox.handing_over(writer, unsent or 0)

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        metrics.streams_open.inc()
        try:
            # Headers go out with the first chunk: send something at once. The delay is
            # jittered, so the clients of a restarted server do not all come back at once.
            retry = conf.RETRY_MILLISECONDS
            yield sse.retry(random.randint(retry, retry * 3 // 2))
            # Subscribe before reading the database, so nothing falls between the two.
            self.inbox = self.hub.register(self.user_id, self.slot)
            await self.hub.wait_routed(self.user_id)
            # Read before the database: a change of the feed until then is caught up by it.
            self.generation = self.hub.generation
            read_start, self.read_start = self.read_start, None
            assert read_start is not None, "a stream starts once"
            start = await read_start(
                self.user_id, last_event_id=self.last_event_id, limit=conf.REPLAY_LIMIT
            )
            del read_start
            self.connected = True
            yield frames.connected(
                user_id=self.user_id, unread_count=start.unread_count, last_seq=start.resume_from
            )
            if start.replay.reason:
                metrics.resyncs.inc()
                yield frames.resync(reason=start.replay.reason, missed=start.replay.missed)
            self.last_seq = start.resume_from
            self.revocations = start.revocations
            self.language = start.language
            replay = self._replay(start.replay.notifications)
            # Nothing of the start is kept for the stream's life: the replayed rows least.
            del start
            async for frame in replay:
                yield frame
            async for frame in self._follow(self.inbox):
                yield frame
        except Closed as e:
            logger.info("Stream %s of user %s closed: %s", self.slot.id, self.user_id, e)
        except (OperationalError, InterfaceError) as e:
            if not self.connected:
                raise  # The open answers it (503).
            # Ended rather than broken: the client reconnects with Last-Event-ID, and is told
            # to wait (503) until the database is back.
            logger.warning(
                "Stream %s of user %s ended: the database failed (%r).",
                self.slot.id,
                self.user_id,
                e,
            )
        finally:
            metrics.streams_open.dec()
            await self.close()

    async def _replay(self, notifications: list[Notification]) -> AsyncIterator[bytes]:
        """The frames of the notifications missed since ``Last-Event-ID``, oldest first."""
        for notification in notifications:
            yield frames.notification(notification, language=self.language)
            metrics.written(replay=True)
            self.last_seq = notification.seq

    async def _follow(self, inbox: Inbox) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        heartbeat_at = loop.time() + conf.HEARTBEAT_SECONDS
        sent_since_heartbeat = False
        while True:
            wait = heartbeat_at - loop.time()
            if not self.hub.live:
                wait = min(wait, conf.POLL_SECONDS)
            message = await _next(inbox, max(wait, 0))
            if inbox.too_slow:
                raise Closed("its client stopped reading")
            if inbox.overflowed:
                # This stream fell behind and its inbox dropped messages: the database has
                # everything.
                inbox.overflowed = False
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

    async def _handle(self, message: Message) -> AsyncIterator[bytes]:
        """Act on one message from the hub: a branch for each type it may bring."""
        match message.get("type"):
            case messages.NOTIFICATION:
                seq = message["payload"]["seq"]
                if seq == self.last_seq + 1:
                    self.last_seq = seq
                    yield frames.notification(
                        message["payload"], language=self.language, params=message.get("params")
                    )
                    metrics.written(message)
                elif seq > self.last_seq:
                    # One before it was lost or overtaken: the database has everything.
                    async for frame in self._fill_gap():
                        yield frame
            case messages.NEWER_SEQ:
                if message["seq"] > self.last_seq:
                    async for frame in self._fill_gap():
                        yield frame
            case messages.FEED_CHANGED:
                # The live feed went down or up, or dropped messages in a blip: doorbells may
                # have been lost, and the database has everything.
                if message["generation"] > self.generation:
                    self.generation = self.hub.generation
                    async for frame in self._fill_gap():
                        yield frame
            case messages.READ_STATE:
                yield frames.read_state(message)
            case messages.STATE:
                yield frames.state(message, language=self.language)
            case messages.CLOSE_USER_STREAMS:
                raise Closed("revoked")
            case messages.REVOKED_LATELY:
                if message["revocations"] > self.revocations:
                    raise Closed("revoked while its message was lost")
            case messages.SLOT_LOST:
                raise Closed("the newest over its user's limit")
            case messages.ROUTE_READY:
                # The user's route came up after this stream read the database.
                async for frame in self._fill_gap():
                    yield frame
            case messages.SERVER_STOPPING:
                raise Closed("the server is stopping")
            case messages.CLOSE_STREAM:
                if message["connection"] == self.slot.id:
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
            page = await on_thread(self._page_after_last_seq, recheck)
            recheck = False
            for notification in page:
                yield frames.notification(notification, language=self.language)
                metrics.written()
                self.last_seq = notification.seq
            if len(page) < conf.REPLAY_LIMIT:
                return

    def _page_after_last_seq(self, recheck: bool) -> list[Notification]:
        if recheck and not selectors.stream_allowed(self.user_id, self.revocations):
            raise Closed("revoked, or the account is no longer active")
        return selectors.after_seq(self.user_id, self.last_seq, limit=conf.REPLAY_LIMIT)

    async def close(self) -> None:
        """Leave the hub and free the slot, whether or not the stream ever started.

        Safe to call again, and never raises: the stream calls it when it ends, and the
        stream handler when the request ends (see ``notifications.stream.handler.on_close``).
        """
        if self.inbox is not None:
            self.hub.unregister(self.user_id, self.inbox)
            if self.inbox.drop_all() > PIECE_BYTES or self.inbox.too_slow:
                # A backlog (a slow client's) was freed: hand it back to the operating system.
                heap.trim_soon()
            self.inbox = None
        if not self.released:
            self.released = True
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await slots().release(self.slot)


class StartReader(Protocol):
    """Reads where a stream starts (see ``start_read.read_start``)."""

    def __call__(
        self, user_id: int, *, last_event_id: int | None, limit: int
    ) -> Awaitable[selectors.StreamStart]: ...


async def _next(inbox: Inbox, timeout: float) -> Message | None:
    """Wait up to ``timeout`` for the next message (cancelling a queue get loses nothing)."""
    try:
        async with asyncio.timeout(timeout):
            return await inbox.get()
    except TimeoutError:
        return None
