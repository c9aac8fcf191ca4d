"""``manage.py prune_notifications``: delete old notifications, e.g. from a daily cron job."""

from __future__ import annotations

from argparse import ArgumentTypeError
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from notifications import services


def days(value: str) -> float:
    """Parse ``--older-than``: a non-negative number of days, fractions allowed."""
    try:
        number = float(value)
    except ValueError:
        raise ArgumentTypeError(f"expected a number of days, not {value!r}") from None
    if not number >= 0:  # Also refuses NaN.
        raise ArgumentTypeError(f"expected a non-negative number of days, not {value!r}")
    try:
        timezone.now() - timedelta(days=number)
    except OverflowError:
        raise ArgumentTypeError(f"{value} days ago is before the first calendar year") from None
    return number


class Command(BaseCommand):
    help = (
        "Delete notifications older than a number of days. Streams that resume from before "
        "the deleted ones are told they missed some, so clients refetch their inbox."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=days,
            required=True,
            metavar="DAYS",
            help="Age in days, fractions allowed; 0 deletes everything up to now.",
        )
        parser.add_argument(
            "--read-only", action="store_true", help="Keep unread notifications, however old."
        )

    def handle(self, *args: Any, older_than: float, read_only: bool, **options: Any) -> None:
        deleted = services.prune(older_than=timedelta(days=older_than), read_only=read_only)
        which = "read notification" if read_only else "notification"
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {deleted} {which}{'' if deleted == 1 else 's'} "
                f"older than {older_than:g} days."
            )
        )
