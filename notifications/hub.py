"""This process's streams, fed by one channel-layer subscription for the whole process.

A stream does not join a channel-layer group of its own. Each server process joins one
group, ``notifications.streams``, and publishers send batches of per-user messages to it;
the hub hands each message to the inboxes of that user's streams in this process. So
opening a stream costs no Redis round trip, a broadcast to ten thousand users is a handful
of channel-layer messages instead of ten thousand, and a Redis outage is noticed once per
process, by the hub, which tells every stream to catch up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.utils import timezone

from notifications import metrics, publish, selectors
from notifications.conf import conf
from notifications.db import database
from notifications.limits import Slot, slots

logger = logging.getLogger(__name__)

# The message a stream finds in its inbox when the hub's subscription went down or up.
STATE_CHANGED = "notifications.hub.changed"
# The message a stream finds when the sweep saw a newer ``seq`` than it may have sent.
HEAD = "notifications.hub.head"  # {"seq": int}
# The message a stream finds when the sweep saw its user revoked lately; it closes if that
# was after it opened (a stream opened since has credentials good after the revocation).
REVOKED = "notifications.hub.revoked"  # {"revocations": int}
# The message a stream finds when its connection slot could not be renewed.
SLOT_LOST = "notifications.hub.slot_lost"
# What the hub sends itself to prove the live feed works end to end.
PROBE = "notifications.hub.probe"
# A probe unanswered this long means the live feed is down. Generous: a process busy with a
# broadcast reads its probe late, and a false alarm sends every stream to the database.
PROBE_TIMEOUT = 5.0
# The longest a stream waits for its process's first subscription.
STARTUP_WAIT = 1.0
# The sweep leaves notifications this young to their doorbells.
SWEEP_GRACE = timedelta(seconds=1)
# A stream further behind than this has its inbox marked overflowed and reads the database.
INBOX_SIZE = 1000


class Inbox(asyncio.Queue[dict[str, Any]]):
    """One stream's pending messages; when full, it remembers that it dropped some."""

    def __init__(self, slot: Slot) -> None:
        super().__init__(maxsize=INBOX_SIZE)
        self.slot = slot
        self.overflowed = False

    def offer(self, message: dict[str, Any]) -> None:
        try:
            self.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


class _Probes:
    """The hub's probes in flight, oldest first, as ``(number, loop time sent)``."""

    def __init__(self) -> None:
        self.in_flight: deque[tuple[int, float]] = deque()
        self.count = 0

    def send(self, now: float) -> dict[str, Any]:
        self.count += 1
        self.in_flight.append((self.count, now))
        return {"type": PROBE, "n": self.count}

    def answered(self, n: int) -> bool:
        """Forget probes up to ``n``; tell whether one sent before ``n`` never came back."""
        lost = False
        while self.in_flight and self.in_flight[0][0] <= n:
            lost |= self.in_flight.popleft()[0] < n
        return lost

    def overdue(self, now: float) -> bool:
        return bool(self.in_flight) and now - self.in_flight[0][1] > PROBE_TIMEOUT

    def forget(self) -> None:
        self.in_flight.clear()


