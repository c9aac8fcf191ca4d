"""Reads shared by the pages, the API and the stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, Exists, Field, Max, Model, QuerySet

from notifications.models import Notification, StreamCounter

if TYPE_CHECKING:
    from django.contrib.auth.models import Group


def notifications_of(user_id: int) -> QuerySet[Notification]:
    """Return every notification of a user, archived and snoozed ones too, newest first."""
    return Notification.objects.filter(recipient_id=user_id).order_by("-seq")


def inbox(
    user_id: int,
    *,
    unread_only: bool = False,
    archived: bool = False,
    snoozed: bool = False,
    kinds: list[str] | None = None,
) -> QuerySet[Notification]:
    """Return a user's notifications in the inbox, newest first: those neither archived nor
    snoozed; with ``archived`` or ``snoozed``, only those put away so. ``kinds`` narrows
    them to a category's."""
    qs = notifications_of(user_id).filter(
        archived_at__isnull=not archived, snoozed_until__isnull=not snoozed
    )
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    return qs


def unread_count(user_id: int) -> int:
    """Count a user's unread notifications (served by a partial index). Archived and
    snoozed notifications are read, so they are never counted."""
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()


def unread_by_kind(user_id: int) -> dict[str, int]:
    """Count a user's unread notifications of each kind that has any."""
    return dict(
        Notification.objects.filter(recipient_id=user_id, read_at__isnull=True)
        .order_by()
        .values("kind")
        .annotate(n=Count("*"))
        .values_list("kind", "n")
    )


# The resync reason of a Last-Event-ID above the user's newest seq.
UNKNOWN_POSITION = "unknown_position"


@dataclass(frozen=True)
class Replay:
    """What a stream resuming after a ``seq`` must send, oldest first.

    ``missed`` counts notifications the client will never receive from this replay: more
    than ``REPLAY_LIMIT`` behind, or pruned away (an upper bound then). A ``reason`` means
    the client must resync; ``unknown_position`` (an id the user never reached) misses none.
    """

    notifications: list[Notification]
    missed: int = 0
    reason: str = ""


@dataclass(frozen=True)
class StreamStart:
    """Everything a stream reads when it opens, fetched in one visit to the database."""

    resume_from: int
    unread_count: int
    replay: Replay
    revocations: int
    # The language the stream renders notifications in (``stream.start_read``).
    language: str = ""


@dataclass(frozen=True)
class StartRow:
    """What an open reads of its user's counter: the newest ``seq``, how far notifications
    were pruned, how many times streams were revoked, and the unread count."""

    head: int
    pruned_through: int
    revocations: int
    unread: int

    def needs_replay(self, last_event_id: int | None) -> bool:
        """Tell whether a stream resuming after ``last_event_id`` must read rows to replay."""
        return last_event_id is not None and last_event_id < self.head


def start_from(
    user_id: int, row: StartRow, *, last_event_id: int | None, limit: int
) -> StreamStart:
    """Return where a stream starts from its counter's ``row``; reads the rows to replay
    with the ORM when there are any (see :meth:`StartRow.needs_replay`)."""
    if not row.needs_replay(last_event_id):
        reason = UNKNOWN_POSITION if (last_event_id or 0) > row.head else ""
        return StreamStart(
            resume_from=row.head,
            unread_count=row.unread,
            replay=Replay([], reason=reason),
            revocations=row.revocations,
        )
    assert last_event_id is not None
    return StreamStart(
        resume_from=last_event_id,
        unread_count=row.unread,
        replay=_replay(user_id, last_event_id, limit, row.pruned_through),
        revocations=row.revocations,
    )


def quoted_column(alias: str, model: type[Model], name: str) -> str:
    """Return the quoted column of ``model``'s concrete field ``name``, for SQL written once
    for the hot path of opens."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field), f"{name} is not a concrete field"
    return connections[alias].ops.quote_name(field.column)


def _replay(user_id: int, after: int, limit: int, pruned_through: int) -> Replay:
    newer = Notification.objects.filter(recipient_id=user_id, seq__gt=after)
    newest_first = list(newer.order_by("-seq")[: limit + 1])
    window = newest_first[:limit][::-1]
    if len(newest_first) > limit:
        return Replay(window, missed=newer.count() - limit, reason="replay_limit")
    if pruned_through > after:
        return Replay(window, missed=pruned_through - after, reason="retention")
    return Replay(window)


def after_seq(user_id: int, seq: int, *, limit: int) -> list[Notification]:
    """Return up to ``limit`` notifications of ``user_id`` following ``seq``, oldest first."""
    return list(
        Notification.objects.filter(recipient_id=user_id, seq__gt=seq).order_by("seq")[:limit]
    )


def revocations_of(user_id: Any) -> int:
    """Return how many times the streams (and refresh tokens) of ``user_id`` were revoked."""
    counts = StreamCounter.objects.filter(user_id=user_id).values_list("revocations", flat=True)
    return next(iter(counts), 0)


def stream_allowed(user_id: int, revocations: int) -> bool:
    """Tell whether a stream of ``user_id`` opened at ``revocations`` may stay open: the user
    still exists and is active, and their streams were not revoked since."""
    revoked_since = StreamCounter.objects.filter(user_id=user_id, revocations__gt=revocations)
    return (
        get_user_model().objects.filter(~Exists(revoked_since), pk=user_id, is_active=True).exists()
    )


def inactive_among(user_ids: list[int]) -> set[int]:
    """Return those of ``user_ids`` that are no longer active, or no longer exist."""
    active: set[int] = set()
    for start in range(0, len(user_ids), 1000):
        chunk = user_ids[start : start + 1000]
        active.update(
            get_user_model()
            .objects.filter(pk__in=chunk, is_active=True)
            .values_list("pk", flat=True)
        )
    return set(user_ids) - active


def active_users() -> QuerySet[Any]:
    """Return the users a broadcast reaches: an inactive account cannot sign in to read it."""
    return get_user_model().objects.filter(is_active=True)


def active_members(group: Group) -> QuerySet[Any]:
    """Return the active users of ``group``, the recipients of a message to that group."""
    return active_users().filter(groups=group)


def recent_heads(*, since: datetime, until: datetime) -> list[tuple[int, int]]:
    """Return ``(user_id, highest seq)`` for users notified between ``since`` and ``until``."""
    return list(
        Notification.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("recipient_id")
        .annotate(head=Max("seq"))
        .values_list("recipient_id", "head")
    )


def recent_revocations(*, since: datetime, until: datetime) -> list[tuple[int, int]]:
    """Return ``(user_id, revocations)`` for users whose streams were revoked between
    ``since`` and ``until``."""
    return list(
        StreamCounter.objects.filter(revoked_at__gte=since, revoked_at__lt=until).values_list(
            "user_id", "revocations"
        )
    )
