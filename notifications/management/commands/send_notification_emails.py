"""``manage.py send_notification_emails``: email users what they left unread (from cron)."""

from __future__ import annotations

import math
import signal
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import InterfaceError, OperationalError, close_old_connections

from notifications import emails
from notifications.conf import conf


def _minutes(value: str) -> float:
    number = float(value)
    if not 0 <= number < math.inf:
        raise ValueError(value)
    return number


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 < number < math.inf:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Send each user with an email address one email listing their unread notifications "
        "at least --min-age minutes old, of kinds whose email choice is on. Each notification "
        "is emailed at most once, so running it again (from cron) sends nothing new; what a "
        "run that died left unsent goes out once its claims expire (EMAIL_CLAIM_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--min-age",
            type=_minutes,
            metavar="MINUTES",
            help="Only notifications at least this old, in minutes "
            '(default: NOTIFICATIONS["EMAIL_AFTER_MINUTES"], 15).',
        )
        parser.add_argument(
            "--loop",
            type=_seconds,
            metavar="SECONDS",
            help="Keep running: send, then wait this many seconds, until stopped.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        minutes = options["min_age"]
        min_age = timedelta(minutes=conf.EMAIL_AFTER_MINUTES if minutes is None else minutes)
        if options["loop"] is None:
            self._run(min_age)
            return
        # SIGTERM while waiting stops at once; while sending, after this run, so no claimed
        # notification is left unsent.
        state = {"busy": False, "stop": False}

        def stop(signum: int, frame: FrameType | None) -> None:
            state["stop"] = True
            if not state["busy"]:
                raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        try:
            while not state["stop"]:
                close_old_connections()
                state["busy"] = True
                try:
                    self._run(min_age)
                except CommandError as e:
                    self.stderr.write(str(e))
                finally:
                    state["busy"] = False
                if not state["stop"]:
                    time.sleep(options["loop"])
        except (KeyboardInterrupt, SystemExit):
            pass
        self.stdout.write("Stopped.")

    def _run(self, min_age: timedelta) -> None:
        try:
            sent = emails.send_unread(min_age=min_age)
        except emails.EmailRunFailed as e:
            self.stdout.write(_sent(e.sent))
            raise CommandError(str(e)) from e
        except (OperationalError, InterfaceError) as e:
            # The database went away (a restart, a failover): a claim that could not be
            # released expires (EMAIL_CLAIM_SECONDS), an email sent and not yet marked is the
            # one a crash may repeat. A worker's next turn reconnects.
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CommandError(
                f"The database is unreachable ({reason}): what was not sent is retried on the "
                "next run."
            ) from e
        self.stdout.write(_sent(sent))


def _sent(count: int) -> str:
    return f"Sent {count} email{'' if count == 1 else 's'}."
