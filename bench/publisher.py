"""A publisher process: calls ``notify()`` as an application would, and times each call.

Run by the tool as ``python -m bench.publisher``: it reads one JSON line of instructions on
stdin, sets up Django, prints ``ready``, waits for ``go``, publishes, and prints one JSON
line of results. Each notification carries ``data={"t": <time.time() just before notify()>}``.
With ``"site": "peer"`` it sends to django-eventstream instead (see :mod:`bench.peer`).
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (before the call, publish started = rows committed, publish returned, the call returned)
Marks = tuple[float, float, float, float]


class Timer:
    """Wrap ``owner.name``, the call that publishes, to note when each call starts and ends."""

    def __init__(self, owner: Any, name: str) -> None:
        self.original = getattr(owner, name)
        self.spans: list[tuple[float, float]] = []
        setattr(owner, name, self.publish)

    def publish(self, *args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.spans.append((start, time.time()))

    def call(self, func: Any, *args: Any, **kwargs: Any) -> tuple[Any, Marks]:
        before = time.time()
        count = len(self.spans)
        result = func(*args, **kwargs)
        after = time.time()
        start, end = self.spans[count] if len(self.spans) > count else (after, after)
        return result, (before, start, end, after)


# (user id, title, data, body) -> marks
Send = Callable[..., Marks]


@dataclass(frozen=True)
class Site:
    """How this process publishes: its timer, one notification to a user, its warm-up."""

    timer: Timer
    send: Send
    warm_up: Callable[[], None]


def our_site() -> Site:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from notifications.delivery import messages, publish
    from notifications.services import notify

    timer = Timer(publish, "publish")
    user_model = get_user_model()

    def send(user_id: int, title: str, data: dict[str, Any], body: str = "") -> Marks:
        user = user_model(pk=user_id)
        return timer.call(notify, user, kind="bench", title=title, body=body, data=data)[1]

    def warm_up() -> None:
        """Open the database connection and the channel layer before the clock starts."""
        connection.ensure_connection()
        # User 0 does not exist: nobody hears these. A small publish rings from this thread
        # (its first opens the connection); a large one starts the background sender (a
        # thread, a loop, the layer's connection): wait until both went, or the run's first
        # notifications would queue behind them.
        nobody = (0, messages.read_state(ids=[], unread_count=0))
        publish.publish([nobody])
        publish.publish([nobody] * (publish.RING_NOW_AT_MOST + 1))
        publish.flush()

    return Site(timer, send, warm_up)


def run_rate(site: Site, config: dict[str, Any]) -> dict[str, Any]:
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
        marks.append(site.send(user_id, f"Bench {i}", data))
        sent[user_id] = sent.get(user_id, 0) + 1
    return {"sent": sent, "marks": marks, "seconds": time.monotonic() - start}


def run_burst(site: Site, config: dict[str, Any]) -> dict[str, Any]:
    marks: list[Marks] = []
    start = time.monotonic()
    for i in range(config["count"]):
        data = {"t": time.time(), "p": config["index"], "i": i}
        marks.append(site.send(config["user"], f"Burst {i}", data, config.get("body", "")))
    return {
        "sent": {config["user"]: config["count"]},
        "marks": marks,
        "seconds": time.monotonic() - start,
    }


def run_broadcast(site: Site, config: dict[str, Any]) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from notifications.services import notify

    recipients = get_user_model().objects.filter(
        username__gte=config["first"], username__lte=config["last"]
    )
    start = time.monotonic()
    stored, mark = site.timer.call(
        notify, recipients, kind="bench", title="Broadcast", data={"t": time.time()}
    )
    return {"stored": len(stored), "marks": [mark], "seconds": time.monotonic() - start}


MODES = {"rate": run_rate, "burst": run_burst, "broadcast": run_broadcast}


def main() -> None:
    config = json.loads(sys.stdin.readline())
    import django

    django.setup()
    if config.get("site") == "peer":
        from bench.peer.publisher import site as peer_site

        site = peer_site()
    else:
        site = our_site()
    site.warm_up()
    # Stand for a publisher that has been up a while: the first full collection of a new
    # process walks everything Django's start-up made (40-50 ms here), and would otherwise
    # fall on the run's first notifications.
    gc.collect()
    gc.freeze()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    result = MODES[config["mode"]](site, config)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
