"""One open of ``GET /api/events/``: a request in, a refusal or a started stream out.

The ASGI front (:mod:`notifications.stream.front`) and the Django view
(:mod:`notifications.stream.view`) both call :func:`open_stream` and differ only in how they read
the request and send bytes, so every situation gets one answer whichever path serves it:

- a ``Host`` outside ``ALLOWED_HOSTS``, a bad ``Last-Event-ID``: 400;
- a method other than ``GET``: 405;
- missing or refused credentials: 401 with ``WWW-Authenticate``;
- a user at their limit: 429 with ``Retry-After``;
- the database unreachable: 503 with ``Retry-After``;
- Redis unreachable: the stream, unlimited and read from the database.

Explicit credentials are verified before any I/O. The user a token names is checked by the
stream's start read, after its slot is taken (given back on refusal); under
``ON_LIMIT = "evict_oldest"`` it is checked first, so that a refused token never evicts a
stream.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.utils import translation
from django.utils.translation import gettext, ngettext
from rest_framework_simplejwt.tokens import Token

from notifications import metrics
from notifications.conf import conf
from notifications.delivery import messages, publish
from notifications.delivery.outages import unreachable
from notifications.errors import database_unavailable, error
from notifications.i18n import languages
from notifications.stream import auth, hosts, start_read
from notifications.stream.connection import Stream
from notifications.stream.hub import hub
from notifications.stream.limits import Admission, Slot, new_slot, slots
from notifications.stream.threads import on_thread

logger = logging.getLogger(__name__)

# The headers of a started stream, besides the site's own (CORS...).
STREAM_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}

# How long an open waits for Redis to count its slot. A take answers in about a millisecond,
# and a burst of opens shares one round trip; a Redis that hangs (stopped with SIGSTOP, a
# network partition) would otherwise hold every open for the client's whole retry budget
# (about 20 s), and the open is admitted unlimited past it, as when Redis refuses.
TAKE_TIMEOUT_SECONDS = 2.0

# Releases of slots whose opening was cancelled, kept referenced until they are done.
_releasing: set[asyncio.Future[None]] = set()


@dataclass(slots=True)
class Opened:
    """A started stream: send :data:`STREAM_HEADERS`, then :meth:`chunks`; ``stream.close()``
    frees its slot however the request ends."""

    stream: Stream
    first: bytes
    rest: AsyncIterator[bytes] | None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The stream's first bytes, then the rest of them."""
        # Not kept once sent: after a long absence they hold a whole replay.
        first, self.first = self.first, b""
        yield first
        del first
        if self.rest is not None:
            async for chunk in self.rest:
                yield chunk


async def open_stream(request: HttpRequest) -> Opened | JsonResponse:
    """Answer a stream request: a started stream, or the refusal to send instead.

    ``SuspiciousOperation`` (a query string Django refuses) propagates, for Django's handler
    to answer as it answers every view.
    """
    # Refusals speak the browser's language: the user's own would cost a query on each open.
    with translation.override(languages.negotiated(request)):
        answer = await _open(request)
    status = answer.status_code if isinstance(answer, HttpResponseBase) else 200
    metrics.stream_opens.labels(result=metrics.open_result(status)).inc()
    return answer


async def _open(request: HttpRequest) -> Opened | JsonResponse:
    if not hosts.allowed(request):
        return error(400, gettext(hosts.DISALLOWED))
    if request.method != "GET":
        method_not_allowed = gettext('Method "%(method)s" not allowed.')
        return error(405, method_not_allowed % {"method": request.method}, Allow="GET")
    try:
        user_id, token = await _credentials(request)
    except auth.NotAuthenticated as e:
        return unauthorized(e)
    except (OperationalError, InterfaceError) as e:
        return database_unavailable(e)
    try:
        last_event_id = parse_last_event_id(request)
    except ValueError as e:
        return error(400, str(e))
    admission = await admit(user_id)
    if admission.slot is None:
        return limited()
    language = translation.get_language()  # the request's, as open_stream negotiated it
    reader = functools.partial(start_read.read_start, token=token, language=language)
    stream = Stream(
        user_id=user_id, last_event_id=last_event_id, slot=admission.slot, read_start=reader
    )
    # A start that raises has given its slot back already (``Stream.start``).
    try:
        first, rest = await stream.start()
    except auth.NotAuthenticated as e:
        return unauthorized(e)
    except (OperationalError, InterfaceError) as e:
        return database_unavailable(e)
    return Opened(stream, first, rest)


async def _credentials(request: HttpRequest) -> tuple[Any, Token | None]:
    """Return the user id the request opens for, and the token whose user the start read
    still has to check (None once the user was read here: a session, or a token whose user
    id claim is not the primary key, or any token under ``evict_oldest``)."""
    token = auth.stream_token(request)
    if token is not None and conf.ON_LIMIT != "evict_oldest":
        user_id = auth.token_user_pk(token)
        if user_id is not None:
            return user_id, token
    user = await on_thread(_user_of, request, token)
    return user.pk, None


def _user_of(request: HttpRequest, token: Token | None) -> Any:
    return auth.session_user(request) if token is None else auth.token_user(token)


def unauthorized(e: auth.NotAuthenticated) -> JsonResponse:
    """Answer a stream whose credentials are missing or refused."""
    return error(401, e.translated(), WWW_Authenticate='Bearer realm="api"')


def limited() -> JsonResponse:
    """Answer a stream over its user's limit, leaving their other streams alone."""
    most = conf.MAX_CONNECTIONS_PER_USER
    detail = ngettext(
        "Too many open streams: at most %(most)d per user.",
        "Too many open streams: at most %(most)d per user.",
        most,
    ) % {"most": most}
    return error(429, detail, Retry_After=str(conf.LIMIT_RETRY_AFTER_SECONDS))


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
            gettext("Last-Event-ID must be a non-negative integer below 2**63, not %(value)s.")
            % {"value": repr(raw[:40])}
        )
    return int(raw)


async def admit(user_id: int) -> Admission:
    """Take a connection slot for a new stream of ``user_id``: ``Admission(None)`` when the
    user is at their limit (after evicting their oldest stream under ``evict_oldest``)."""
    slot = new_slot(user_id)
    try:
        async with asyncio.timeout(TAKE_TIMEOUT_SECONDS):
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
