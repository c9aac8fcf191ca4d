"""``manage.py create_demo_orders USERNAME...``: orders for the demo to move along in the admin."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from project.orders.services import change_status, place_order

# (total, statuses after placed): one order still to pay, one to ship.
DEMO_ORDERS: tuple[tuple[Decimal, list[str]], ...] = (
    (Decimal("42.00"), []),
    (Decimal("17.90"), ["paid"]),
)


class Command(BaseCommand):
    help = (
        "Place demo orders for the given users, once: a user who already has orders is left "
        "alone. Staff then move them along in the admin and the owner is notified live."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="+", metavar="USERNAME")

    def handle(self, *args: Any, usernames: list[str], **options: Any) -> None:
        user_model = get_user_model()
        found = user_model._default_manager.filter(
            **{f"{user_model.USERNAME_FIELD}__in": usernames}
        )
        users = {user.get_username(): user for user in found}
        missing = [name for name in usernames if name not in users]
        if missing:
            raise CommandError(f"No such user: {', '.join(missing)}.")
        placed = 0
        with transaction.atomic():
            for name in usernames:
                if users[name].orders.exists():
                    continue
                for total, statuses in DEMO_ORDERS:
                    order = place_order(user=users[name], total=total)
                    for status in statuses:
                        change_status(order=order, status=status)
                    placed += 1
        self.stdout.write(f"Placed {placed} demo order(s).")
