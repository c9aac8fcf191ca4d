"""Working through the inbox at the services' level, with the real database: archive,
unarchive, snooze, and the waking of snoozes that come due, once each however many
processes wake them at the same moment."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from notifications import selectors
from notifications.delivery import messages
from notifications.models import Notification
from notifications.services import (
    MAX_SNOOZE,
    Change,
    InvalidSnooze,
    archive,
    mark_read,
    mark_unread,
    notify,
    snooze,
    unarchive,
    wake_snoozed,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

User = get_user_model()

Published = list[tuple[int, dict[str, Any]]]


def send(user: Any, count: int = 1) -> list[Notification]:
    return [notify(user, kind="info", title=f"Order #{n} shipped")[0] for n in range(count)]


def of(*notifications: Notification) -> Any:
    return Notification.objects.filter(pk__in=[n.pk for n in notifications])


def soon() -> datetime:
    return timezone.now() + timedelta(hours=1)


def come_due(*notifications: Notification) -> None:
    """Move the snoozes of ``notifications`` into the past, as time passing would."""
    of(*notifications).update(snoozed_until=timezone.now() - timedelta(seconds=1))


def fresh(notification: Notification) -> Notification:
    return Notification.objects.get(pk=notification.pk)


def events(published: Published, name: str) -> list[tuple[int, dict[str, Any]]]:
    return [
        (user_id, message)
        for user_id, message in published
        if message["type"] == messages.STATE and message["event"] == name
    ]


def returned_ids(message: dict[str, Any]) -> list[int]:
    """The ids of the notifications an ``unsnoozed`` or ``unarchived`` message carries."""
    return [payload["id"] for payload, _params in message["notifications"]]


# --- archive and unarchive -----------------------------------------------------------------


def test_archiving_marks_read_and_tells_the_count_left(
    user, published, django_capture_on_commit_callbacks
):
    archived, kept = send(user, 2)

    with django_capture_on_commit_callbacks(execute=True):
        changed = archive(notifications=of(archived))

    assert changed == {user.pk: Change(ids=[archived.pk], unread_count=1)}
    assert fresh(archived).archived_at is not None
    assert fresh(archived).read_at is not None
    assert fresh(kept).read_at is None
    assert selectors.unread_count(user.pk) == 1
    [(user_id, message)] = published
    assert (user_id, message["event"], message["ids"]) == (user.pk, "archived", [archived.pk])
    assert message["unread_count"] == 1


def test_archiving_a_read_one_keeps_when_it_was_read(user):
    [notification] = send(user)
    mark_read(notifications=of(notification))
    read_at = fresh(notification).read_at

    archive(notifications=of(notification))

    assert fresh(notification).read_at == read_at


def test_archiving_an_archived_one_changes_and_tells_nothing(
    user, published, django_capture_on_commit_callbacks
):
    [notification] = send(user)
    archive(notifications=of(notification))
    archived_at = fresh(notification).archived_at

    with django_capture_on_commit_callbacks(execute=True):
        assert archive(notifications=of(notification)) == {}

    assert fresh(notification).archived_at == archived_at
    assert published == []


def test_unarchiving_brings_it_back_still_read_with_the_notification(
    user, published, django_capture_on_commit_callbacks
):
    archived, other = send(user, 2)
    archive(notifications=of(archived))

    with django_capture_on_commit_callbacks(execute=True):
        changed = unarchive(notifications=of(archived))

    assert changed == {user.pk: Change(ids=[archived.pk], unread_count=1)}
    assert fresh(archived).archived_at is None
    assert fresh(archived).read_at is not None
    assert fresh(other).read_at is None
    [(_, message)] = events(published, "unarchived")
    assert returned_ids(message) == [archived.pk]
    [(payload, _params)] = message["notifications"]
    assert (payload["read"], payload["archived"]) == (True, False)


# --- snooze --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "until",
    [
        pytest.param(lambda: datetime.now() + timedelta(hours=1), id="naive"),
        pytest.param(lambda: timezone.now() - timedelta(seconds=1), id="past"),
        pytest.param(lambda: timezone.now() + MAX_SNOOZE + timedelta(minutes=1), id="too-far"),
    ],
)
def test_a_snooze_to_a_bad_time_is_refused_and_changes_nothing(
    user, until, published, django_capture_on_commit_callbacks
):
    [notification] = send(user)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidSnooze):
        snooze(notifications=of(notification), until=until())

    after = fresh(notification)
    assert (after.read_at, after.snoozed_until, after.archived_at) == (None, None, None)
    assert published == []


def test_a_snooze_just_within_the_limit_is_taken(user):
    [notification] = send(user)
    until = timezone.now() + MAX_SNOOZE - timedelta(minutes=1)

    snooze(notifications=of(notification), until=until)

    assert fresh(notification).snoozed_until == until


def test_snoozing_hides_it_from_the_count_and_tells_until(
    user, published, django_capture_on_commit_callbacks
):
    snoozed, kept = send(user, 2)
    until = soon()

    with django_capture_on_commit_callbacks(execute=True):
        changed = snooze(notifications=of(snoozed), until=until)

    assert changed == {user.pk: Change(ids=[snoozed.pk], unread_count=1)}
    assert fresh(snoozed).snoozed_until == until
    assert selectors.unread_count(user.pk) == 1
    [(_, message)] = events(published, "snoozed")
    assert (message["ids"], message["until"]) == ([snoozed.pk], until.isoformat())


# --- waking snoozes ------------------------------------------------------------------------


def test_waking_brings_back_only_the_due_ones_unread_and_tells_once(
    user, published, django_capture_on_commit_callbacks
):
    due, waiting, never_snoozed = send(user, 3)
    snooze(notifications=of(due, waiting), until=soon())
    come_due(due)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert wake_snoozed() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert wake_snoozed() == 0

    assert (fresh(due).snoozed_until, fresh(due).read_at) == (None, None)
    assert fresh(waiting).snoozed_until is not None
    assert fresh(waiting).read_at is not None
    assert fresh(never_snoozed).read_at is None
    [(user_id, message)] = events(published, "unsnoozed")
    assert (user_id, message["ids"], message["unread_count"]) == (user.pk, [due.pk], 2)
    assert returned_ids(message) == [due.pk]
    [(payload, _params)] = message["notifications"]
    assert (payload["read"], payload["snoozed_until"]) == (False, None)
    assert len(published) == 1


def test_waking_one_user_leaves_the_others_due_snoozes(
    user, other_user, published, django_capture_on_commit_callbacks
):
    [mine], [theirs] = send(user), send(other_user)
    snooze(notifications=of(mine, theirs), until=soon())
    come_due(mine, theirs)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert wake_snoozed(user_id=user.pk) == 1

    assert fresh(mine).snoozed_until is None
    assert fresh(theirs).snoozed_until is not None
    assert [user_id for user_id, _ in events(published, "unsnoozed")] == [user.pk]


def test_waking_tells_each_owner_of_their_own(
    user, other_user, published, django_capture_on_commit_callbacks
):
    mine, theirs = send(user, 2), send(other_user)
    snooze(notifications=of(*mine, *theirs), until=soon())
    come_due(*mine, *theirs)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert wake_snoozed() == 3

    told = {user_id: sorted(returned_ids(message)) for user_id, message in published}
    assert told == {user.pk: sorted(n.pk for n in mine), other_user.pk: [theirs[0].pk]}


def test_waking_with_a_limit_takes_that_many_and_leaves_the_rest_due(user):
    notifications = send(user, 5)
    snooze(notifications=of(*notifications), until=soon())
    come_due(*notifications)

    assert wake_snoozed(limit=3) == 3
    assert wake_snoozed(limit=3) == 2
    assert not Notification.objects.filter(snoozed_until__isnull=False).exists()


# --- marking unread ------------------------------------------------------------------------


def test_marking_unread_leaves_archived_and_snoozed_ones_read(
    user, published, django_capture_on_commit_callbacks
):
    archived, snoozed, read = send(user, 3)
    archive(notifications=of(archived))
    snooze(notifications=of(snoozed), until=soon())
    mark_read(notifications=of(read))
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        changed = mark_unread(notifications=of(archived, snoozed, read))

    assert changed == {user.pk: Change(ids=[read.pk], unread_count=1)}
    assert fresh(archived).read_at is not None
    assert fresh(snoozed).read_at is not None
    assert fresh(read).read_at is None
    [(_, message)] = published
    assert message["unread_ids"] == [read.pk]


# --- waking in several processes at once ---------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to lose",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_wakers_bring_each_due_snooze_back_exactly_once(published):
    users = User.objects.bulk_create([User(username=f"sleeper{n}") for n in range(4)])
    rows = [row for user in users for row in send(user, 150)]
    snooze(notifications=of(*rows), until=soon())
    come_due(*rows)
    published.clear()
    wakers, batch = 2, 40
    start = threading.Barrier(wakers)
    woken: list[int] = []
    errors: list[BaseException] = []

    def wake() -> None:
        """Wake in batches until a batch comes back short, as each server's upkeep does."""
        try:
            start.wait()
            while True:
                count = wake_snoozed(limit=batch)
                woken.append(count)
                if count < batch:
                    return
        except BaseException as e:
            errors.append(e)
        finally:
            connection.close()

    threads = [threading.Thread(target=wake) for _ in range(wakers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(woken) == len(rows)
    told = Counter(pk for _, message in events(published, "unsnoozed") for pk in message["ids"])
    assert told == Counter(row.pk for row in rows)
    carried = Counter(
        pk for _, message in events(published, "unsnoozed") for pk in returned_ids(message)
    )
    assert carried == told
    assert Notification.objects.filter(
        snoozed_until__isnull=True, read_at__isnull=True
    ).count() == len(rows)
