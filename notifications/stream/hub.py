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
import time
import weakref
from collections import deque

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

from notifications import metrics
from notifications.conf import conf
from notifications.delivery import messages, publish
from notifications.delivery.messages import Message
from notifications.delivery.outages import described, unreachable
from notifications.stream.inboxes import Inbox, Inboxes
from notifications.stream.limits import Slot
from notifications.stream.upkeep import Upkeep, watch_loop_lag

logger = logging.getLogger(__name__)

# A probe unanswered this long means the live feed is down. Generous: a process busy with a
# broadcast reads its probe late, and a false alarm sends every stream to the database.
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
    """The hub's one subscription to the channel layer: subscribe, probe, receive.

    It keeps a single receive pending across timeouts and never cancels it while running:
    cancelling a pending channel-layer receive can drop buffered messages (and makes the
    pub/sub layer unsubscribe). Every call that reaches the layer is bounded by
    ``PROBE_TIMEOUT``, so a Redis that hangs instead of failing cannot hang the hub.
    """

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.receiving: asyncio.Future[Message] | None = None
        self.renew_at = self.probe_at = 0.0
        # Probes in flight, oldest first, as (number, loop time sent).
        self.probes: deque[tuple[int, float]] = deque()
        self.probes_sent = 0

    async def subscribe(self, now: float) -> None:
        """Join the streams group, and renew the membership every heartbeat: a layer that
        expires members (the core layer's ``group_expiry``) must not drop a live process."""
        async with asyncio.timeout(PROBE_TIMEOUT):
            if self.channel is None:
                self.channel = await self.layer.new_channel()
            if now >= self.renew_at:
                await self.layer.group_add(messages.STREAMS_GROUP, self.channel)
                self.renew_at = now + conf.HEARTBEAT_SECONDS

    async def probe(self, now: float) -> None:
        """Send the next probe when one is due; fail if the oldest one is overdue."""
        if self.probes and now - self.probes[0][1] > PROBE_TIMEOUT:
            raise TimeoutError(f"no probe came back in {PROBE_TIMEOUT:g}s")
        if now >= self.probe_at and self.channel is not None:
            self.probes_sent += 1
            self.probes.append((self.probes_sent, now))
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self.layer.send(self.channel, messages.probe(self.probes_sent))
            self.probe_at = now + conf.POLL_SECONDS

    async def receive(self, loop: asyncio.AbstractEventLoop) -> Message | None:
        """Wait for the next message until a renewal or a probe is due; None if none came."""
        assert self.channel is not None
        self.receiving = self.receiving or asyncio.ensure_future(self.layer.receive(self.channel))
        wait = max(min(self.renew_at, self.probe_at) - loop.time(), 0)
        done, _ = await asyncio.wait({self.receiving}, timeout=wait)
        if not done:
            return None
        message, self.receiving = self.receiving.result(), None
        return message

    def answered(self, n: int) -> bool:
        """Forget probes up to ``n``; tell whether one sent before ``n`` never came back."""
        lost = False
        while self.probes and self.probes[0][0] <= n:
            lost |= self.probes.popleft()[0] < n
        return lost

    def reset(self) -> None:
        """Start over after a failure: a receive that failed is dropped, a pending one kept."""
        if self.receiving is not None and self.receiving.done():
            self.receiving = None
        self.probes.clear()
        self.renew_at = self.probe_at = 0.0

    async def close(self, *, leave: bool) -> None:
        if self.receiving is not None:
            self.receiving.cancel()
        if self.channel is not None and leave:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self.layer.group_discard(messages.STREAMS_GROUP, self.channel)


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
        self._outage_reported = False
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._lag_watch: asyncio.Task[None] | None = None
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
            self._task = asyncio.ensure_future(self._run(self.layer))
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.ensure_future(self.upkeep.run())
        if self._lag_watch is None or self._lag_watch.done():
            self._lag_watch = asyncio.ensure_future(watch_loop_lag())
        return self.inboxes.add(user_id, slot)

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
        self.inboxes.remove(user_id, inbox)

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
        feed = _Feed(layer)
        try:
            # A layer call may turn a cancellation into an error of its own, or swallow it:
            # the loop checks, so that a process (or a test's event loop) can still stop it.
            while not current_task.cancelling():
                try:
                    await feed.subscribe(loop.time())
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
            self._set_subscribed(False)

    def _on_message(self, feed: _Feed, message: Message) -> None:
        if message.get("type") != messages.PROBE:
            self.dispatch(message)
            return
        self.probes_answered += 1
        if feed.answered(message["n"]) and self.subscribed:
            logger.warning("The live feed dropped messages: streams catch up.")
            self._wake_all()
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
