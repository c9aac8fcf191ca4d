"""This process's streams, fed by one channel-layer receiver for the whole process.

A stream does not join the channel layer itself. Each server process's hub joins one group,
``notifications.streams``, where publishers send what goes to many users, and the route of
each user with a stream here (``notifications.stream.routes``), where a few users' messages
go; it hands each message to the inboxes of that user's streams in this process. So a
process receives only what its own streams need, opening a stream costs no Redis round trip
of its own, a broadcast to ten thousand users is a handful of channel-layer messages
instead of ten thousand, and a Redis outage is noticed once per process, by the hub, which
tells every stream to catch up from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections import deque

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

from notifications import metrics
from notifications.conf import conf
from notifications.delivery import messages, publish
from notifications.delivery.messages import Message
from notifications.delivery.outages import described, unreachable
from notifications.stream.groups import Groups
from notifications.stream.inboxes import Inbox, Inboxes
from notifications.stream.limits import Slot
from notifications.stream.routes import Routes
from notifications.stream.upkeep import Upkeep, watch_loop_lag

logger = logging.getLogger(__name__)

# A probe unanswered this long, counted in what the hub has read since (see _Feed.probe),
# means the live feed is down. Generous: a false alarm sends every stream to the database.
PROBE_TIMEOUT = 5.0
# The longest a stream waits for its process's first subscription.
STARTUP_WAIT = 1.0


class LostConnections(logging.Filter):
    """Drop what channels-redis logs about a Redis it cannot reach; keep the rest.

    The pub/sub layer's receive task retries every second while Redis is away, and logs
    each failure with a traceback (twenty for a twenty-second outage), then reconnects and
    resubscribes by itself once Redis is back (redis-py does). The hub reports that outage
    already, once when its probes fail and once when they come back, and its streams read
    the database meanwhile: the tracebacks add nothing. Filtering that one logger keeps the
    layer's own reconnection, which works, instead of replacing it. The filter goes by the
    error rather than by the hub's state, because the layer's first failure comes before
    the hub's next probe notices the outage.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and unreachable(record.exc_info[1]))


_LOST_CONNECTIONS = LostConnections()


