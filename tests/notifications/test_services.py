"""The writes: what each service stores, and what it rings on the channel layer after commit."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.conf import conf
from notifications.content import ContentTooLarge, UnsafeLink
from notifications.delivery import messages, publish
from notifications.delivery.payloads import notification_payload
from notifications.models import Notification, StreamCounter
from notifications.services import (
    InvalidNotification,
    NotificationNotFound,
    delete_notification,
    mark_read,
    mark_unread,
    notify,
    prune,
    revoke_streams,
    snooze,
)
from notifications.stream import frames
from tests.conftest import free_port
from tests.layer import Listener, listening
from tests.notifications.test_content import HOSTILE_LINKS, SAFE_LINKS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

User = get_user_model()

racing = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite serialises every writer, so there is no race to lose",
)


def seqs(user: Any) -> list[int]:
    return list(
        Notification.objects.filter(recipient=user).order_by("seq").values_list("seq", flat=True)
    )


def send(recipients: Any, title: str = "Your order shipped", **fields: Any) -> list[Notification]:
    return notify(recipients, kind=fields.pop("kind", "info"), title=title, **fields)


def mark_ids_read(user: Any, ids: list[int]) -> list[int]:
    """Mark some of ``user``'s notifications read; return the ids that changed."""
    change = mark_read(notifications=Notification.objects.filter(recipient=user, pk__in=ids))
    return change[user.pk].ids if user.pk in change else []


def mark_all_read(user: Any) -> list[int]:
    change = mark_read(notifications=Notification.objects.filter(recipient=user))
    return change[user.pk].ids if user.pk in change else []


def read_message(user: Any, ids: list[int], **fields: Any) -> tuple[int, dict[str, Any]]:
    return (user.pk, {"type": messages.READ_STATE, "ids": ids, **fields})


class Abort(Exception):
    pass


# --- notify() ------------------------------------------------------------------------------