class Hub:
    """Route the process's channel-layer messages to the inboxes of its streams.

    ``live`` tells whether the channel layer can be trusted to bring every publish: false
    while the subscription is down, and always false for the in-memory layer, which cannot
    hear other processes. ``generation`` grows each time the subscription goes down or comes
    up, and every stream is woken then: doorbells may have been lost around the change, so
    each stream catches up from the database.
    """

    def __init__(self) -> None:
        self.inboxes: defaultdict[int, set[Inbox]] = defaultdict(set)
        self.layer = get_channel_layer()
        self.trusted = self.layer is not None and not isinstance(self.layer, InMemoryChannelLayer)
        self.subscribed = False
        self.generation = 0
        self._outage_reported = False
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        # Set once the first subscription has been proven or has failed: see wait_started().
        self._started = asyncio.Event()
        if self.layer is None:
            self._started.set()

    @property
    def live(self) -> bool:
        return self.subscribed and self.trusted

    def register(self, user_id: int, slot: Slot) -> Inbox:
        """Return a new inbox for a stream of ``user_id``; messages reach it from now on."""
        if self.layer is not None and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self._beat())
        inbox = Inbox(slot)
        self.inboxes[user_id].add(inbox)
        return inbox

    async def wait_started(self) -> None:
        """Wait, at most ``STARTUP_WAIT``, for the process's first subscription.

        Only a process's first streams ever wait. Without this, a stream that opened as the
        process started could miss a message published just after its ``connected``; a
        notification would be caught up later, but not a revocation.
        """
        if not self._started.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STARTUP_WAIT):
                    await self._started.wait()

    def unregister(self, user_id: int, inbox: Inbox) -> None:
        inboxes = self.inboxes.get(user_id)
        if inboxes is not None:
            inboxes.discard(inbox)
            if not inboxes:
                del self.inboxes[user_id]

    def dispatch(self, message: dict[str, Any]) -> None:
        """Hand each ``(user_id, message)`` of a batch to that user's inboxes here."""
        for user_id, item in message.get("items", ()):
            for inbox in self.inboxes.get(user_id, ()):
                inbox.offer(item)

    async def _run(self) -> None:
        """Keep the subscription up and read it, with one receive that is never cancelled.

        Cancelling a pending channel-layer receive can drop buffered messages (and makes the
        pub/sub layer unsubscribe), so the loop waits on the same receive across timeouts.
        Every ``POLL_SECONDS`` it sends itself a probe through the layer: a layer that
        reconnects quietly (the pub/sub layer logs and retries on its own) would otherwise
        look live while doorbells are lost. The feed counts as live from the first probe that
        comes back until one goes unanswered for ``PROBE_TIMEOUT``, or a layer call fails.
        A probe that comes back after a later one was lost shows that the feed dropped
        messages in a blip too short for that (a reconnect): every stream catches up then.
        It also renews its group membership every heartbeat: a layer that expires members
        (the core layer's ``group_expiry``) must not drop a live process.
        """
        loop = asyncio.get_running_loop()
        current_task = asyncio.current_task()
        assert current_task is not None
        channel: str | None = None
        receiving: asyncio.Future[dict[str, Any]] | None = None
        renew_at = probe_at = 0.0
        probes = _Probes()
        try:
            # A layer call may turn a cancellation into an error of its own, or swallow it:
            # the loop checks, so that a process (or a test's event loop) can still stop it.
            while not current_task.cancelling():
                try:
                    now = loop.time()
                    if probes.overdue(now):
                        raise TimeoutError(f"no probe came back in {PROBE_TIMEOUT:g}s")
                    # A Redis that hangs rather than fails must not hang the hub with it.
                    async with asyncio.timeout(PROBE_TIMEOUT):
                        if channel is None:
                            channel = await self.layer.new_channel()
                        if now >= renew_at:
                            await self.layer.group_add(publish.STREAMS_GROUP, channel)
                            renew_at = now + conf.HEARTBEAT_SECONDS
                        if now >= probe_at:
                            await self.layer.send(channel, probes.send(now))
                            probe_at = now + conf.POLL_SECONDS
                    receiving = receiving or asyncio.ensure_future(self.layer.receive(channel))
                    wait = max(min(renew_at, probe_at) - loop.time(), 0)
                    done, _ = await asyncio.wait({receiving}, timeout=wait)
                    if done:
                        message, receiving = receiving.result(), None
                        if message.get("type") == PROBE:
                            if probes.answered(message["n"]) and self.subscribed:
                                logger.warning("The live feed dropped messages: streams catch up.")
                                self._wake_all()
                            self._set_subscribed(True)
                            self._started.set()
                        else:
                            self.dispatch(message)
                except Exception as e:
                    if receiving is not None and receiving.done():
                        receiving = None  # it failed; one still pending is kept, not cancelled
                    probes.forget()
                    renew_at = probe_at = 0.0
                    self._report_outage(e)
                    await asyncio.sleep(conf.POLL_SECONDS)
        finally:
            if receiving is not None:
                receiving.cancel()
            if channel is not None and self.subscribed:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await self.layer.group_discard(publish.STREAMS_GROUP, channel)
            self._set_subscribed(False)

    def _report_outage(self, error: Exception) -> None:
        self._started.set()
        if not self._outage_reported:
            self._outage_reported = True
            logger.warning(
                "Channel layer unavailable (%r): streams catch up from the database "
                "every %.1fs until it is back.",
                error,
                conf.POLL_SECONDS,
            )
            metrics.demotions.inc()
        self._set_subscribed(False)

    async def _beat(self) -> None:
        """Every heartbeat, do for all of the process's streams at once what each would
        otherwise do on its own: renew their connection slots, and look for lost doorbells."""
        while True:
            await asyncio.sleep(conf.HEARTBEAT_SECONDS)
            if self.inboxes:
                await self._renew_slots()
            if self.inboxes and self.trusted:
                await self._sweep()

    async def _renew_slots(self) -> None:
        inboxes = [inbox for group in self.inboxes.values() for inbox in group]
        try:
            lost = await slots().renew([inbox.slot for inbox in inboxes])
        except Exception as e:
            # Leases outlive three heartbeats: one failed renewal costs nothing yet.
            logger.warning("Could not renew %d connection slots: %r", len(inboxes), e)
            return
        for inbox in inboxes:
            if inbox.slot.id in lost:
                inbox.offer({"type": SLOT_LOST})

    async def _sweep(self) -> None:
        """Ask the database which users were notified or revoked lately, once for the whole
        process, and wake those of their streams that may be behind.

        A doorbell can be lost without any outage here (the publisher's Redis connection
        failed; a stream's inbox overflowed elsewhere): the sweep bounds that delay to a
        heartbeat or two, without any per-stream polling. Each window overlaps the last, so a
        transaction that commits late is still seen; streams ignore heads they have sent.
        The newest second is left to the doorbells still on their way: a head that overtook
        its doorbell would send every stream of a broadcast to the database.
        """
        until = timezone.now() - SWEEP_GRACE
        since = until - timedelta(seconds=3 * conf.HEARTBEAT_SECONDS)
        try:
            heads, revocations = await database(_recent_changes, since, until)
        except Exception:
            logger.warning("The sweep for lost doorbells failed.", exc_info=True)
            return
        for user_id, head in heads:
            for inbox in self.inboxes.get(user_id, ()):
                inbox.offer({"type": HEAD, "seq": head})
        for user_id, count in revocations:
            for inbox in self.inboxes.get(user_id, ()):
                inbox.offer({"type": REVOKED, "revocations": count})

    def _set_subscribed(self, subscribed: bool) -> None:
        if subscribed == self.subscribed:
            return
        if subscribed and self._outage_reported:
            self._outage_reported = False
            logger.info("Channel layer is back: streams are live again.")
        self.subscribed = subscribed
        metrics.layer_live.set(int(self.live))
        self._wake_all()

    def _wake_all(self) -> None:
        """Tell every stream that doorbells may have been lost: each catches up once."""
        self.generation += 1
        wake_up = {"type": STATE_CHANGED}
        for inboxes in self.inboxes.values():
            for inbox in inboxes:
                inbox.offer(wake_up)


def _recent_changes(
    since: datetime, until: datetime
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return (
        selectors.recent_heads(since=since, until=until),
        selectors.recent_revocations(since=since, until=until),
    )


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """Return this event loop's hub (a server process has one loop, so one hub)."""
    loop = asyncio.get_running_loop()
    current = _hubs.get(loop)
    if current is None or current.layer is not get_channel_layer():
        current = _hubs[loop] = Hub()
    return current