class _Feed:
    """The hub's subscription to the channel layer: subscribe, probe, receive.

    Everything the process hears comes to one channel: the group of every process, this
    process's routes (``notifications.stream.routes``), and its probes. A probe goes through
    each of the layer's Redis servers (a group of the hub's own on each), so that losing any
    one of them is noticed.

    It keeps a single receive pending across timeouts and never cancels it while running:
    cancelling a pending channel-layer receive can drop buffered messages (and makes the
    pub/sub layer unsubscribe). Every call that reaches the layer is bounded by
    ``PROBE_TIMEOUT``, so a Redis that hangs instead of failing cannot hang the hub.
    """

    def __init__(self, layer: BaseChannelLayer, groups: Groups) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.receiving: asyncio.Future[Message] | None = None
        self.renew_at = self.probe_at = 0.0
        # One group per Redis server, which only this hub joins, for its probes.
        self.probe_groups = groups.one_group_each(f"notifications.hub.{uuid.uuid4().hex}")
        # Per server, probes in flight, oldest first, as (number, loop time sent).
        self.probes: list[deque[tuple[int, float]]] = [deque() for _ in self.probe_groups]
        self.probes_sent = 0
        # The loop time up to which the hub has read what the layer brought: the sending
        # time of the latest message read, or when a wait that found nothing began.
        self.read_through = 0.0
        # The servers that answered a probe since the last failure.
        self.heard: set[int] = set()

    async def subscribe(self, now: float) -> None:
        """Join the groups, and renew the membership every heartbeat: a layer that expires
        members (the core layer's ``group_expiry``) must not drop a live process."""
        if self.channel is not None and now < self.renew_at:
            return  # Nothing due: the hub asks before every message it reads.
        async with asyncio.timeout(PROBE_TIMEOUT):
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            if now >= self.renew_at:
                for group in (messages.STREAMS_GROUP, *self.probe_groups):
                    await self.layer.group_add(group, self.channel)
                self.renew_at = now + conf.HEARTBEAT_SECONDS

    async def probe(self, now: float) -> None:
        """Send the next probes when due; fail if the oldest one of a server is overdue.

        Overdue means the hub has read what was sent up to ``PROBE_TIMEOUT`` after the probe
        (a later probe through another server, a batch stamped that late, or a wait that
        found nothing), and not the probe. Not the time since it was sent: a hub behind on
        its messages (a large broadcast on a busy machine) or whose loop did not run for a
        while reads its probes late, and must not take its own lateness for an outage.
        """
        for probes in self.probes:
            if probes and self.read_through - probes[0][1] > PROBE_TIMEOUT:
                raise TimeoutError(f"no probe came back in {PROBE_TIMEOUT:g}s")
        if now >= self.probe_at and self.channel is not None:
            self.probes_sent += 1
            async with asyncio.timeout(PROBE_TIMEOUT):
                for shard, group in enumerate(self.probe_groups):
                    self.probes[shard].append((self.probes_sent, now))
                    await self.layer.group_send(group, messages.probe(self.probes_sent, shard))
            self.probe_at = now + conf.POLL_SECONDS

    async def receive(self, loop: asyncio.AbstractEventLoop) -> Message | None:
        """Wait for the next message until a renewal or a probe is due; None if none came."""
        assert self.channel is not None
        self.receiving = self.receiving or asyncio.ensure_future(self.layer.receive(self.channel))
        started = loop.time()
        wait = max(min(self.renew_at, self.probe_at) - started, 0)
        done, _ = await asyncio.wait({self.receiving}, timeout=wait)
        if not done:
            if wait > 0:  # Nothing came: all sent before it began waiting was read.
                self.read_through = max(self.read_through, started)
            return None
        message, self.receiving = self.receiving.result(), None
        sent_at = message.get(metrics.SENT_AT)
        if sent_at is not None:
            # On this loop's clock, and never ahead of it: a publisher's clock may be.
            now = loop.time()
            self.read_through = max(self.read_through, now - max(time.time() - sent_at, 0.0))
        return message

    def answered(self, shard: int, n: int) -> bool:
        """Forget ``shard``'s probes up to ``n``; tell whether one sent before ``n`` never
        came back."""
        self.heard.add(shard)
        probes = self.probes[shard]
        lost = False
        while probes and probes[0][0] <= n:
            number, sent = probes.popleft()
            lost |= number < n
            if number == n:
                self.read_through = max(self.read_through, sent)
        return lost

    @property
    def proven(self) -> bool:
        """Whether a probe came back through every server since the last failure."""
        return len(self.heard) == len(self.probe_groups)

    def reset(self) -> None:
        """Start over after a failure: a receive that failed is dropped, a pending one kept."""
        if self.receiving is not None and self.receiving.done():
            self.receiving = None
        for probes in self.probes:
            probes.clear()
        self.heard.clear()
        self.renew_at = self.probe_at = 0.0

    async def close(self, *, leave: bool) -> None:
        if self.receiving is not None:
            self.receiving.cancel()
        if self.channel is not None and leave:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    for group in (messages.STREAMS_GROUP, *self.probe_groups):
                        await self.layer.group_discard(group, self.channel)


