"""The two ways a batch is stored: each recipient's next ``seq``, the content on every row,
and a dedupe key skipping those who have it; the same rows whichever way runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from notifications import store
from notifications.models import Notification

pytestmark = pytest.mark.django_db

Writer = Callable[[Sequence[int], store.Content], list[Notification]]


@pytest.fixture(params=["with_orm", "with_postgresql"])
def write(request: pytest.FixtureRequest) -> Writer:
    if request.param == "with_postgresql" and connection.vendor != "postgresql":
        pytest.skip("one statement in PostgreSQL's SQL")
    writer: Writer = getattr(store, request.param)
    return writer


def content(title: str, dedupe_key: str | None = None) -> store.Content:
    return store.Content(
        kind="info",
        title=title,
        body="",
        url="/x/",
        data={"n": 1},
        created_at=timezone.now(),
        dedupe_key=dedupe_key,
    )


def stored(write: Writer, user_ids: Sequence[int], item: store.Content) -> list[Notification]:
    with transaction.atomic():
        return write(user_ids, item)


def test_each_recipient_gets_their_own_next_seq(write: Writer, user: Any, other_user: Any) -> None:
    stored(write, [user.pk], content("first"))
    rows = stored(write, [other_user.pk, user.pk], content("second"))
    assert sorted((n.recipient_id, n.seq) for n in rows) == [(user.pk, 2), (other_user.pk, 1)]
    saved = Notification.objects.get(recipient=user, seq=2)
    assert (saved.title, saved.url, saved.data, saved.read_at) == ("second", "/x/", {"n": 1}, None)


def test_a_dedupe_key_skips_the_recipients_who_have_it(
    write: Writer, user: Any, other_user: Any
) -> None:
    stored(write, [user.pk], content("once", dedupe_key="order-1"))
    rows = stored(write, [user.pk, other_user.pk], content("once", dedupe_key="order-1"))
    assert [n.recipient_id for n in rows] == [other_user.pk]
    assert Notification.objects.filter(recipient=user).count() == 1
    assert stored(write, [user.pk, other_user.pk], content("x", dedupe_key="order-1")) == []
