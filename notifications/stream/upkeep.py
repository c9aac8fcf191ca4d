"""What a server process does for all of its streams at once, on a timer, and when it stops.

Each of these would otherwise be a query or a Redis call per stream:

- every few seconds (``LIVENESS_SECONDS``), renew the process's liveness key, so its
  connection slots keep counting; if Redis had forgotten the process (a restart), re-add
  every slot at once, so the limit holds again and the newest streams over it are closed;
  and bring back the snoozed notifications whose time came, telling their users' streams
  wherever they are (one process at a time takes that turn, each comes back once);
- every heartbeat, renew the slots' leases, sweep the database for doorbells and
  revocations that never arrived, and close the streams of accounts that were deactivated
  or deleted without a signal (``QuerySet.update()``, raw SQL);
- every half second (``LAG_INTERVAL``), time how late the event loop wakes, for operators
  (:func:`watch_loop_lag`);
- on SIGTERM (:meth:`Upkeep.stop`, called by the trigger of
  :mod:`notifications.stream.shutdown`), close every stream and free every slot in one
  round trip, so a client reconnecting to another process is admitted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from django.db import InterfaceError, OperationalError
from django.utils import timezone

from notifications import metrics, selectors, services
from notifications.conf import conf
from notifications.delivery import messages, publish
from notifications.delivery.outages import unreachable
from notifications.stream.inboxes import Inboxes
from notifications.stream.limits import LIVENESS_SECONDS, Slot, slots
from notifications.stream.threads import on_thread

logger = logging.getLogger(__name__)

# The sweep leaves notifications this young to their doorbells.
SWEEP_GRACE = timedelta(seconds=1)
# How long a stopping process waits for its streams to end.
STOP_WAIT_SECONDS = 3.0
# And then for their last bytes to leave: once the stop is over, Twisted drops every
# connection without writing what it still holds, and a client would see a cut stream.
FLUSH_SECONDS = 0.2
# Snoozed notifications brought back by one statement.
WAKE_BATCH = 500
# The cluster's turn at bringing them back: one process's, about every LIVENESS_SECONDS.
WAKE_TURN = "wake-snoozed"
WAKE_TURN_SECONDS = LIVENESS_SECONDS * 0.9
# How often the event loop's lag is measured: cheap, and often enough to catch a pause.
LAG_INTERVAL = 0.5


class Upkeep:
    """The timed work of one hub's process. ``beats`` counts heartbeats done.

    ``trusted``: whether the hub's live feed can bring every publish (the sweep's doorbells
    are useless without it: every stream reads the database on its own then).
    """

    def __init__(self, inboxes: Inboxes, *, trusted: bool) -> None:
        self.inboxes = inboxes
        self.trusted = trusted
        self.beats = 0
        # Whether the last renewal of the liveness key found Redis away.
        self.redis_away = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        beat_at = loop.time() + conf.HEARTBEAT_SECONDS
        while True:
            await asyncio.sleep(max(min(LIVENESS_SECONDS, beat_at - loop.time()), 0))
            if self.inboxes:
                await self.keep_alive()
            if await self.my_turn(WAKE_TURN, WAKE_TURN_SECONDS):
                await self.wake_snoozed()
            if loop.time() >= beat_at:
                beat_at = loop.time() + conf.HEARTBEAT_SECONDS
                await self.beat()

    async def keep_alive(self) -> None:
        """Renew the process's liveness key; re-add every slot if Redis had forgotten it."""
        try:
            known = await slots().keep_alive()
        except Exception as e:
            self.redis_away = unreachable(e)
            _failed(e, "Could not renew this process's liveness in Redis")
            return
        if not known:
            # After an outage that is expected: the key expired, or Redis restarted empty.
            log = logger.debug if self.redis_away else logger.warning
            log("Redis had forgotten this process's streams: counting them again.")
            await self.renew_slots()
        self.redis_away = False

    async def my_turn(self, job: str, seconds: float) -> bool:
        """Tell whether this process does the cluster's ``job`` now (see ``take_turn``).

        Without an answer from Redis it does: the job's own claim keeps it correct when two
        processes run it at once, and a missed turn would be late.
        """
        try:
            return await slots().take_turn(job, seconds)
        except Exception:
            return True  # keep_alive() reports Redis's outages

    async def wake_snoozed(self) -> None:
        """Bring back the snoozed notifications that are due, in batches until none is left.

        One process serving streams takes this turn every few seconds, whether or not it
        serves the users whose snoozes are due (the API brings back its reader's own), so a
        snooze comes back within a few seconds of its time; the claim lets each come back
        once even if two processes run it at the same moment. The other processes ask the
        database nothing (it was about half of what an idle process did in Python).
        """
        try:
            while await on_thread(services.wake_snoozed, limit=WAKE_BATCH) == WAKE_BATCH:
                pass
        except (OperationalError, InterfaceError) as e:
            # The database is away: streams say so already, every few seconds would be noise.
            logger.debug("Could not bring back snoozed notifications: %r", e)
        except Exception:
            logger.warning("Could not bring back snoozed notifications.", exc_info=True)

    async def beat(self) -> None:
        if self.inboxes:
            await self.renew_slots()
            await self.sweep()
        self.beats += 1

    async def renew_slots(self, *, opening: Slot | None = None) -> set[Slot]:
        """Renew every slot of the process (and ``opening``, a slot just taken); close the
        streams evicted as the newest over their user's limit; return their ids."""
        renewing = [inbox.slot for inbox in self.inboxes.all()]
        if opening is not None:
            renewing.append(opening)
        try:
            evicted = await slots().renew(renewing)
        except Exception as e:
            # Leases outlive three heartbeats: one failed renewal costs nothing yet.
            _failed(e, "Could not renew %d connection slots", len(renewing))
            return set()
        await self._close(evicted)
        return evicted

    async def _close(self, evicted: set[Slot]) -> None:
        """Close the evicted streams: this process's here, the others' through the layer."""
        for inbox in self.inboxes.all():
            if inbox.slot in evicted:
                inbox.offer(messages.slot_lost())
        elsewhere = [slot for slot in evicted if not slot.local]
        if elsewhere:
            logger.info("Closing %d streams over their users' limits elsewhere.", len(elsewhere))
            with contextlib.suppress(Exception):
                await publish.send(
                    [(slot.user_id, messages.close_stream(slot.id)) for slot in elsewhere]
                )

    async def sweep(self) -> None:
        """Ask the database, once for the whole process, which of its users were notified or
        revoked lately, and which are no longer active; tell their streams.

        A doorbell can be lost without any outage here (the publisher's Redis connection
        failed; a stream's inbox overflowed elsewhere): the sweep bounds that delay to a
        heartbeat or two, without any per-stream polling. Each window overlaps the last, so a
        transaction that commits late is still seen; streams ignore heads they have sent.
        The newest second is left to the doorbells still on their way: a head that overtook
        its doorbell would send every stream of a broadcast to the database.
        """
        until = timezone.now() - SWEEP_GRACE
        since = until - timedelta(seconds=3 * conf.HEARTBEAT_SECONDS)
        served = list(self.inboxes)
        try:
            heads, revocations, gone = await on_thread(_changes, since, until, served)
        except Exception:
            logger.warning("The sweep for lost doorbells failed.", exc_info=True)
            return
        if self.trusted:
            # Without a trusted feed, every stream reads the database on its own anyway.
            for user_id, head in heads:
                self.inboxes.tell(user_id, messages.newer_seq(head))
        for user_id, count in revocations:
            self.inboxes.tell(user_id, messages.revoked_lately(count))
        for user_id in gone:
            self.inboxes.tell(user_id, messages.close_user_streams())

    async def stop(self) -> None:
        """Close every stream of the process and free their slots at once (SIGTERM)."""
        inboxes = self.inboxes.all()
        for inbox in inboxes:
            inbox.offer(messages.server_stopping())
        try:
            async with asyncio.timeout(2):
                await slots().release_all([inbox.slot for inbox in inboxes])
        except Exception as e:
            logger.warning("Could not free %d connection slots: %r", len(inboxes), e)
        logger.info("Stopping: closed %d streams and freed their slots.", len(inboxes))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_WAIT_SECONDS
        while self.inboxes and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(FLUSH_SECONDS)


async def watch_loop_lag() -> None:
    """Observe, every ``LAG_INTERVAL``, how late the event loop wakes from a sleep of that
    length (``notifications_event_loop_lag_seconds``): every stream's next frame waits as
    long behind whatever held the loop."""
    loop = asyncio.get_running_loop()
    while True:
        asleep = loop.time()
        await asyncio.sleep(LAG_INTERVAL)
        metrics.loop_lag.observe(max(loop.time() - asleep - LAG_INTERVAL, 0.0))


def _failed(error: Exception, message: str, *args: object) -> None:
    """Log a failed Redis call of the upkeep: quietly while Redis is away, since the hub
    reports that outage once (said here, it would come every few seconds until Redis is
    back); as a warning for any other error."""
    log = logger.debug if unreachable(error) else logger.warning
    log("%s: %r", message % args, error)


def _changes(
    since: datetime, until: datetime, served: list[int]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], set[int]]:
    """One visit to the database for the sweep: recent heads, recent revocations, and the
    served users who are no longer active (or exist no more)."""
    return (
        selectors.recent_heads(since=since, until=until),
        selectors.recent_revocations(since=since, until=until),
        selectors.inactive_among(served),
    )