def test_notify_stores_one_row_and_publishes_its_payload_on_commit(
    user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [stored] = notify(
            user,
            kind="order",
            title="Order #7 shipped",
            body="It is on its way.",
            url="/orders/7/",
            data={"order": 7},
        )
        assert published == [], "published before the transaction committed"

    row = Notification.objects.get()
    assert (row.pk, row.recipient, row.seq) == (stored.pk, user, 1)
    assert (row.kind, row.title, row.body, row.url, row.data) == (
        "order",
        "Order #7 shipped",
        "It is on its way.",
        "/orders/7/",
        {"order": 7},
    )
    assert row.read_at is None
    [(user_id, message)] = published
    assert user_id == user.pk
    assert message["type"] == messages.NOTIFICATION
    assert message["payload"]["seq"] == 1
    assert message["payload"] == notification_payload(row)


def test_notify_accepts_a_list_and_a_queryset(user, other_user):
    send([user, other_user])
    send(User.objects.filter(pk__in=[user.pk, other_user.pk]))

    assert seqs(user) == [1, 2]
    assert seqs(other_user) == [1, 2]


def test_a_user_named_twice_gets_one_notification(user):
    assert len(send([user, user])) == 1


def test_notify_with_no_recipients_stores_and_publishes_nothing(
    published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert send(User.objects.none()) == []

    assert not Notification.objects.exists()
    assert published == []


def test_seq_counts_1_2_3_per_user(user, other_user):
    for _ in range(3):
        send(user)
    send(other_user)

    assert seqs(user) == [1, 2, 3]
    assert seqs(other_user) == [1]
    assert StreamCounter.objects.get(user=user).last_seq == 3


def test_one_bulk_call_gives_each_user_their_own_next_seq(user, other_user, make_user):
    third = make_user("carol")
    send(user)
    send(user)
    send(third)

    stored = send([user, other_user, third])

    assert {n.recipient_id: n.seq for n in stored} == {user.pk: 3, other_user.pk: 1, third.pk: 2}


def test_thousands_of_recipients_are_stored_in_bulk(
    published, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    users = User.objects.bulk_create([User(username=f"user{i}") for i in range(1200)])

    # One query per row would be 1200; in bulk it is a few per batch of 500 recipients, plus
    # the smaller insert batches SQLite's parameter limit forces.
    with django_assert_max_num_queries(60), django_capture_on_commit_callbacks(execute=True):
        stored = send(User.objects.all())

    assert len(stored) == 1200
    assert set(Notification.objects.values_list("seq", flat=True)) == {1}
    assert {user_id for user_id, _ in published} == {user.pk for user in users}


def test_a_first_time_recipient_gets_a_counter_and_a_pruned_one_keeps_its_mark(user, other_user):
    StreamCounter.objects.create(user=user, last_seq=7, pruned_through=5)

    stored = send([user, other_user])

    assert {n.recipient_id: n.seq for n in stored} == {user.pk: 8, other_user.pk: 1}
    assert set(StreamCounter.objects.values_list("user_id", "last_seq", "pruned_through")) == {
        (user.pk, 8, 5),
        (other_user.pk, 1, 0),
    }


def test_a_bulk_call_across_batches_gives_each_user_their_next_seq_and_returns_the_rows(
    published, django_capture_on_commit_callbacks
):
    users = User.objects.bulk_create([User(username=f"user{i:04}") for i in range(1100)])
    send(users[::3])

    with django_capture_on_commit_callbacks(execute=True):
        stored = send(users, kind="order", title="Shipped", body="b", url="/o/", data={"n": 1})

    expected = {user.pk: 2 if i % 3 == 0 else 1 for i, user in enumerate(users)}
    assert {n.recipient_id: n.seq for n in stored} == expected
    rows = Notification.objects.filter(title="Shipped").in_bulk()
    assert {row.recipient_id: row.seq for row in rows.values()} == expected
    assert [notification_payload(n) for n in stored] == [
        notification_payload(rows[n.pk]) for n in stored
    ]
    assert [message["payload"] for _, message in published] == [
        notification_payload(n) for n in stored
    ]


def test_a_dedupe_key_across_batches_skips_only_those_who_have_it():
    users = User.objects.bulk_create([User(username=f"user{i:04}") for i in range(1100)])
    send(users[::3], dedupe_key="weekly-digest")
    send(users[1::3], title="something else")

    stored = send(users, dedupe_key="weekly-digest")

    assert {n.recipient_id: n.seq for n in stored} == {
        user.pk: 2 if i % 3 == 1 else 1 for i, user in enumerate(users) if i % 3
    }
    assert all(n.dedupe_key == "weekly-digest" for n in stored)
    assert Notification.objects.filter(dedupe_key="weekly-digest").count() == 1100


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"title": ""}, id="empty title"),
        pytest.param({"title": " \n\t "}, id="blank title"),
        pytest.param({"title": "x" * 201}, id="title too long"),
        pytest.param({"kind": ""}, id="empty kind"),
        pytest.param({"kind": "k" * 65}, id="kind too long"),
        pytest.param({"url": "/" * 501}, id="url too long"),
        pytest.param({"data": {"when": object()}}, id="data not JSON"),
        pytest.param({"data": ["not", "an", "object"]}, id="data not an object"),
        pytest.param({"dedupe_key": ""}, id="empty dedupe key"),
        pytest.param({"dedupe_key": "k" * 201}, id="dedupe key too long"),
    ],
)
def test_an_invalid_notification_stores_and_publishes_nothing(
    user, fields, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidNotification):
        send(user, **fields)

    assert not Notification.objects.exists()
    assert not StreamCounter.objects.exists(), "a rejected notification took a seq"
    assert published == []


