"""A publisher process: calls ``notify()`` as an application would, and times each call.

Run by the tool as ``python -m bench.publisher``: it reads one JSON line of instructions on
stdin, sets up Django, prints ``ready``, waits for ``go``, publishes, and prints one JSON
line of results. Each notification carries ``data={"t": <time.time() just before notify()>}``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

# (before notify, publish started = rows committed, publish returned, notify returned)
Marks = tuple[float, float, float, float]


class Timer:
    """Wrap ``notifications.delivery.publish.publish`` to note when each publish starts and ends."""

    def __init__(self) -> None:
        from notifications.delivery import publish

        self.original = publish.publish
        self.spans: list[tuple[float, float]] = []
        publish.publish = self.publish

    def publish(self, messages: list[tuple[int, dict[str, Any]]]) -> None:
        start = time.time()
        try:
            self.original(messages)
        finally:
            self.spans.append((start, time.time()))

    def call(self, func: Any, *args: Any, **kwargs: Any) -> tuple[Any, Marks]:
        before = time.time()
        count = len(self.spans)
        result = func(*args, **kwargs)
        after = time.time()
        start, end = self.spans[count] if len(self.spans) > count else (after, after)
        return result, (before, start, end, after)


def warm_up() -> None:
    """Open the database connection and the channel layer before the clock starts."""
    from django.db import connection

    from notifications.delivery import messages, publish

    connection.ensure_connection()
    # User 0 does not exist: this group has no members.
    publish.publish([(0, messages.read_state(ids=[], unread_count=0))])


def run_rate(timer: Timer, config: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from notifications.services import notify

    user_model = get_user_model()
    rng = random.Random(config["seed"])
    users: list[int] = config["users"]
    interval = 1 / config["rate"]
    sent: dict[int, int] = {}
    marks: list[Marks] = []
    start = time.monotonic()
    end = start + config["duration"]
    for i in range(int(config["rate"] * config["duration"]) + 1):
        due = start + i * interval
        # Behind schedule or not, publishing ends with the duration: the run stays bounded.
        if due >= end or time.monotonic() >= end:
            break
        if (delay := due - time.monotonic()) > 0:
            time.sleep(delay)
        user_id = rng.choice(users)
        data = {"t": time.time(), "p": config["index"], "i": i}
        _, mark = timer.call(
            notify, user_model(pk=user_id), kind="bench", title=f"Bench {i}", data=data
        )
        marks.append(mark)
        sent[user_id] = sent.get(user_id, 0) + 1
    return {"sent": sent, "marks": marks, "seconds": time.monotonic() - start}


def run_burst(timer: Timer, config: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from notifications.services import notify

    user = get_user_model()(pk=config["user"])
    marks: list[Marks] = []
    start = time.monotonic()
    for i in range(config["count"]):
        data = {"t": time.time(), "p": config["index"], "i": i}
        _, mark = timer.call(
            notify, user, kind="bench", title=f"Burst {i}", body=config.get("body", ""), data=data
        )
        marks.append(mark)
    return {
        "sent": {config["user"]: config["count"]},
        "marks": marks,
        "seconds": time.monotonic() - start,
    }


def run_broadcast(timer: Timer, config: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from notifications.services import notify

    recipients = get_user_model().objects.filter(
        username__gte=config["first"], username__lte=config["last"]
    )
    start = time.monotonic()
    stored, mark = timer.call(
        notify, recipients, kind="bench", title="Broadcast", data={"t": time.time()}
    )
    return {"stored": len(stored), "marks": [mark], "seconds": time.monotonic() - start}


MODES = {"rate": run_rate, "burst": run_burst, "broadcast": run_broadcast}


def main() -> None:
    config = json.loads(sys.stdin.readline())
    import django

    django.setup()
    timer = Timer()
    warm_up()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    result = MODES[config["mode"]](timer, config)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
