"""The fault suite's other processes: ``python -m tests.e2e.chaos.worker COMMAND``.

``users`` creates the readers' accounts and prints their ids and access tokens as JSON.
``publish`` runs one publisher until told to stop: transactions calling ``notify()``, some
rolled back on purpose, each outcome written to a JSON-lines file as soon as it is known.
``finish`` sends each user one last notification, which tells the readers that everything
before it is in.

A publisher must know exactly what committed while PostgreSQL restarts under it. A failure
before COMMIT was sent rolls the transaction back; a failure during COMMIT leaves its outcome
unknown. Either way the publisher looks for the transaction's unique marker in the database
(once the database answers again) and only then retries or records it as committed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class RolledBack(Exception):
    """Raised inside a transaction that the plan says must not commit."""


@dataclass(frozen=True)
class Plan:
    """One transaction: ``notify()`` calls (marker, recipient ids), and whether to roll back."""

    number: int
    calls: list[tuple[str, list[int]]]
    rollback: bool


def plan(rng: random.Random, *, name: str, number: int, user_ids: list[int]) -> Plan:
    calls = []
    for call in range(rng.choice([1, 1, 1, 2, 3])):
        recipients = sorted(rng.sample(user_ids, rng.choice([1, 1, 2, min(3, len(user_ids))])))
        calls.append((f"{name}.{number}.{call}", recipients))
    return Plan(number=number, calls=calls, rollback=rng.random() < 0.2)


def retrying(func: Callable[[], T], *, until: float) -> T:
    """Call ``func`` until the database answers it, with a short backoff; give up at ``until``."""
    from django.db import InterfaceError, OperationalError, connection

    delay = 0.05
    while True:
        try:
            return func()
        except (OperationalError, InterfaceError):
            _discard_connection(connection)
            if time.monotonic() > until:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _discard_connection(connection: Any) -> None:
    try:
        connection.close()
    except Exception:
        # A broken connection may fail to close; Django forgets it either way.
        connection.connection = None


def committed(marker: str) -> bool:
    from notifications.models import Notification

    return Notification.objects.filter(data__marker=marker).exists()


def attempt(p: Plan, users: dict[int, Any]) -> None:
    """Run the plan's transaction once; raise ``RolledBack`` if the plan says so."""
    from django.db import transaction

    from notifications.services import notify

    with transaction.atomic():
        for marker, recipients in p.calls:
            notify(
                [users[i] for i in recipients],
                kind="chaos",
                title=marker,
                data={"marker": marker},
            )
        if p.rollback:
            raise RolledBack


def run(p: Plan, users: dict[int, Any], *, until: float) -> dict[str, Any]:
    """Run the plan until its outcome is known; return the outcome as one result line."""
    from django.db import InterfaceError, OperationalError, connection

    outcome = {"tx": p.number, "calls": p.calls, "attempts": 0, "looked_up": 0}
    while True:
        outcome["attempts"] += 1
        try:
            attempt(p, users)
            return {**outcome, "outcome": "committed"}
        except RolledBack:
            return {**outcome, "outcome": "rolled_back"}
        except (OperationalError, InterfaceError):
            _discard_connection(connection)
            if p.rollback:
                return {**outcome, "outcome": "rolled_back"}
            # Committed or not? The marker says, once the database answers again.
            outcome["looked_up"] += 1
            if retrying(lambda: committed(p.calls[0][0]), until=until):
                # The COMMIT went through although the client never heard so.
                return {**outcome, "outcome": "committed", "found": 1}
            if time.monotonic() > until:
                raise


def publish(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model

    rng = random.Random(f"{args.seed}/{args.name}")
    user_ids = [int(i) for i in args.users.split(",")]
    stop_at = time.monotonic() + args.seconds
    give_up_at = stop_at + args.grace
    users = retrying(lambda: get_user_model().objects.in_bulk(user_ids), until=give_up_at)
    stop = Path(args.stop)
    with Path(args.out).open("a") as out:
        number = 0
        while time.monotonic() < stop_at and not stop.exists():
            number += 1
            p = plan(rng, name=args.name, number=number, user_ids=user_ids)
            out.write(json.dumps(run(p, users, until=give_up_at)) + "\n")
            out.flush()
            time.sleep(rng.uniform(args.pause / 4, args.pause))


def create_users(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    users = [
        get_user_model().objects.create_user(username=f"reader{i}", password=None)
        for i in range(args.count)
    ]
    json.dump([{"id": u.pk, "token": str(AccessToken.for_user(u))} for u in users], sys.stdout)


def finish(args: argparse.Namespace) -> None:
    from django.contrib.auth import get_user_model

    from notifications.services import notify

    until = time.monotonic() + args.grace
    for user in retrying(lambda: list(get_user_model().objects.order_by("pk")), until=until):
        marker = f"end.{user.pk}"
        retrying(
            lambda u=user, m=marker: (
                committed(m) or notify(u, kind="chaos", title=m, data={"marker": m})
            ),
            until=until,
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.chaos.worker")
    commands = parser.add_subparsers(dest="command", required=True)
    users = commands.add_parser("users")
    users.add_argument("--count", type=int, required=True)
    pub = commands.add_parser("publish")
    pub.add_argument("--name", required=True)
    pub.add_argument("--seed", required=True)
    pub.add_argument("--users", required=True, help="comma-separated user ids")
    pub.add_argument("--stop", required=True, help="start no transaction once this file exists")
    pub.add_argument("--seconds", type=float, default=120, help="nor after this long")
    pub.add_argument("--pause", type=float, default=0.5, help="longest pause between them")
    pub.add_argument("--grace", type=float, default=60, help="to resolve the last one")
    pub.add_argument("--out", required=True)
    end = commands.add_parser("finish")
    end.add_argument("--grace", type=float, default=60)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    {"users": create_users, "publish": publish, "finish": finish}[args.command](args)


if __name__ == "__main__":
    main()
