"""The doorbell: messages to a user's live streams over the channel layer.

The database is the log; these messages only say "look now". A lost one delays a
notification (the stream fills the gap from the database) and never loses it. So
:func:`publish` never makes its caller wait long for the channel layer and never raises:
while the layer answers quickly it rings from the calling thread
(:mod:`notifications.delivery.direct`), else it hands the messages to a background sender
and returns. The sender rings them in order; while the layer is down or hangs, what it
cannot send is dropped (at most ``MAX_PENDING`` wait, or one publish however large), said
once in the log and counted, and streams catch up from the database."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

from asgiref.sync import SyncToAsync
from channels.layers import get_channel_layer

from notifications import metrics
from notifications.conf import conf
from notifications.delivery import direct, messages
from notifications.delivery.outages import described, unreachable

logger = logging.getLogger(__name__)

Addressed = tuple[int, messages.Message]  # (user_id, message for that user's streams)

# Doorbells waiting to be sent, at most: beyond, new ones are dropped.
MAX_PENDING = 10_000
# How long publish() spends on its doorbells while the layer answers quickly: ringing them
# from the calling thread, or waiting for the sender to. Waiting keeps delivery prompt: a
# sender thread left to compete for the interpreter's lock with a caller that goes on
# working rings late (docs/PERFORMANCE.md). Once a ring or a wait fails or runs out (the
# layer is slow, down or hung), callers leave it all to the sender until a send is quick.
PROMPT_SECONDS = 0.05
# The most messages a publish may have to be rung from the calling thread: a notification to
# a user, or to a few (each on its route). A larger one (a broadcast) is the sender's, so
# that its caller neither sorts nor sends it.
RING_NOW_AT_MOST = 64


_Planned = list[tuple[str, messages.Message]]  # (group, message), in the order to send


def _plan(addressed: Sequence[Addressed]) -> _Planned:
    """Say which channel-layer messages carry each ``(user_id, message)``, to which group.

    A few users' messages (at most ``ROUTED_FANOUT`` users) go on each user's route, which
    only the processes holding a stream of that user subscribe: a process holding none of
    their streams pays nothing. More go to the group of every process, in batches: a
    broadcast to ten thousand users is a handful of messages per process, not ten thousand.
    """
    by_user: dict[int, list[list[Any]]] = {}
    for user_id, message in addressed:
        by_user.setdefault(user_id, []).append([user_id, message])
    if len(by_user) <= conf.ROUTED_FANOUT:
        return [
            (messages.route(user_id), messages.batch(items)) for user_id, items in by_user.items()
        ]
    size = messages.BATCH_SIZE
    everyone = [[user_id, message] for user_id, message in addressed]
    return [
        (messages.STREAMS_GROUP, messages.batch(everyone[start : start + size]))
        for start in range(0, len(everyone), size)
    ]


def _stamped(batch: messages.Message) -> messages.Message:
    """Stamp ``batch`` with the time it is handed to the layer, so the hubs can time the hops
    of a delivery before and after it (``metrics.received``)."""
    batch[metrics.SENT_AT] = time.time()
    return batch


async def send(addressed: Sequence[Addressed]) -> None:
    """Send each ``(user_id, message)`` to the processes holding a stream of that user."""
    layer = get_channel_layer()
    if layer is None:
        return
    async with asyncio.timeout(conf.PUBLISH_TIMEOUT_SECONDS):
        for group, batch in _plan(addressed):
            await layer.group_send(group, _stamped(batch))


def _unplanned(planned: _Planned) -> list[Addressed]:
    return [(user_id, message) for _, batch in planned for user_id, message in batch["items"]]


def _stamp_committed(addressed: list[Addressed]) -> None:
    """Stamp the live messages of just-committed notifications with the time, and count them.

    Called as the transaction commits, so the stream that writes the frame can measure the
    delivery from commit to frame written.
    """
    now = time.time()
    count = 0
    for _, message in addressed:
        if message.get("type") == messages.NOTIFICATION:
            message[metrics.COMMITTED_AT] = now
            count += 1
    if count:
        metrics.stored.inc(count)


def publish(addressed: list[Addressed]) -> None:
    """Ring ``addressed`` messages now while the layer is quick, else queue them for the
    background sender; never raise."""
    if not addressed:
        return
    _stamp_committed(addressed)
    try:
        sender = _sender()
        if left := sender.ring_now(addressed):
            sender.put(left)
            sender.wait_if_prompt()
    except Exception:
        logger.warning("Could not queue %d doorbell(s).", len(addressed), exc_info=True)


def _sender() -> _Sender:
    """Return this thread's sender: on its ASGI server's loop, else the publisher thread's."""
    loop = _server_loop()
    return _Sender.of(loop) if loop is not None else _Publisher.get().sender


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """Return the event loop of the ASGI server this sync thread works for, if any.

    There the sender runs on the server's own loop, where the in-memory layer's streams
    listen and the layer's connections already live. asgiref records the loop on the
    threads it runs sync code in.
    """
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    loop: asyncio.AbstractEventLoop | None = getattr(
        SyncToAsync.threadlocal, "main_event_loop", None
    )
    return loop if loop is not None and not loop.is_closed() else None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Sender:
    """The doorbells of one event loop: a bounded queue, and one task sending it in order."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Sender] = (
        weakref.WeakKeyDictionary()
    )
    _lock = threading.Lock()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: deque[Addressed] = deque()
        self.lock = threading.Lock()
        self.idle = threading.Event()
        self.idle.set()
        self.task: asyncio.Task[None] | None = None
        self.failing = False
        # Set on a server's loop, whose hub reports the layer's outages: see
        # leave_outages_to_hub().
        self.hub_reports_outages = False
        # Whether the layer has been answering quickly (see PROMPT_SECONDS).
        self.prompt = True

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Sender:
        with cls._lock:
            sender = cls._by_loop.get(loop)
            if sender is None:
                sender = cls._by_loop[loop] = cls(loop)
            return sender

    def put(self, addressed: list[Addressed]) -> None:
        """Queue messages (from any thread) and make sure the sending task runs."""
        with self.lock:
            # A publish is taken whole when nothing waits, however large: a notify() to a
            # hundred thousand users holds their rows in memory already. Beyond it, at most
            # MAX_PENDING wait while the layer is slow.
            room = len(addressed) if not self.pending else max(MAX_PENDING - len(self.pending), 0)
            self.pending.extend(addressed[:room])
            self.idle.clear()
        if len(addressed) > room:
            self._dropped(len(addressed) - room, "too many doorbells waiting")
        self.loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        """Send what is queued, a batch at a time, until nothing is; then end."""
        while True:
            with self.lock:
                batch = list(self.pending)
                self.pending.clear()
                if not batch:
                    self.idle.set()
                    return
            started = self.loop.time()
            try:
                await send(batch)
            except Exception as e:
                self._dropped(len(batch), described(e), outage=unreachable(e))
            else:
                self.prompt = self.loop.time() - started < PROMPT_SECONDS
                self._recovered()

    def _dropped(self, count: int, why: str, *, outage: bool = False) -> None:
        metrics.doorbells_dropped.inc(count)
        if outage and self.hub_reports_outages:
            logger.debug("Dropped %d doorbell(s) while Redis is away (%s).", count, why)
        elif not self.failing:
            self.failing = True
            logger.warning(
                "Publishing %d message(s) to the channel layer failed (%s); streams will "
                "catch up from the database. Said once until publishing works again.",
                count,
                why,
            )

    def _recovered(self) -> None:
        if self.failing:
            self.failing = False
            logger.info("Publishing to the channel layer works again.")

    def ring_now(self, addressed: list[Addressed]) -> list[Addressed]:
        """Send a small publish (``RING_NOW_AT_MOST``) from the calling thread, for at most
        ``PROMPT_SECONDS``, while the layer is quick and nothing waits for the sender (which
        keeps doorbells in order); return what is left for the sender. Never on an event
        loop, which must not block."""
        if len(addressed) > RING_NOW_AT_MOST or not self.prompt or not self.idle.is_set():
            return addressed
        ringer = direct.ringer(get_channel_layer())
        if ringer is None or _running_loop() is not None:
            return addressed
        planned = _plan(addressed)
        deadline = time.monotonic() + PROMPT_SECONDS
        for sent, (group, batch) in enumerate(planned):
            try:
                ringer.group_send(group, _stamped(batch))
            except Exception as e:
                logger.debug("Ringing from the calling thread failed (%s).", described(e))
                self.prompt = False
                return _unplanned(planned[sent:])
            if time.monotonic() > deadline:
                return _unplanned(planned[sent + 1 :])
        return []

    def wait_if_prompt(self) -> None:
        """Wait, at most ``PROMPT_SECONDS``, for what is queued to go, while the layer is
        quick; never on the sender's own loop, which must run for it to go."""
        if not self.prompt or _running_loop() is self.loop:
            return
        if not self.idle.wait(PROMPT_SECONDS):
            self.prompt = False

    def flush(self, timeout: float) -> bool:
        """Wait (from another thread) until everything queued was sent or dropped."""
        return self.idle.wait(timeout)


