"""Every write to the notification log, and the messages each write publishes on commit."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, F, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from notifications import content, preferences, store
from notifications.content import InvalidNotification
from notifications.delivery import messages, publish
from notifications.delivery.messages import Message
from notifications.delivery.payloads import stored_payload
from notifications.i18n import rendering
from notifications.models import Notification, StreamCounter

__all__ = [
    "Change",
    "InvalidNotification",
    "InvalidSnooze",
    "NotificationNotFound",
    "archive",
    "delete_notification",
    "mark_read",
    "mark_unread",
    "notifications_stored",
    "notify",
    "prune",
    "revoke_streams",
    "snooze",
    "unarchive",
    "unsnooze",
    "wake_snoozed",
]

# Sent after commit with the notifications one ``notify()`` stored (``notifications=``): Web
# Push listens (``notifications.push.sender``).
notifications_stored = Signal()

# Recipients per statement: keeps parameter lists small on every database and locks in order.
_BATCH = 500

Recipients = AbstractBaseUser | Iterable[AbstractBaseUser] | QuerySet[Any]


class NotificationNotFound(LookupError):
    """No such notification of that user (never another user's: they are not found)."""


def notify(
    recipients: Recipients,
    *,
    kind: str,
    title: str = "",
    body: str = "",
    url: str = "",
    data: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> list[Notification]:
    """Store one notification per recipient and ring their streams after commit.

    Each row takes its recipient's next ``seq`` under a row lock on the recipient's counter,
    so a user's sequence order is commit order, without holes. With ``dedupe_key``, a
    recipient who already has a notification with that key gets nothing new. Without a
    ``title``, a kind with templates is rendered from ``params`` for each reader
    (``notifications.i18n.rendering``). Fields that break the rules of
    ``notifications.content`` (sizes, links), or ``params`` its templates cannot be
    rendered with in every language, raise ``InvalidNotification`` before anything is
    written.
    """
    data = {} if data is None else data
    prepared = rendering.prepare(kind=kind, title=title, body=body, params=params)
    title, body = prepared.title, prepared.body
    content.validate(kind=kind, title=title, body=body, url=url, data=data, dedupe_key=dedupe_key)
    user_ids = preferences.deliverable(sorted(set(_recipient_ids(recipients))), kind=kind)
    batches = [user_ids[start : start + _BATCH] for start in range(0, len(user_ids), _BATCH)]
    write = store.with_postgresql if connection.vendor == "postgresql" else store.with_orm
    # One statement is a transaction of its own: BEGIN and COMMIT around it would cost two
    # more round trips. On commit, then, means right after it.
    one_statement = write is store.with_postgresql and len(batches) <= 1 and dedupe_key is None
    fields = store.Content(
        kind=kind,
        title=title,
        body=body,
        url=url,
        data=data,
        params=prepared.params,
        created_at=timezone.now(),
        dedupe_key=dedupe_key,
    )
    stored: list[Notification] = []
    with contextlib.nullcontext() if one_statement else transaction.atomic():
        for batch in batches:
            stored += write(batch, fields)
        _publish_on_commit([(n.recipient_id, _live_message(n)) for n in stored])
        if stored and notifications_stored.has_listeners():
            transaction.on_commit(
                partial(notifications_stored.send, sender=Notification, notifications=stored),
                robust=True,
            )
    return stored


def _recipient_ids(recipients: Recipients) -> Iterable[int]:
    if isinstance(recipients, AbstractBaseUser):
        return [recipients.pk]
    if isinstance(recipients, QuerySet):
        return recipients.values_list("pk", flat=True)
    return [user.pk for user in recipients]


def _live_message(notification: Notification) -> Message:
    """The message of a stored notification: as stored, in the site's language, with its
    parameters for the streams that read another (see ``stream.frames``)."""
    return messages.notification(stored_payload(notification), params=notification.params)


def _publish_on_commit(addressed: list[publish.Addressed]) -> None:
    if addressed:
        transaction.on_commit(partial(publish.publish, addressed), robust=True)


@dataclass(frozen=True)
class Change:
    """What a change of state (read, archived, snoozed...) did to one user's notifications:
    which ids changed, and how many of theirs are unread after it."""

    ids: list[int]
    unread_count: int


def mark_read(*, notifications: QuerySet[Notification]) -> dict[int, Change]:
    """Mark the unread ones among ``notifications`` read; return the change per owner.

    Serves one notification, all of a user's (``selectors.inbox``) and an admin's selection
    across users alike. Each owner whose notifications changed gets ``event: read`` with the
    ids and their new unread count; owners with nothing to change are not in the result.
    """
    with transaction.atomic():
        changed = _lock_by_owner(notifications.filter(read_at__isnull=True))
        _update(changed, read_at=timezone.now())
        counts = _announce(changed)
    return {user_id: Change(ids, counts[user_id]) for user_id, ids in changed.items()}


def mark_unread(*, notifications: QuerySet[Notification]) -> dict[int, Change]:
    """Mark the read ones among ``notifications`` unread (an admin action); return the change
    per owner. Their ``event: read`` carries ``"ids": []`` and ``unread_ids``. Archived and
    snoozed ones stay read: they are out of the inbox, and its count."""
    with transaction.atomic():
        changed = _lock_by_owner(
            notifications.filter(
                read_at__isnull=False, archived_at__isnull=True, snoozed_until__isnull=True
            )
        )
        _update(changed, read_at=None)
        counts = _announce({user_id: [] for user_id in changed}, unread_ids=changed)
    return {user_id: Change(ids, counts[user_id]) for user_id, ids in changed.items()}


class InvalidSnooze(ValueError):
    """A time a notification cannot be snoozed until: naive, past, or too far ahead."""


# How far ahead a snooze may go.
MAX_SNOOZE = timedelta(days=90)


def archive(*, notifications: QuerySet[Notification]) -> dict[int, Change]:
    """Put away the ones among ``notifications`` not yet archived, and mark them read (a
    snoozed one is archived instead); return the change per owner, told as ``archived``."""
    with transaction.atomic():
        changed = _lock_by_owner(notifications.filter(archived_at__isnull=True))
        now = timezone.now()
        _update(changed, archived_at=now, read_at=Coalesce("read_at", now), snoozed_until=None)
        return _told("archived", changed)


def unarchive(*, notifications: QuerySet[Notification]) -> dict[int, Change]:
    """Bring the archived ones among ``notifications`` back to the inbox, as read as they
    were; told as ``unarchived``, with the notifications."""
    with transaction.atomic():
        changed = _lock_by_owner(notifications.filter(archived_at__isnull=False))
        _update(changed, archived_at=None)
        return _told("unarchived", changed, with_notifications=True)


def snooze(*, notifications: QuerySet[Notification], until: datetime) -> dict[int, Change]:
    """Hide ``notifications`` until ``until`` (read meanwhile; an archived one comes out of
    the archive to wait); told as ``snoozed``. :func:`wake_snoozed` brings them back.

    Raises ``InvalidSnooze`` for a time without a zone, not in the future, or more than
    ``MAX_SNOOZE`` ahead.
    """
    now = timezone.now()
    if timezone.is_naive(until):
        raise InvalidSnooze(gettext("The time must say its zone, e.g. +01:00 or Z."))
    if until <= now:
        raise InvalidSnooze(gettext("The time must be in the future."))
    if until > now + MAX_SNOOZE:
        days = MAX_SNOOZE.days
        raise InvalidSnooze(
            ngettext(
                "The time must be within %(days)d day.",
                "The time must be within %(days)d days.",
                days,
            )
            % {"days": days}
        )
    with transaction.atomic():
        changed = _lock_by_owner(notifications)
        _update(changed, snoozed_until=until, read_at=Coalesce("read_at", now), archived_at=None)
        return _told("snoozed", changed, until=until.isoformat())


def unsnooze(*, notifications: QuerySet[Notification]) -> dict[int, Change]:
    """Bring the snoozed ones among ``notifications`` back now, unread; told as
    ``unsnoozed``, with the notifications."""
    with transaction.atomic():
        changed = _lock_by_owner(notifications.filter(snoozed_until__isnull=False))
        _update(changed, snoozed_until=None, read_at=None)
        return _told("unsnoozed", changed, with_notifications=True)


def wake_snoozed(*, user_id: int | None = None, limit: int = 1000) -> int:
    """Bring back, unread, up to ``limit`` snoozed notifications (of ``user_id``, or anyone's)
    whose time has come; tell their owners' streams (``unsnoozed``); return how many.

    Every server process calls this on a timer, and the API for its reader before it lists
    or counts (no server may be running streams). The rows are claimed by one statement that
    skips rows another call holds, and changes only rows still due, so each comes back
    exactly once however many processes run it at the same moment.
    """
    due = Notification.objects.filter(snoozed_until__lte=timezone.now())
    if user_id is not None:
        due = due.filter(recipient_id=user_id)
    if not due.exists():  # the usual answer: one read of the partial index, no transaction
        return 0
    with transaction.atomic():
        claimed = due.select_for_update(skip_locked=True).order_by().values("pk")[:limit]
        woken = store.update_returning(due.filter(pk__in=claimed), snoozed_until=None, read_at=None)
        by_owner: dict[int, list[int]] = defaultdict(list)
        rows = Notification.objects.filter(pk__in=woken).order_by("pk")
        for pk, owner in rows.values_list("pk", "recipient_id"):
            by_owner[owner].append(pk)
        _told("unsnoozed", dict(by_owner), with_notifications=True)
    return len(woken)


def _told(
    event: str,
    changed: dict[int, list[int]],
    *,
    until: str | None = None,
    with_notifications: bool = False,
) -> dict[int, Change]:
    """Tell each owner in ``changed`` of ``event`` on their ids, after commit; return the
    change per owner, with their new unread counts."""
    counts = _unread_counts(changed)
    rows: dict[int, Notification] = {}
    if with_notifications:
        ids = [pk for pks in changed.values() for pk in pks]
        rows = Notification.objects.in_bulk(ids)
    _publish_on_commit(
        [
            (
                user_id,
                messages.state(
                    event,
                    ids=ids,
                    unread_count=counts[user_id],
                    until=until,
                    notifications=[_pair(rows[pk]) for pk in ids if pk in rows]
                    if with_notifications
                    else None,
                ),
            )
            for user_id, ids in sorted(changed.items())
        ]
    )
    return {user_id: Change(ids, counts[user_id]) for user_id, ids in changed.items()}


def _pair(notification: Notification) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A notification as a state message carries it: payload and params."""
    return stored_payload(notification), notification.params


def _lock_by_owner(notifications: QuerySet[Notification]) -> dict[int, list[int]]:
    """Lock ``notifications`` in id order until commit; return their ids by owner."""
    by_owner: dict[int, list[int]] = defaultdict(list)
    # By primary key, whatever joins or ordering the given queryset has, which FOR UPDATE
    # may not accept; in one order, so concurrent calls cannot deadlock.
    rows = (
        Notification.objects.filter(pk__in=notifications.values("pk"))
        .select_for_update()
        .order_by("pk")
        .values_list("pk", "recipient_id")
    )
    for pk, user_id in rows:
        by_owner[user_id].append(pk)
    return dict(by_owner)


def _update(by_owner: dict[int, list[int]], **fields: Any) -> None:
    ids = [pk for pks in by_owner.values() for pk in pks]
    if ids:
        Notification.objects.filter(pk__in=ids).update(**fields)


def delete_notification(*, user_id: int, notification_id: int) -> None:
    """Delete one of ``user_id``'s notifications; raise ``NotificationNotFound`` otherwise."""
    with transaction.atomic():
        mine = Notification.objects.filter(recipient_id=user_id, pk=notification_id)
        notification = mine.select_for_update().first()
        if notification is None:
            raise NotificationNotFound(f"User {user_id} has no notification {notification_id}.")
        notification.delete()
        if notification.read_at is None:
            _announce({user_id: []})


def prune(*, older_than: timedelta, read_only: bool = False) -> int:
    """Delete notifications created more than ``older_than`` ago; return how many.

    Each user's counter remembers the highest pruned ``seq``, so a stream resuming from
    before it sends ``resync`` rather than skipping the hole in silence. Users who lose
    unread notifications get a ``read`` event with their new count, so open badges follow.
    """
    doomed = Notification.objects.filter(created_at__lt=timezone.now() - older_than)
    if read_only:
        # A snoozed notification is read only until it comes back: it is kept.
        doomed = doomed.filter(read_at__isnull=False, snoozed_until__isnull=True)
    with transaction.atomic():
        highest = (
            doomed.filter(recipient_id=OuterRef("user_id"))
            .values("recipient_id")
            .annotate(highest=Max("seq"))
            .values("highest")
        )
        StreamCounter.objects.filter(user_id__in=doomed.values("recipient_id")).update(
            pruned_through=Greatest(F("pruned_through"), Subquery(highest))
        )
        losing_unread = set(
            doomed.filter(read_at__isnull=True).values_list("recipient_id", flat=True)
        )
        deleted, _ = doomed.delete()
        _announce({user_id: [] for user_id in losing_unread})
    return deleted


def _announce(
    read_ids: dict[int, list[int]], *, unread_ids: dict[int, list[int]] | None = None
) -> dict[int, int]:
    """Send each user in ``read_ids`` ``event: read`` with their ids and new unread count
    (read in one query for all of them) after commit; return the counts."""
    if not read_ids:
        return {}
    counts = _unread_counts(read_ids)
    _publish_on_commit(
        [
            (
                user_id,
                messages.read_state(
                    ids=ids,
                    unread_count=counts[user_id],
                    unread_ids=None if unread_ids is None else unread_ids[user_id],
                ),
            )
            for user_id, ids in sorted(read_ids.items())
        ]
    )
    return counts


def _unread_counts(users: Iterable[int]) -> dict[int, int]:
    """Count the unread notifications of each of ``users`` in one query."""
    users = list(users)
    if not users:
        return {}
    counts = dict(
        Notification.objects.filter(recipient_id__in=users, read_at__isnull=True)
        .values("recipient_id")
        .annotate(n=Count("*"))
        .values_list("recipient_id", "n")
    )
    return {user_id: counts.get(user_id, 0) for user_id in users}


def revoke_streams(*, user_id: int) -> None:
    """Close every open stream of ``user_id`` on every server process, after commit.

    The revocation is counted in the database as well as sent, since the message only rings:
    a stream that may have missed it (the channel layer was down) checks the count when it
    catches up, and the sweep of every process finds it (its publisher's Redis failed).
    """
    with transaction.atomic():
        StreamCounter.objects.bulk_create([StreamCounter(user_id=user_id)], ignore_conflicts=True)
        counter = StreamCounter.objects.select_for_update().get(user_id=user_id)
        counter.revocations += 1
        counter.revoked_at = timezone.now()
        counter.save(update_fields=["revocations", "revoked_at"])
        _publish_on_commit([(user_id, messages.close_user_streams())])
