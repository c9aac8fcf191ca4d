"""Store one batch of notifications, each with its recipient's next ``seq``: two ways.

Both take each recipient's counter row lock in user order and hold it until commit. Holding
it is what makes a user's ``seq`` order their commit order, without holes; taking the locks
in one order is what keeps concurrent bulk calls from deadlocking.

``with_orm`` works on every database. ``with_postgresql`` writes the same rows with one
set-based statement (two with a dedupe key): for thousands of recipients, the ORM's work
per row in Python (building each instance, preparing each field for ``bulk_create``) costs
far more than the database's own.

``update_returning`` is the other write the ORM cannot say: an ``UPDATE`` that tells which
rows it changed, how claims (emails, snoozes that come due) are taken exactly once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, QuerySet

from notifications.models import Notification, StreamCounter


@dataclass(frozen=True)
class Content:
    """What every row stored by one ``notify()`` call shares (the model's field names)."""

    kind: str
    title: str
    body: str
    url: str
    data: dict[str, Any]
    created_at: datetime
    dedupe_key: str | None
    # A templated notification's parameters (``notifications.i18n.rendering``).
    params: dict[str, Any] | None = None


def with_orm(user_ids: Sequence[int], content: Content) -> list[Notification]:
    """Store the batch with the ORM: a handful of statements, one instance per row."""
    StreamCounter.objects.bulk_create(
        [StreamCounter(user_id=user_id) for user_id in user_ids], ignore_conflicts=True
    )
    # The locks, in user order, held until commit.
    last_seq = dict(
        StreamCounter.objects.select_for_update()
        .filter(user_id__in=user_ids)
        .order_by("user_id")
        .values_list("user_id", "last_seq")
    )
    if content.dedupe_key is not None:
        # Checked under the lock: a concurrent call with the same key waits and sees our row.
        already = set(
            Notification.objects.filter(
                recipient_id__in=user_ids, dedupe_key=content.dedupe_key
            ).values_list("recipient_id", flat=True)
        )
        user_ids = [user_id for user_id in user_ids if user_id not in already]
        if not user_ids:
            return []
    StreamCounter.objects.filter(user_id__in=user_ids).update(last_seq=F("last_seq") + 1)
    return Notification.objects.bulk_create(
        [
            Notification(recipient_id=user_id, seq=last_seq[user_id] + 1, **vars(content))
            for user_id in user_ids
        ]
    )


def with_postgresql(user_ids: Sequence[int], content: Content) -> list[Notification]:
    """Store the batch with one statement that numbers and inserts every row.

    The statement upserts the counters in user order, which takes each lock in that order,
    and inserts one notification per counter it returns. PostgreSQL's executor handles the
    rows of an ``INSERT ... SELECT ... ORDER BY`` one by one in the sorted order; its manual
    does not promise that, but were it to change, concurrent calls could deadlock (one would
    fail and roll back), never number rows out of commit order.

    With ``dedupe_key``, a first statement only takes the locks. The check must run in a
    later statement: under READ COMMITTED each statement sees the rows committed before it
    started, so a check inside the locking statement would miss the row of a concurrent call
    it had waited for, and the insert would fail on the unique constraint.
    """
    shared = {**vars(content), "read_at": None}
    params = {
        **shared,
        "users": list(user_ids),
        "data": json.dumps(content.data),
        "params": None if content.params is None else json.dumps(content.params),
    }
    sql = _sql()
    with connection.cursor() as cursor:
        if content.dedupe_key is None:
            cursor.execute(sql["insert"], params)
        else:
            cursor.execute(sql["lock"], params)
            cursor.execute(sql["insert_unless_deduped"], params)
        rows = cursor.fetchall()
    # The rows as if loaded, from the columns the insert returned and the values all share.
    names = [field.attname for field in Notification._meta.concrete_fields]
    values = [shared.get(name) for name in names]
    returned = [names.index(name) for name in ("id", "recipient_id", "seq")]
    alias = connection.alias
    stored = []
    for row in rows:
        for index, value in zip(returned, row, strict=True):
            values[index] = value
        # Positional: Django's cheapest way to build an instance.
        stored.append(Notification.from_db(alias, names, values))
    return stored


_INSERT = """
WITH taken AS (
    INSERT INTO {counter} AS counter ({user}, {last_seq}, {pruned_through})
    SELECT recipient.id, 1, 0 FROM unnest(%(users)s::bigint[]) AS recipient(id)
    {where}
    ORDER BY recipient.id
    ON CONFLICT ({user}) DO UPDATE SET {last_seq} = counter.{last_seq} + 1
    RETURNING counter.{user} AS recipient_id, counter.{last_seq} AS seq
)
INSERT INTO {notification} (
    {recipient}, {seq}, {kind}, {title}, {body}, {url}, {data}, {params}, {created_at},
    {read_at}, {dedupe_key}
)
SELECT
    recipient_id, seq, %(kind)s, %(title)s, %(body)s, %(url)s, %(data)s::jsonb,
    %(params)s::jsonb, %(created_at)s, NULL, %(dedupe_key)s
FROM taken
RETURNING {id}, {recipient}, {seq}
"""

_UNLESS_DEDUPED = """
    WHERE NOT EXISTS (
        SELECT FROM {notification}
        WHERE {recipient} = recipient.id AND {dedupe_key} = %(dedupe_key)s
    )
"""

# Creates missing counters and locks the others without writing them: a DO UPDATE whose
# WHERE is false still locks the conflicting row.
_LOCK = """
INSERT INTO {counter} ({user}, {last_seq}, {pruned_through})
SELECT recipient.id, 0, 0 FROM unnest(%(users)s::bigint[]) AS recipient(id)
ORDER BY recipient.id
ON CONFLICT ({user}) DO UPDATE SET {last_seq} = EXCLUDED.{last_seq} WHERE false
"""


@functools.cache
def _sql() -> dict[str, str]:
    """Return the statements with the models' quoted table and column names filled in."""
    quote = connection.ops.quote_name
    names = {
        "counter": quote(StreamCounter._meta.db_table),
        "notification": quote(Notification._meta.db_table),
    }
    for model in (StreamCounter, Notification):
        names.update({field.name: quote(field.column) for field in model._meta.concrete_fields})
    return {
        "insert": _INSERT.format(where="", **names),
        "insert_unless_deduped": _INSERT.format(where=_UNLESS_DEDUPED.format(**names), **names),
        "lock": _LOCK.format(**names),
    }


def update_returning(rows: QuerySet[Notification], **values: Any) -> list[int]:
    """Set ``values`` on ``rows`` in one statement and return the ids it changed, which the
    ORM's ``update()`` does not tell (RETURNING: PostgreSQL, SQLite 3.35 and later)."""
    where, params = rows.query.get_compiler(connection=connection).compile(rows.query.where)
    return update(where, params, values)


def update(
    where: str, where_params: Sequence[Any], values: dict[str, Any], *, unflushed: bool = False
) -> list[int]:
    """Set ``values`` on the notifications matching ``where`` (SQL) in one statement; return
    their ids. ``unflushed`` lets PostgreSQL commit without waiting for the disk
    (``synchronous_commit`` off for this statement's own transaction): every session sees
    the change at once, and only a crash of the database itself may forget it."""
    meta = Notification._meta
    quote = connection.ops.quote_name
    fields = {f.name: f for f in meta.concrete_fields if f.name in values}
    assignments = ", ".join(f"{quote(fields[name].column)} = %s" for name in values)
    params = [fields[name].get_db_prep_save(value, connection) for name, value in values.items()]
    settings_cte = settings_join = ""
    if unflushed and connection.vendor == "postgresql":
        settings_cte = (
            "WITH unflushed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) "
        )
        settings_join = " FROM unflushed"
    with connection.cursor() as cursor:
        cursor.execute(
            f"{settings_cte}UPDATE {quote(meta.db_table)} SET {assignments}{settings_join} "
            f"WHERE {where} RETURNING {quote(meta.pk.column)}",
            [*params, *where_params],
        )
        return [row[0] for row in cursor.fetchall()]