def leave_outages_to_hub(loop: asyncio.AbstractEventLoop) -> None:
    """Have ``loop``'s sender drop doorbells quietly while Redis is away.

    Called by the hub of a server process, which reports each outage of the layer once,
    with its end: a sender failing on the same loop would otherwise report it a second
    time. Elsewhere (a management command, a worker) the sender's own report is the only one.
    """
    _Sender.of(loop).hub_reports_outages = True


class _Publisher:
    """A long-lived event loop on a thread of its own, for processes without one.

    ``async_to_sync`` outside a server starts a new event loop per call, and channels-redis
    a new connection pool per loop: a management command or worker sending notifications
    one by one would connect to Redis for every one of them. At exit it waits (a bounded
    time) for what is queued, so a command's notifications ring before it ends.
    """

    _instance: _Publisher | None = None
    _pid = 0
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sender = _Sender.of(self.loop)
        threading.Thread(
            target=self.loop.run_forever, name="notifications-publisher", daemon=True
        ).start()
        atexit.register(self.sender.flush, conf.PUBLISH_TIMEOUT_SECONDS + 1)

    @classmethod
    def get(cls) -> _Publisher:
        with cls._lock:
            if cls._instance is None or os.getpid() != cls._pid:
                cls._instance, cls._pid = cls(), os.getpid()
            return cls._instance


def flush(timeout: float | None = None) -> bool:
    """Wait until this process's queued doorbells were sent (or dropped); for code that is
    about to exit or must know the bell rang, such as tests. Tell whether it finished."""
    wait = conf.PUBLISH_TIMEOUT_SECONDS + 1 if timeout is None else timeout
    return _sender().flush(wait)