class Hub:
    """Route the process's channel-layer messages to the inboxes of its streams.

    The hub's states, which streams read:

    - ``trusted``: the layer can bring every publish to this process. False without a layer
      and for the in-memory layer, which cannot hear other processes (a management command
      publishes from one).
    - ``subscribed``: the feed is proven: from the first probe that comes back through the
      layer until one goes unanswered for ``PROBE_TIMEOUT`` or a layer call fails.
    - ``live``: both. While it is false, streams read the database every ``POLL_SECONDS``.
    - ``generation``: grows each time ``subscribed`` changes, or a probe comes back after a
      later one was lost (a blip too short to notice otherwise: a quiet reconnect). Doorbells
      may have been lost then, so every stream is woken and catches up from the database.
    """

    def __init__(self) -> None:
        self.inboxes = Inboxes()
        self.layer = get_channel_layer()
        self.trusted = self.layer is not None and not isinstance(self.layer, InMemoryChannelLayer)
        if self.trusted:
            # The hub reports this process's outages of the layer, once each (see _run).
            logging.getLogger("channels_redis.pubsub").addFilter(_LOST_CONNECTIONS)
            publish.leave_outages_to_hub(asyncio.get_running_loop())
        self.subscribed = False
        self.generation = 0
        # Probes answered so far, for operators and tests to watch the feed work.
        self.probes_answered = 0
        self.upkeep = Upkeep(self.inboxes, trusted=self.trusted)
        self.routes = Routes(self.layer, self.inboxes) if self.layer is not None else None
        self._outage_reported = False
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._lag_watch: asyncio.Task[None] | None = None
        # Set once the first subscription has been proven or has failed: see wait_routed().
        self._started = asyncio.Event()
        if self.layer is None:
            self._started.set()

    @property
    def live(self) -> bool:
        return self.subscribed and self.trusted

    def register(self, user_id: int, slot: Slot) -> Inbox:
        """Return a new inbox for a stream of ``user_id``; messages reach it from now on."""
        if self.layer is not None and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run(self.layer))
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self.upkeep.run())
        if self._lag_watch is None or self._lag_watch.done():
            self._lag_watch = asyncio.ensure_future(watch_loop_lag())
        if self.routes is not None and user_id not in self.inboxes:
            self.routes.want(user_id)
        return self.inboxes.add(user_id, slot)

    async def wait_routed(self, user_id: int) -> None:
        """Wait, at most ``STARTUP_WAIT``, until messages for ``user_id`` reach this process.

        That is the process's first subscription, then the user's route. Without this, a
        stream could miss a message published after it read the database but before the
        layer brought that user's messages here; a notification would be caught up later,
        but not a revocation. While the feed is down there is nothing to wait for: streams
        read the database, and catch up once more when it is back.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STARTUP_WAIT):
                await self._started.wait()
                if self.routes is not None and self.subscribed:
                    await self.routes.wait(user_id)

    def unregister(self, user_id: int, inbox: Inbox) -> None:
        self.inboxes.remove(user_id, inbox)
        if self.routes is not None and user_id not in self.inboxes:
            self.routes.drop(user_id)

    def dispatch(self, batch: Message) -> None:
        """Hand each ``(user_id, message)`` of a batch to that user's inboxes here.

        Each notification is stamped with the batch's arrival, one clock read per batch, so
        its stream can time the last hop; the hops before are timed here, once per batch.
        """
        received_at = time.time()
        oldest = None
        for user_id, message in batch.get("items", ()):
            if metrics.COMMITTED_AT in message:
                oldest = oldest or message[metrics.COMMITTED_AT]
                message[metrics.RECEIVED_AT] = received_at
            self.inboxes.tell(user_id, message)
        metrics.received(oldest, batch.get(metrics.SENT_AT), received_at)

    async def _run(self, layer: BaseChannelLayer) -> None:
        """Keep the feed subscribed, probed and read until cancelled; on any failure, report
        an outage, wait ``POLL_SECONDS`` and start over."""
        loop = asyncio.get_running_loop()
        current_task = asyncio.current_task()
        assert current_task is not None
        routes = self.routes
        assert routes is not None
        feed = _Feed(layer, routes.groups)
        try:
            # A layer call may turn a cancellation into an error of its own, or swallow it:
            # the loop checks, so that a process (or a test's event loop) can still stop it.
            while not current_task.cancelling():
                try:
                    await feed.subscribe(loop.time())
                    assert feed.channel is not None
                    routes.attach(feed.channel)
                    await feed.probe(loop.time())
                    message = await feed.receive(loop)
                    if message is not None:
                        self._on_message(feed, message)
                    # Not kept until the next one comes: a large one would stay in memory.
                    del message
                except Exception as e:
                    feed.reset()
                    self._report_outage(e)
                    await asyncio.sleep(conf.POLL_SECONDS)
        finally:
            await feed.close(leave=self.subscribed)
            await routes.close()
            self._set_subscribed(False)

    def _on_message(self, feed: _Feed, message: Message) -> None:
        match message.get("type"):
            case messages.PROBE:
                self._on_probe(feed, message)
            case messages.ROUTE_PROBE:
                assert self.routes is not None
                self.routes.on_probe(message)
            case _:
                self.dispatch(message)

    def _on_probe(self, feed: _Feed, message: Message) -> None:
        self.probes_answered += 1
        if feed.answered(message["shard"], message["n"]) and self.subscribed:
            logger.warning("The live feed dropped messages: streams catch up.")
            self._wake_all()
        if feed.proven:
            self._set_subscribed(True)
            self._started.set()

    def _report_outage(self, error: Exception) -> None:
        self._started.set()
        if not self._outage_reported:
            self._outage_reported = True
            logger.warning(
                "Channel layer unavailable (%s): streams catch up from the database "
                "every %.1fs until it is back.",
                described(error),
                conf.POLL_SECONDS,
            )
            metrics.demotions.inc()
        self._set_subscribed(False)

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
        self.inboxes.tell_all(messages.feed_changed(self.generation))


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


async def stop() -> None:
    """End every stream of this event loop's hub, if it has any, and free their slots."""
    current = _hubs.get(asyncio.get_running_loop())
    if current is not None:
        await current.upkeep.stop()
        # A stream still there is stuck handing bytes to a client that does not read (a
        # server whose ``send`` waits for it): end its request.
        for inbox in current.inboxes.all():
            inbox.end_writer()


def hub() -> Hub:
    """Return this event loop's hub (a server process has one loop, so one hub)."""
    loop = asyncio.get_running_loop()
    current = _hubs.get(loop)
    if current is None or current.layer is not get_channel_layer():
        current = _hubs[loop] = Hub()
    return current
