"""The read of an open in one round trip: the user, their counter, unread count, revocations
and language.

One statement, written once in SQL: the user's row (is the account active, has the
password changed since the token was issued) joined to their counter, their unread
count and their chosen language. On PostgreSQL it runs on the event loop
(:mod:`notifications.stream.pg`), batched with the other opens of the same turn of the
loop; elsewhere (SQLite) through the ORM's connection on the stream threads. Rows to
replay, when a client resumes behind, are read after it.

The token was verified already, without the database (``auth.stream_token``); what it takes
a row to check is checked here, by simplejwt's own rules (``auth.check_token_user``).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache, partial
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from rest_framework_simplejwt.tokens import Token

from notifications import selectors
from notifications.i18n import languages
from notifications.models import Notification, StreamCounter, UserLanguage
from notifications.selectors import StartRow, StreamStart
from notifications.stream import auth, pg
from notifications.stream.coalesce import Coalescer
from notifications.stream.threads import on_thread


async def read_start(
    user_id: int,
    *,
    token: Token | None,
    last_event_id: int | None,
    limit: int,
    language: str | None = None,
) -> StreamStart:
    """Read where a stream of ``user_id`` starts, checking the user ``token`` names, and the
    language it renders in: the user's choice, else ``language`` (the request's), else the
    site's default.

    Raises ``auth.NotAuthenticated`` when the user is gone, inactive or changed their
    password since ``token`` was issued (a session's user was checked by Django already).
    """
    alias = router.db_for_read(StreamCounter)
    if pg.available(alias):
        row = await _batched(alias)(user_id)
    else:
        row = await on_thread(_fetchone, alias, user_id)
    if row is None:
        raise auth.NotAuthenticated(str(auth.NOT_FOUND))
    is_active, password, *counter, chosen = row
    if token is not None:
        auth.check_token_user(token, is_active=bool(is_active), password=password)
    elif not is_active:
        raise auth.NotAuthenticated(str(auth.INACTIVE))
    start = StartRow(*(int(value) for value in counter))
    if start.needs_replay(last_event_id):
        started = await on_thread(
            selectors.start_from, user_id, start, last_event_id=last_event_id, limit=limit
        )
    else:
        started = selectors.start_from(user_id, start, last_event_id=last_event_id, limit=limit)
    return replace(started, language=_language(chosen, requested=language))


def _language(chosen: str | None, *, requested: str | None) -> str:
    """Return the user's choice if the site still offers it, else the one the request asked
    for, else the site's default."""
    if requested is None or chosen in languages.supported():
        return languages.negotiated(None, chosen)
    return requested


def _fetchone(alias: str, user_id: int) -> tuple[Any, ...] | None:
    with connections[alias].cursor() as cursor:
        cursor.execute(_sql(alias), [user_id])
        row: tuple[Any, ...] | None = cursor.fetchone()
        return None if row is None else row[1:]


Row = tuple[Any, ...] | None
# Opens at most read together, in one statement.
BATCH_LIMIT = 200


@cache
def _batched(alias: str) -> Coalescer[int, Row]:
    """The reads of the opens of one turn of the loop, as one statement (PostgreSQL)."""

    async def run(user_ids: list[int]) -> list[Row]:
        rows = await pg.fetchall(alias, _sql(alias, many=True), [user_ids])
        found = {row[0]: row[1:] for row in rows}
        return [found.get(user_id) for user_id in user_ids]

    return Coalescer(run, limit=BATCH_LIMIT)


@cache
def _sql(alias: str, *, many: bool = False) -> str:
    """The statement, for one user or (``many``, PostgreSQL) an array of them: a user
    without a counter has had no notification yet (zeros), one without a language row
    chose none (NULL)."""
    quote = connections[alias].ops.quote_name
    user_model = get_user_model()
    column = partial(selectors.quoted_column, alias)

    fields = {f.name for f in user_model._meta.concrete_fields}
    is_active = f"u.{column(user_model, 'is_active')}" if "is_active" in fields else "1"
    assert user_model._meta.pk is not None
    pk = f"u.{quote(user_model._meta.pk.column)}"
    counter = "c"
    language = "l"

    def counted(name: str) -> str:
        return f"COALESCE({counter}.{column(StreamCounter, name)}, 0)"

    return (
        f"SELECT {pk}, {is_active}, u.{column(user_model, 'password')},"
        f" {counted('last_seq')}, {counted('pruned_through')}, {counted('revocations')},"
        f" (SELECT COUNT(*) FROM {quote(Notification._meta.db_table)} n"
        f"  WHERE n.{column(Notification, 'recipient')} = {pk}"
        f"  AND n.{column(Notification, 'read_at')} IS NULL),"
        f" {language}.{column(UserLanguage, 'language')}"
        f" FROM {quote(user_model._meta.db_table)} u"
        f" LEFT JOIN {quote(StreamCounter._meta.db_table)} {counter}"
        f" ON {counter}.{column(StreamCounter, 'user')} = {pk}"
        f" LEFT JOIN {quote(UserLanguage._meta.db_table)} {language}"
        f" ON {language}.{column(UserLanguage, 'user')} = {pk}"
        f" WHERE {pk} {'= ANY(%s)' if many else '= %s'}"
    )
