"""The order lifecycle: placing, every transition, and what each one tells the customer."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from notifications.models import Notification
from project.orders import services
from project.orders.models import Order
from project.orders.services import (
    TRANSITIONS,
    InvalidTransition,
    change_status,
    check_transition,
    place_order,
)

pytestmark = pytest.mark.django_db

# Every path through the lifecycle, from placed to a final status.
LIFECYCLES = [
    ["placed", "paid", "shipped", "delivered"],
    ["placed", "paid", "cancelled"],
    ["placed", "cancelled"],
]
ALLOWED = {(a, b) for path in LIFECYCLES for a, b in pairwise(path)}
REFUSED = sorted((a, b) for a in TRANSITIONS for b in TRANSITIONS if (a, b) not in ALLOWED)


def order_in(status: str, user: Any) -> Order:
    """Place an order and walk it to ``status`` through the allowed transitions."""
    order = place_order(user=user, total=Decimal("30.00"))
    path = next(path for path in LIFECYCLES if status in path)
    for step in path[1 : path.index(status) + 1]:
        change_status(order=order, status=step)
    return order


def test_the_lifecycle_table_is_the_documented_one() -> None:
    assert {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts} == ALLOWED


def test_place_order_numbers_orders_in_sequence(user: Any, other_user: Any) -> None:
    first = place_order(user=user, total=Decimal("1.00"))
    second = place_order(user=other_user, total=Decimal("2.00"))
    assert (first.number, second.number) == (1, 2)
    assert first.status == "placed"
    assert place_order(user=user, total=Decimal("3"), number=100).number == 100
    assert place_order(user=user, total=Decimal("4")).number == 101


def test_place_order_refuses_a_taken_number_and_stores_nothing(user: Any) -> None:
    place_order(user=user, total=Decimal("1.00"), number=7)
    with pytest.raises(ValidationError) as raised:
        place_order(user=user, total=Decimal("2.00"), number=7)
    assert "number" in raised.value.message_dict
    assert Order.objects.count() == 1
    assert Notification.objects.count() == 1


@pytest.mark.parametrize("total", [Decimal("-0.01"), Decimal("1.001"), Decimal("1e10")])
def test_place_order_refuses_a_bad_total_and_notifies_nobody(user: Any, total: Decimal) -> None:
    with pytest.raises(ValidationError) as raised:
        place_order(user=user, total=total)
    assert "total" in raised.value.message_dict
    assert not Order.objects.exists()
    assert not Notification.objects.exists()


def test_place_order_retries_a_number_taken_concurrently(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    place_order(user=user, total=Decimal("1.00"))
    # Another process took number 1 between our read of the highest number and our insert.
    answers = iter([1, 2])
    monkeypatch.setattr(services, "_next_number", lambda: next(answers))
    assert place_order(user=user, total=Decimal("2.00")).number == 2
    assert list(Order.objects.values_list("number", flat=True).order_by("number")) == [1, 2]


def test_place_order_gives_up_when_numbers_keep_being_taken(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    place_order(user=user, total=Decimal("1.00"))
    monkeypatch.setattr(services, "_next_number", lambda: 1)
    with pytest.raises(IntegrityError):
        place_order(user=user, total=Decimal("2.00"))
    assert Order.objects.count() == 1


@pytest.mark.parametrize("path", LIFECYCLES, ids="-".join)
def test_every_allowed_transition_notifies_the_owner_once(
    user: Any, other_user: Any, path: list[str]
) -> None:
    order = place_order(user=user, total=Decimal("12.50"))
    for status in path[1:]:
        assert change_status(order=order, status=status).status == status
    order.refresh_from_db()
    assert order.status == path[-1]

    rows = list(Notification.objects.order_by("seq"))
    assert [(n.recipient, n.seq) for n in rows] == [(user, i) for i in range(1, len(path) + 1)]
    assert [n.title for n in rows] == [f"Order #{order.number} {status}" for status in path]
    assert [n.kind for n in rows] == [f"order.{status}" for status in path]
    assert [n.data for n in rows] == [{"order": order.number, "status": s} for s in path]
    assert not Notification.objects.filter(recipient=other_user).exists()


@pytest.mark.parametrize(("current", "new"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_a_refused_transition_raises_and_changes_nothing(user: Any, current: str, new: str) -> None:
    order = order_in(current, user)
    before = list(Notification.objects.values_list("pk", flat=True))
    updated_at = Order.objects.get(pk=order.pk).updated_at

    with pytest.raises(InvalidTransition) as raised:
        change_status(order=order, status=new)

    assert (raised.value.current, raised.value.new) == (current, new)
    assert f"Order #{order.number}" in str(raised.value)
    stored = Order.objects.get(pk=order.pk)
    assert (stored.status, stored.updated_at) == (current, updated_at)
    assert order.status == current
    assert list(Notification.objects.values_list("pk", flat=True)) == before


def test_a_cancelled_order_cannot_ship_and_says_why(user: Any) -> None:
    order = order_in("cancelled", user)
    with pytest.raises(InvalidTransition, match="is cancelled, which is final: it cannot become"):
        change_status(order=order, status="shipped")


@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("placed", "shipped", "Order #3 is placed and cannot become shipped; "
         "it can only become paid or cancelled."),
        ("paid", "paid", "Order #3 is already paid."),
        ("delivered", "cancelled", "Order #3 is delivered, which is final: it cannot become "
         "cancelled."),
        ("placed", "lost", "'lost' is not an order status."),
    ],
)  # fmt: skip
def test_refusals_explain_themselves(current: str, new: str, message: str) -> None:
    with pytest.raises(InvalidTransition) as raised:
        check_transition(current=current, new=new, number=3)
    assert str(raised.value) == message


def test_a_change_is_judged_against_the_stored_status_not_a_stale_copy(user: Any) -> None:
    order = place_order(user=user, total=Decimal("5.00"))
    stale = Order.objects.get(pk=order.pk)
    change_status(order=order, status="paid")

    with pytest.raises(InvalidTransition, match="already paid"):
        change_status(order=stale, status="paid")
    change_status(order=stale, status="shipped")

    assert Order.objects.get(pk=order.pk).status == "shipped"
    assert Notification.objects.filter(recipient=user).count() == 3


@pytest.mark.parametrize("number", [None, 5])
def test_an_order_is_never_stored_without_its_notification(
    user: Any, monkeypatch: pytest.MonkeyPatch, number: int | None
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("notification store unavailable")

    monkeypatch.setattr("project.orders.receivers.notify", broken)
    with pytest.raises(RuntimeError):
        place_order(user=user, total=Decimal("1.00"), number=number)
    assert not Order.objects.exists()