# Each field one over its default limit; the data counted in bytes as the stream sends it,
# where "é" is the six bytes of "\u00e9".
OVER_THE_LIMITS = [
    pytest.param({"title": "x" * 201}, "The title is longer than 200 characters", id="title"),
    pytest.param({"body": "x" * 5001}, "The body is longer than 5000 characters", id="body"),
    pytest.param({"url": "/" + "x" * 500}, "The url is longer than 500 characters", id="url"),
    pytest.param(
        {"data": {"k": "x" * 8185}}, "The data is longer than 8192 bytes as JSON", id="data"
    ),
    pytest.param(
        {"data": {"k": "\u00e9" * 1400}}, "The data is longer than 8192 bytes", id="escaped data"
    ),
]


@pytest.mark.parametrize(("fields", "message"), OVER_THE_LIMITS)
def test_a_field_over_its_limit_is_refused_with_a_clear_error(user, fields, message):
    with pytest.raises(ContentTooLarge, match=message) as refused:
        send(user, **fields)

    assert refused.value.field == next(iter(fields))
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "\U0001f4e6" * 200},
        {"body": "\U0001f4e6" * 5000},
        {"url": "/" + "\u00e9" * 499},
        {"data": {"k": "x" * 8184}},
    ],
    ids=["title", "body", "url", "data"],
)
def test_a_field_at_its_limit_is_stored(user, fields):
    (stored,) = send(user, **fields)

    name, value = next(iter(fields.items()))
    assert getattr(Notification.objects.get(pk=stored.pk), name) == value


def test_the_limits_are_settings(user, settings):
    settings.NOTIFICATIONS = {
        **settings.NOTIFICATIONS,
        "MAX_TITLE_LENGTH": 10,
        "MAX_BODY_LENGTH": 20,
        "MAX_URL_LENGTH": 8,
        "MAX_DATA_BYTES": 12,
    }
    send(user, title="x" * 10, body="x" * 20, url="/" + "x" * 7, data={"k": "xxxx"})

    for fields in (
        {"title": "x" * 11},
        {"body": "x" * 21},
        {"url": "/" + "x" * 8},
        {"data": {"k": "xxxxx"}},
    ):
        with pytest.raises(ContentTooLarge):
            send(user, **fields)
    assert Notification.objects.count() == 1


def test_the_largest_notification_is_a_small_part_of_a_slow_clients_buffer(user):
    """Every field at its limit, in characters the stream escapes longest (12 bytes each)."""
    (largest,) = send(
        user,
        title="\U0001f4e6" * 200,
        body="\U0001f4e6" * 5000,
        url="/" + "\U0001f4e6" * 499,
        data={"k": "x" * 8184},
    )

    frame = frames.notification(largest)

    assert len(frame) < 80_000
    assert len(frame) * 10 < conf.SLOW_CLIENT_BUFFER_BYTES


@pytest.mark.parametrize("url", HOSTILE_LINKS)
def test_a_link_off_the_site_or_into_script_is_refused(user, url):
    with pytest.raises(UnsafeLink, match="a path on this site") as refused:
        send(user, url=url)

    assert refused.value.field == "url"
    assert not Notification.objects.exists()


@pytest.mark.parametrize("url", SAFE_LINKS)
def test_a_path_on_the_site_or_an_absolute_http_url_is_stored_as_given(user, url):
    (stored,) = send(user, url=url)

    assert Notification.objects.get(pk=stored.pk).url == url


