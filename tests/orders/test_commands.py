from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from notifications.models import Notification
from project.orders.models import Order

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_demo_orders", *args, stdout=out)
    return out.getvalue()


def test_demo_orders_are_placed_once_per_user(user: Any, other_user: Any) -> None:
    assert run("alice", "bob") == "Placed 4 demo order(s).\n"
    assert run("alice", "bob") == "Placed 0 demo order(s).\n"

    statuses = sorted(Order.objects.filter(user=user).values_list("status", flat=True))
    assert statuses == ["paid", "placed"]
    assert Notification.objects.filter(recipient=user, kind__startswith="order.").count() == 3


def test_an_unknown_user_is_an_error_and_places_nothing(user: Any) -> None:
    with pytest.raises(CommandError, match="No such user: nobody."):
        run("alice", "nobody")
    assert not Order.objects.exists()
