"""Sending Web Push, off the request path: one background thread and event loop a process.

``notify()`` tells the sender which notifications committed (``services.notifications_stored``);
it only queues their ids, so a publisher never waits on a push service. The sender's loop
reads what to push (``targets``), asks the connection slots who has a stream open anywhere
right now and leaves them out (they see the notification live: never both a toast and a
push), and sends the rest concurrently, each with a timeout: a slow or hanging push service
holds one of ``CONCURRENCY`` sends for at most ``TIMEOUT_SECONDS`` a try, and delays nothing
else. A 429, a 5xx or a network error is tried again after a backoff (or the service's
``Retry-After``), ``RETRIES`` times at most; a 404 or 410 means the browser unsubscribed,
and its subscription is deleted.

Pushes still queued when a process exits (a management command, a script) are given
``DRAIN_SECONDS`` to go. The wait is registered where ``concurrent.futures`` registers its
own shutdown, and so runs before it: a plain ``atexit`` handler would run after the thread
pools stopped taking work, and the queued pushes could no longer read the database.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from typing import Any

from notifications import metrics
from notifications.models import Notification, PushSubscription
from notifications.push import keys, targets
from notifications.push.targets import Push
from notifications.stream.limits import slots
from notifications.stream.threads import on_thread

logger = logging.getLogger(__name__)

CONCURRENCY = 32
TIMEOUT_SECONDS = 10.0
RETRIES = 3
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
# A push may wait this long in the push service for a browser that is offline.
TTL_SECONDS = 24 * 3600
DRAIN_SECONDS = 10.0
# What a push service answers for a subscription that no longer exists.
GONE = (404, 410)


class Sender:
    """The process's push sender: started with its first notification to push."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._semaphore: asyncio.Semaphore | None = None
        self._http: Any = None

    def enqueue(self, notification_ids: list[int]) -> None:
        """Push the committed notifications ``notification_ids``, in the background."""
        if notification_ids:
            loop = self._running_loop()
            loop.call_soon_threadsafe(self._start, notification_ids)

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Wait until every queued push went (or gave up); return whether all did in time."""
        loop = self._loop
        if loop is None:
            return True
        future = asyncio.run_coroutine_threadsafe(self._idle(), loop)
        try:
            future.result(timeout)
        except TimeoutError:
            return False
        return True

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._started:
            if self._loop is None:
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(ready,), name="notifications-push", daemon=True
                )
                thread.start()
                ready.wait()
                _at_exit(self.drain)
            assert self._loop is not None
            return self._loop

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._semaphore = asyncio.Semaphore(CONCURRENCY)
        ready.set()
        self._loop.run_forever()

    def _start(self, notification_ids: list[int]) -> None:
        task = asyncio.ensure_future(self._push(notification_ids))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _push(self, notification_ids: list[int]) -> None:
        vapid = keys.configured()
        if vapid is None:
            return
        try:
            pushes = await on_thread(targets.for_notifications, notification_ids)
            watching = await slots().watching(sorted({p.user_id for p in pushes}))
        except Exception:
            logger.warning(
                "Could not prepare Web Push for %d notifications.",
                len(notification_ids),
                exc_info=True,
            )
            metrics.push_failed.inc(len(notification_ids))
            return
        unwatched = [push for push in pushes if push.user_id not in watching]
        if unwatched:
            session = await self._session()
            await asyncio.gather(*(self._send(session, vapid, push) for push in unwatched))

    async def _session(self) -> Any:
        if self._http is None:
            import aiohttp

            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
        return self._http

    async def _send(self, session: Any, vapid: keys.VapidKeys, push: Push) -> None:
        """Send ``push``, trying again after failures that may pass."""
        assert self._semaphore is not None
        for attempt in range(RETRIES + 1):
            async with self._semaphore:
                status, retry_after = await _post(session, vapid, push)
            if status is not None and status < 300:
                metrics.push_sent.inc()
                return
            if status in GONE:
                await on_thread(_forget, push.subscription_id)
                metrics.push_subscriptions_removed.inc()
                return
            passing = status is None or status == 429 or status >= 500
            if not passing or attempt == RETRIES:
                logger.warning("Web Push to user %s failed: %s.", push.user_id, status)
                metrics.push_failed.inc()
                return
            backoff = min(BACKOFF_SECONDS * 2**attempt, MAX_BACKOFF_SECONDS)
            await asyncio.sleep(retry_after or backoff)


async def _post(session: Any, vapid: keys.VapidKeys, push: Push) -> tuple[int | None, float]:
    """Post ``push`` to its push service; return its status (None: no answer) and how long
    it asked to wait before another try (0: it did not say)."""
    import aiohttp
    from pywebpush import WebPushException, webpush_async

    claims = {"sub": vapid.subject, "exp": int(time.time()) + 12 * 3600}
    try:
        response = await webpush_async(
            push.info,
            data=push.data,
            vapid_private_key=vapid.private_key,
            vapid_claims=claims,
            ttl=TTL_SECONDS,
            headers={"Urgency": push.urgency},
            aiohttp_session=session,
        )
    except WebPushException as e:
        return e.status_code, _seconds(e.retry_after)
    except (TimeoutError, OSError, ValueError, aiohttp.ClientError) as e:
        logger.info("Web Push to user %s had no answer: %r", push.user_id, e)
        return None, 0.0
    return int(response.status), 0.0


def _at_exit(callback: Any) -> None:
    """Call ``callback`` as the interpreter exits, before the thread pools shut down."""
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # not CPython
        atexit.register(callback)
    else:
        register(callback)


def _seconds(retry_after: str | None) -> float:
    """Read a ``Retry-After`` given in seconds (a date is left to the backoff)."""
    try:
        return min(max(float(retry_after or 0), 0.0), MAX_BACKOFF_SECONDS)
    except ValueError:
        return 0.0


def _forget(subscription_id: int) -> None:
    PushSubscription.objects.filter(pk=subscription_id).delete()


_sender = Sender()


def sender() -> Sender:
    return _sender


def on_stored(notifications: list[Notification], **kwargs: Any) -> None:
    """Queue committed notifications for Web Push: nothing at all while push is off."""
    if keys.configured() is not None:
        _sender.enqueue([n.pk for n in notifications])