def test_a_refusal_leaves_what_was_stored_as_it_was(
    user, other_user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send([user, other_user], title="Before", url="/orders/7/", data={"order": 7})
    before = list(Notification.objects.order_by("pk").values())
    counters = list(StreamCounter.objects.order_by("user_id").values())
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        for fields in ({"url": "//evil.example/x"}, {"body": "x" * 5001}):
            with pytest.raises(InvalidNotification):
                send([user, other_user], title="After", **fields)

    assert list(Notification.objects.order_by("pk").values()) == before
    assert list(StreamCounter.objects.order_by("user_id").values()) == counters
    assert published == []


def test_the_same_dedupe_key_stores_and_publishes_once_per_recipient(
    user, other_user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        [first] = send(user, dedupe_key="order-7-shipped")
    with django_capture_on_commit_callbacks(execute=True):
        assert send(user, dedupe_key="order-7-shipped") == []
    with django_capture_on_commit_callbacks(execute=True):
        [added] = send([user, other_user], dedupe_key="order-7-shipped")

    assert added.recipient == other_user
    assert Notification.objects.filter(recipient=user).get() == first
    assert [user_id for user_id, _ in published] == [user.pk, other_user.pk]
    assert seqs(user) == [1], "a deduplicated call used up a seq"


def test_different_dedupe_keys_both_store(user):
    send(user, dedupe_key="order-7-placed")
    send(user, dedupe_key="order-7-shipped")

    assert seqs(user) == [1, 2]


def test_a_rolled_back_notify_stores_publishes_and_numbers_nothing(
    user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Abort), transaction.atomic():
            send(user)
            raise Abort
        assert not Notification.objects.exists()
        send(user)

    assert seqs(user) == [1]
    assert [message["payload"]["seq"] for _, message in published] == [1]


# --- publishing through a real channel layer -----------------------------------------------


@pytest.fixture(params=["in-memory", "redis"])
def channel_layers(request: pytest.FixtureRequest, settings: Any) -> None:
    """Run the test on the in-memory layer and again on channels-redis."""
    if request.param == "redis":
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [request.getfixturevalue("redis_url")],
                    "prefix": f"test-{uuid.uuid4().hex[:8]}",
                },
            }
        }
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def any_message(message: dict[str, Any]) -> bool:
    return True


async def assert_nothing_more(listener: Listener) -> None:
    with pytest.raises(TimeoutError):
        await listener.until(any_message, timeout=0.3)


@pytest.mark.django_db(transaction=True)
async def test_a_committed_notify_reaches_the_layer_exactly_once(channel_layers, user):
    async with listening(user.pk) as listener:
        [stored] = await sync_to_async(send)(user)

        [message] = await listener.until(any_message)
        assert message["type"] == messages.NOTIFICATION
        assert message["payload"]["seq"] == 1
        assert message["payload"] == notification_payload(stored)
        await assert_nothing_more(listener)


@pytest.mark.django_db(transaction=True)
async def test_a_rolled_back_notify_reaches_nothing(channel_layers, user):
    def notify_then_fail() -> None:
        with transaction.atomic():
            send(user)
            raise Abort

    async with listening(user.pk) as listener:
        with pytest.raises(Abort):
            await sync_to_async(notify_then_fail)()

        await assert_nothing_more(listener)
    assert not await Notification.objects.aexists()


@pytest.mark.django_db(transaction=True)
async def test_notify_inside_a_transaction_publishes_when_it_commits(channel_layers, user):
    def notify_twice_in_one_transaction() -> None:
        with transaction.atomic():
            send(user, title="first")
            send(user, title="second")

    async with listening(user.pk) as listener:
        await sync_to_async(notify_twice_in_one_transaction)()

        received = await listener.until(lambda message: message["payload"]["seq"] == 2)
        assert [message["payload"]["seq"] for message in received] == [1, 2]
        await assert_nothing_more(listener)


def test_a_failed_publish_is_logged_and_the_row_kept(
    user, settings, caplog, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},  # Nothing listens.
        }
    }

    with caplog.at_level(logging.WARNING, logger="notifications.delivery.publish"):
        with django_capture_on_commit_callbacks(execute=True):
            [stored] = send(user)
        assert publish.flush()

    assert Notification.objects.filter(pk=stored.pk).exists()
    assert "Publishing 1 message(s) to the channel layer failed" in caplog.text


