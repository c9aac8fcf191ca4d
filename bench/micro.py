"""Where a single ``notify()`` spends its time, measured piece by piece in this process.

``python -m bench.micro [--count N] [--layer pubsub|core]`` against the bench database and
Redis (run ``python -m bench`` once first, to create them). Prints milliseconds per call:

- ``notify``: the whole call, as an application makes it;
- ``store``: the same call with publishing switched off (the transaction alone);
- ``publish``: ``notifications.publish.publish`` for one message, as ``notify()`` runs it
  on commit;
- ``send, one loop``: ``notifications.publish.send`` for the same message, awaited on one
  long-lived event loop in this thread;
- ``redis PUBLISH``: one PUBLISH on a long-lived synchronous Redis connection, the least a
  doorbell can cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Callable

from bench import analysis
from bench.options import USER_PREFIX, parse


def timed(func: Callable[[], object], count: int) -> dict[str, float | None]:
    """Return wall-clock percentiles of ``func``, and its mean CPU time (all threads)."""
    func()  # warm up
    durations = []
    cpu = time.process_time()
    for _ in range(count):
        start = time.perf_counter()
        func()
        durations.append(time.perf_counter() - start)
    cpu_ms = 1000 * (time.process_time() - cpu) / count
    return {**analysis.summary_ms(durations), "cpu_ms_mean": round(cpu_ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.micro")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--layer", choices=("pubsub", "core"), default="pubsub")
    args = parser.parse_args()
    options = parse(["--layer", args.layer])
    os.environ.update(options.env("micro"))
    import django

    django.setup()
    import redis
    from django.contrib.auth import get_user_model

    from notifications import publish
    from notifications.services import notify

    user = get_user_model().objects.get(username=f"{USER_PREFIX}00000")
    message = publish.message(publish.READ, ids=[], unread_count=0)

    def call_notify() -> None:
        notify(user, kind="bench", title="Micro", data={"t": time.time()})

    original = publish.publish
    results: dict[str, object] = {"layer": args.layer, "count": args.count}
    results["notify"] = timed(call_notify, args.count)
    publish.publish = lambda messages: None  # type: ignore[assignment]
    try:
        results["store"] = timed(call_notify, args.count)
    finally:
        publish.publish = original
    results["publish"] = timed(lambda: publish.publish([(user.pk, message)]), args.count)

    loop = asyncio.new_event_loop()
    try:
        results["send, one loop"] = timed(
            lambda: loop.run_until_complete(publish.send([(user.pk, message)])), args.count
        )
    finally:
        loop.close()
    client = redis.Redis.from_url(options.redis_url)
    try:
        results["redis PUBLISH"] = timed(
            lambda: client.publish("bench-micro", b"x" * 300), args.count
        )
    finally:
        client.close()
    for name, figures in results.items():
        print(f"{name:>22}: {figures}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
