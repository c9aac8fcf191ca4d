"""Every write to orders: placing one and moving it through its life.

The owner's notifications are not sent here: the receivers send them for any save, so an
order changed from the admin, a shell or a script notifies exactly as one changed here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import Max

from project.orders.models import Order

if TYPE_CHECKING:
    from django.contrib.auth.models import User

__all__ = [
    "InvalidTransition",
    "change_status",
    "check_transition",
    "next_statuses",
    "place_order",
]

Status = Order.Status

# The lifecycle. Delivered and cancelled are final; in particular a cancelled order never ships.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PLACED: frozenset({Status.PAID, Status.CANCELLED}),
    Status.PAID: frozenset({Status.SHIPPED, Status.CANCELLED}),
    Status.SHIPPED: frozenset({Status.DELIVERED}),
    Status.DELIVERED: frozenset(),
    Status.CANCELLED: frozenset(),
}

# Concurrent placements may pick the same next number; the loser retries with a fresh one.
_NUMBER_ATTEMPTS = 5


class InvalidTransition(ValueError):
    """An order cannot move to the requested status; nothing was changed."""

    def __init__(self, *, number: int | None, current: str, new: str) -> None:
        self.number, self.current, self.new = number, current, new
        order = "The order" if number is None else f"Order #{number}"
        allowed = next_statuses(current)
        if new not in TRANSITIONS:
            reason = f"{new!r} is not an order status"
        elif new == current:
            reason = f"{order} is already {current}"
        elif not allowed:
            reason = f"{order} is {current}, which is final: it cannot become {new}"
        else:
            reason = (
                f"{order} is {current} and cannot become {new}; "
                f"it can only become {' or '.join(allowed)}"
            )
        super().__init__(f"{reason}.")


def next_statuses(status: str) -> list[str]:
    """Return the statuses an order in ``status`` may move to, in lifecycle order."""
    return [s for s in Status.values if s in TRANSITIONS.get(status, ())]


def check_transition(*, current: str, new: str, number: int | None = None) -> None:
    """Raise ``InvalidTransition`` unless the lifecycle allows ``current`` -> ``new``.

    The admin form validates with this before saving, so staff see the same rule as a
    form error that the service enforces.
    """
    if new not in TRANSITIONS.get(current, ()):
        raise InvalidTransition(number=number, current=current, new=new)


def place_order(*, user: User, total: Decimal, number: int | None = None) -> Order:
    """Store a new order of ``user``; its owner is told once the transaction commits.

    Without ``number`` the order takes the next one. Invalid input raises Django's
    ``ValidationError`` (a negative total, a taken number...) and stores nothing.
    """
    order = Order(user=user, total=total)
    if number is not None:
        order.number = number
    order.full_clean(exclude=None if number is not None else ["number"])
    # One transaction for the order and its notification: neither is stored without the other.
    with transaction.atomic():
        if number is not None:
            order.save(force_insert=True)
            return order
        attempts_left = _NUMBER_ATTEMPTS
        while True:
            order.number = _next_number()
            try:
                with transaction.atomic():
                    order.save(force_insert=True)
            except IntegrityError:
                attempts_left -= 1
                if not attempts_left or not Order.objects.filter(number=order.number).exists():
                    raise
            else:
                return order


def _next_number() -> int:
    return (Order.objects.aggregate(highest=Max("number"))["highest"] or 0) + 1


def change_status(*, order: Order, status: str) -> Order:
    """Move ``order`` to ``status`` if its lifecycle allows; its owner is told on commit.

    The current status is read under a row lock, so of two concurrent changes the second
    is judged against the first. A refused change raises ``InvalidTransition`` and stores
    nothing.
    """
    with transaction.atomic():
        current = (
            Order.objects.select_for_update().values_list("status", flat=True).get(pk=order.pk)
        )
        check_transition(current=current, new=status, number=order.number)
        order.status = status
        order.save(update_fields=["status", "updated_at"])
    return order