@racing
@pytest.mark.django_db(transaction=True)
def test_concurrent_notifies_number_a_user_1_to_n_without_gaps_or_duplicates(user):
    threads, calls = 8, 25
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def notify_many(worker: int) -> None:
        try:
            start.wait()
            for call in range(calls):
                send(user, title=f"{worker}/{call}")
        except BaseException as e:
            errors.append(e)
        finally:
            connection.close()

    workers = [threading.Thread(target=notify_many, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    assert seqs(user) == list(range(1, threads * calls + 1))
    assert StreamCounter.objects.get(user=user).last_seq == threads * calls
    # Each row took its seq and its id under the same lock, so both orders agree.
    ids = list(
        Notification.objects.filter(recipient=user).order_by("seq").values_list("pk", flat=True)
    )
    assert ids == sorted(ids)


@racing
@pytest.mark.django_db(transaction=True)
def test_concurrent_bulk_calls_across_batches_number_everyone_without_gaps_or_deadlock():
    users = User.objects.bulk_create([User(username=f"user{i:04}") for i in range(700)])
    threads, calls = 4, 3
    # Overlapping slices, each crossing the batch boundary at the 500th recipient.
    slices = [users[n * 50 : len(users) - n * 50] for n in range(threads)]
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def notify_many(recipients: list[Any]) -> None:
        try:
            start.wait()
            for _ in range(calls):
                send(recipients)
        except BaseException as e:
            errors.append(e)
        finally:
            connection.close()

    workers = [threading.Thread(target=notify_many, args=(part,)) for part in slices]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    for user in (users[0], users[120], users[499], users[500], users[-1]):
        received = calls * sum(user in part for part in slices)
        assert seqs(user) == list(range(1, received + 1))
        assert StreamCounter.objects.get(user=user).last_seq == received


def wait_until_a_statement_waits_for_a_lock(seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            assert time.monotonic() < deadline, "no statement waited for a lock"
            time.sleep(0.01)


@racing
@pytest.mark.django_db(transaction=True)
def test_a_call_that_waited_for_a_concurrent_one_with_the_same_dedupe_key_skips_its_users(
    user, other_user, make_user
):
    newcomer = make_user("carol")
    first_stored, commit_first = threading.Event(), threading.Event()
    second_stored: list[Notification] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                send([user, other_user], dedupe_key="order-7-shipped")
                first_stored.set()
                commit_first.wait(timeout=30)
        finally:
            connection.close()

    def second() -> None:
        try:
            second_stored.extend(send([user, other_user, newcomer], dedupe_key="order-7-shipped"))
        except BaseException as e:
            errors.append(e)
        finally:
            connection.close()

    first_thread, second_thread = threading.Thread(target=first), threading.Thread(target=second)
    first_thread.start()
    assert first_stored.wait(timeout=10)
    second_thread.start()
    try:
        wait_until_a_statement_waits_for_a_lock()
    finally:
        commit_first.set()
        first_thread.join(timeout=30)
        second_thread.join(timeout=30)

    assert errors == []
    assert [n.recipient_id for n in second_stored] == [newcomer.pk]
    assert (seqs(user), seqs(other_user), seqs(newcomer)) == ([1], [1], [1])


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="counts the statements of PostgreSQL's store"
)
def test_each_batch_is_one_statement_or_two_with_a_dedupe_key():
    users = User.objects.bulk_create([User(username=f"user{i:04}") for i in range(1100)])

    def statements(dedupe_key: str | None) -> int:
        with CaptureQueriesContext(connection) as captured:
            send(users, dedupe_key=dedupe_key)
        return sum("SAVEPOINT" not in query["sql"] for query in captured.captured_queries)

    assert statements(dedupe_key=None) == 3
    assert statements(dedupe_key="weekly-digest") == 6


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="counts the statements of PostgreSQL's store"
)
@pytest.mark.django_db(transaction=True)
def test_one_batch_outside_a_transaction_is_one_statement_then_published(user, published):
    with CaptureQueriesContext(connection) as captured:
        stored = send(user)
    # No BEGIN/COMMIT around it: the statement is its own transaction, committed when the
    # doorbell rings.
    assert len(captured.captured_queries) == 1
    assert not connection.in_atomic_block
    assert [(user_id, m["payload"]["seq"]) for user_id, m in published] == [
        (user.pk, stored[0].seq)
    ]


def test_revoking_streams_is_counted_in_the_database_and_published(
    user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        revoke_streams(user_id=user.pk)  # a user never notified: their counter is created
        revoke_streams(user_id=user.pk)

    counter = StreamCounter.objects.get(user=user)
    assert (counter.revocations, counter.revoked_at is not None) == (2, True)
    assert published == [(user.pk, {"type": messages.CLOSE_USER_STREAMS})] * 2
    send(user)  # the store leaves the count alone
    assert StreamCounter.objects.get(user=user).revocations == 2


# --- read state ----------------------------------------------------------------------------


def test_mark_read_marks_only_the_users_own_unread_ones_and_publishes(
    user, other_user, published, django_capture_on_commit_callbacks
):
    first, second, third = (send(user)[0] for _ in range(3))
    [foreign] = send(other_user)

    with django_capture_on_commit_callbacks(execute=True):
        changed = mark_ids_read(user, [first.pk, second.pk, foreign.pk])

    assert sorted(changed) == [first.pk, second.pk]
    assert set(Notification.objects.filter(read_at__isnull=False)) == {first, second}
    [(user_id, message)] = published
    assert user_id == user.pk
    assert message["type"] == messages.READ_STATE
    assert sorted(message["ids"]) == [first.pk, second.pk]
    assert message["unread_count"] == 1
    assert third.pk not in message["ids"]


def test_mark_read_of_read_ones_changes_and_publishes_nothing(
    user, published, django_capture_on_commit_callbacks
):
    [notification] = send(user)
    mark_ids_read(user, [notification.pk])
    read_at = Notification.objects.get().read_at

    with django_capture_on_commit_callbacks(execute=True):
        assert mark_ids_read(user, [notification.pk]) == []

    assert Notification.objects.get().read_at == read_at
    assert published == []


def test_mark_all_read_marks_every_unread_one_of_the_user(
    user, other_user, published, django_capture_on_commit_callbacks
):
    mine = [send(user)[0] for _ in range(2)]
    [foreign] = send(other_user)

    with django_capture_on_commit_callbacks(execute=True):
        changed = mark_all_read(user)

    assert sorted(changed) == sorted(n.pk for n in mine)
    assert not Notification.objects.filter(recipient=user, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=foreign.pk).read_at is None
    assert published == [read_message(user, changed, unread_count=0)]


def test_mark_all_read_with_nothing_unread_publishes_nothing(
    user, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert mark_all_read(user) == []

    assert published == []


def test_mark_unread_tells_each_owner_their_new_count(
    user, other_user, published, django_capture_on_commit_callbacks
):
    mine = [send(user)[0] for _ in range(2)]
    [theirs] = send(other_user)
    mark_all_read(user)
    mark_all_read(other_user)

    with django_capture_on_commit_callbacks(execute=True):
        changed = mark_unread(
            notifications=Notification.objects.filter(pk__in=[mine[0].pk, theirs.pk])
        )

    assert sum(len(change.ids) for change in changed.values()) == 2
    assert set(Notification.objects.filter(read_at__isnull=True)) == {mine[0], theirs}
    assert sorted(published, key=lambda sent: sent[0]) == [
        read_message(user, [], unread_count=1, unread_ids=[mine[0].pk]),
        read_message(other_user, [], unread_count=1, unread_ids=[theirs.pk]),
    ]


def test_mark_unread_of_unread_ones_publishes_nothing(
    user, published, django_capture_on_commit_callbacks
):
    send(user)

    with django_capture_on_commit_callbacks(execute=True):
        assert mark_unread(notifications=Notification.objects.all()) == {}

    assert published == []


# --- deleting ------------------------------------------------------------------------------


def test_deleting_an_unread_notification_publishes_the_new_count(
    user, published, django_capture_on_commit_callbacks
):
    doomed, kept = send(user)[0], send(user)[0]

    with django_capture_on_commit_callbacks(execute=True):
        delete_notification(user_id=user.pk, notification_id=doomed.pk)

    assert list(Notification.objects.all()) == [kept]
    assert published == [read_message(user, [], unread_count=1)]


def test_deleting_a_read_notification_publishes_nothing(
    user, published, django_capture_on_commit_callbacks
):
    [notification] = send(user)
    mark_all_read(user)

    with django_capture_on_commit_callbacks(execute=True):
        delete_notification(user_id=user.pk, notification_id=notification.pk)

    assert not Notification.objects.exists()
    assert published == []


def test_nobody_deletes_another_users_notification(user, other_user):
    [theirs] = send(other_user)

    with pytest.raises(NotificationNotFound):
        delete_notification(user_id=user.pk, notification_id=theirs.pk)

    assert Notification.objects.filter(pk=theirs.pk).exists()


# --- pruning -------------------------------------------------------------------------------


def age(notification: Notification, days: float) -> None:
    Notification.objects.filter(pk=notification.pk).update(
        created_at=timezone.now() - timedelta(days=days)
    )


def pruned_through(user: Any) -> int:
    return StreamCounter.objects.get(user=user).pruned_through


def test_prune_deletes_what_is_older_and_remembers_the_highest_pruned_seq(user, other_user):
    old_read, old_unread, recent = (send(user)[0] for _ in range(3))
    [theirs] = send(other_user)
    mark_ids_read(user, [old_read.pk])
    for notification in (old_read, old_unread, theirs):
        age(notification, days=31)

    assert prune(older_than=timedelta(days=30)) == 3

    assert list(Notification.objects.all()) == [recent]
    assert pruned_through(user) == 2
    assert pruned_through(other_user) == 1


def test_prune_tells_users_who_lost_unread_ones_their_new_count(
    user, other_user, published, django_capture_on_commit_callbacks
):
    [old_unread] = send(user)
    send(user)  # recent: still unread after the prune
    [old_read] = send(other_user)
    mark_ids_read(other_user, [old_read.pk])
    for notification in (old_unread, old_read):
        age(notification, days=31)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert prune(older_than=timedelta(days=30)) == 2

    # Only the user whose unread count changed hears of it; the other lost a read one.
    assert published == [
        (user.pk, {"type": messages.READ_STATE, "ids": [], "unread_count": 1}),
    ]


def test_prune_read_only_keeps_unread_notifications_however_old(user):
    old_unread, old_read = send(user)[0], send(user)[0]
    mark_ids_read(user, [old_read.pk])
    age(old_unread, days=400)
    age(old_read, days=400)

    assert prune(older_than=timedelta(days=30), read_only=True) == 1

    assert list(Notification.objects.all()) == [old_unread]
    assert pruned_through(user) == 2


def test_prune_read_only_keeps_snoozed_notifications_which_come_back_unread(user):
    snoozed = send(user)[0]
    snooze(
        notifications=Notification.objects.filter(pk=snoozed.pk),
        until=timezone.now() + timedelta(days=1),
    )
    age(snoozed, days=400)

    assert prune(older_than=timedelta(days=30), read_only=True) == 0
    assert list(Notification.objects.all()) == [snoozed]


def test_the_pruned_watermark_never_goes_back(user):
    old_unread, old_read = send(user)[0], send(user)[0]
    mark_ids_read(user, [old_read.pk])
    age(old_unread, days=10)
    age(old_read, days=10)
    prune(older_than=timedelta(days=1), read_only=True)

    assert prune(older_than=timedelta(days=1)) == 1

    assert pruned_through(user) == 2


def test_prune_with_nothing_old_enough_leaves_everything(user):
    send(user)

    assert prune(older_than=timedelta(days=1)) == 0

    assert Notification.objects.count() == 1
    assert pruned_through(user) == 0
