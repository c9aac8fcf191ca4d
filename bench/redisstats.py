"""What a phase of a run cost Redis: bytes in and out, commands.

``INFO stats`` counts for the whole Redis server, so the figures are the run's alone only
on a Redis of its own (``--redis-url`` of a private ``redis-server``); on a shared one they
include whatever else it served meanwhile, and the summary says which it was.
"""

from __future__ import annotations

from typing import Any

import redis

FIELDS = ("total_net_input_bytes", "total_net_output_bytes", "total_commands_processed")


def snapshot(url: str) -> dict[str, int]:
    """Return Redis's counters now (empty if Redis cannot be asked)."""
    client = redis.Redis.from_url(url)
    try:
        stats: dict[str, Any] = client.info("stats")
    except redis.RedisError:
        return {}
    finally:
        client.close()
    return {name: int(stats.get(name, 0)) for name in FIELDS}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Return the counters' growth between two snapshots."""
    if not before or not after:
        return {}
    grown = {name: after[name] - before[name] for name in FIELDS}
    return {
        "redis_bytes_in": grown["total_net_input_bytes"],
        "redis_bytes_out": grown["total_net_output_bytes"],
        "redis_commands": grown["total_commands_processed"],
    }
