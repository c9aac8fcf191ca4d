"""The stream endpoint: authenticate, validate, take a slot, hand over to :class:`Stream`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from notifications import auth, hosts, messages, publish
from notifications.asgi import on_close
from notifications.conf import conf
from notifications.db import database
from notifications.hub import hub
from notifications.limits import Admission, Slot, new_slot, slots, unreachable
from notifications.stream import Stream

logger = logging.getLogger(__name__)

# What a request that finds the database unreachable is told, and when to retry (seconds).
DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."
RETRY_AFTER_OUTAGE = "5"

# Releases of slots whose opening was cancelled, kept referenced until they are done.
_releasing: set[asyncio.Future[None]] = set()


def error(status: int, detail: str, **headers: str) -> JsonResponse:
    """Return the JSON error every refusal of this app uses."""
    response = JsonResponse({"detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def unauthorized(e: auth.NotAuthenticated) -> JsonResponse:
    """Answer a stream whose credentials are missing or refused."""
    return error(401, str(e), WWW_Authenticate='Bearer realm="api"')


def limited() -> JsonResponse:
    """Answer a stream over its user's limit, leaving their other streams alone."""
    return error(
        429,
        f"Too many open streams: at most {conf.MAX_CONNECTIONS_PER_USER} per user.",
        Retry_After=str(conf.LIMIT_RETRY_AFTER_SECONDS),
    )


def database_unavailable(e: Exception) -> JsonResponse:
    """Answer a request that found the database unreachable: a passing outage, so a 503 that
    tells clients when to retry, never a 500."""
    logger.warning("The database is unavailable: %r", e)
    return error(503, DATABASE_UNAVAILABLE, Retry_After=RETRY_AFTER_OUTAGE)


def parse_last_event_id(request: HttpRequest) -> int | None:
    """Return the resume point from ``Last-Event-ID`` or ``?last_event_id=``, if any.

    The header wins: EventSource sends it on reconnect, with a newer id than the one in a
    URL that was written when the stream first opened.
    """
    raw = request.headers.get("Last-Event-ID")
    if raw is None or not raw.strip():
        raw = request.GET.get("last_event_id")
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    # A seq is a bigint; checking the length first also spares int() 4,301 digits and more,
    # which it refuses with a message of its own.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) >= 2**63:
        raise ValueError(
            f"Last-Event-ID must be a non-negative integer below 2**63, not {raw[:40]!r}."
        )
    return int(raw)


async def events(request: HttpRequest) -> HttpResponseBase:
    """``GET /api/events/``: the user's notifications as Server-Sent Events."""
    if not hosts.allowed(request):
        return error(400, hosts.DISALLOWED)
    if request.method != "GET":
        return error(405, f'Method "{request.method}" not allowed.', Allow="GET")
    try:
        user = await database(auth.stream_user, request)
    except auth.NotAuthenticated as e:
        return unauthorized(e)
    except (OperationalError, InterfaceError) as e:
        return database_unavailable(e)
    try:
        last_event_id = parse_last_event_id(request)
    except ValueError as e:
        return error(400, str(e))

    admission = await admit(user.pk)
    if admission.slot is None:
        return limited()
    stream = Stream(user_id=user.pk, last_event_id=last_event_id, slot=admission.slot)
    # Whatever becomes of the response, even if it is never sent, the slot is given back.
    on_close(request, stream.close)
    try:
        first, rest = await stream.start()
    except auth.NotAuthenticated as e:
        return unauthorized(e)
    response = StreamingHttpResponse(
        _chained(first, rest), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _chained(first: bytes, rest: AsyncIterator[bytes] | None) -> AsyncIterator[bytes]:
    """The stream's first bytes, then the rest of them."""
    yield first
    if rest is not None:
        async for chunk in rest:
            yield chunk


async def admit(user_id: int) -> Admission:
    """Take a connection slot for a new stream of ``user_id``: ``Admission(None)`` when the
    user is at their limit (after evicting their oldest stream under ``evict_oldest``)."""
    slot = new_slot(user_id)
    try:
        admission = await slots().take(slot, evict=conf.ON_LIMIT == "evict_oldest")
    except asyncio.CancelledError:
        # The client left while Redis answered: the slot may be taken, and nobody holds it.
        _releasing.add(task := asyncio.ensure_future(slots().release(slot)))
        task.add_done_callback(_releasing.discard)
        raise
    except Exception as e:
        # Availability over strictness: a Redis outage must not lock every user out. Its
        # report is the hub's, once (each open of a reconnect storm would repeat it).
        if unreachable(e):
            logger.debug("Connection limit unavailable while Redis is away: %r", e)
        else:
            logger.warning(
                "Connection limit unavailable; admitting stream unlimited.", exc_info=True
            )
        return Admission(slot)
    if admission.slot is not None and not admission.process_known and await _over_limit(slot):
        return Admission(None)
    if admission.evicted:
        try:
            await publish.send([(user_id, messages.close_stream(admission.evicted))])
        except Exception:
            logger.warning("Could not tell stream %s to close.", admission.evicted, exc_info=True)
    return admission


async def _over_limit(slot: Slot) -> bool:
    """Count this process's streams again, with ``slot``, after Redis forgot them (it was
    restarted); tell whether ``slot`` is the newest over its user's limit."""
    current = hub()
    return bool(current.inboxes) and slot in await current.upkeep.renew_slots(opening=slot)
