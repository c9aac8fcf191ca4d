"""What a phase of a run cost Redis: bytes in and out, commands.

``INFO stats`` counts for the whole Redis server, so the figures are the run's alone only
on a Redis of its own (``--redis-url`` of a private ``redis-server``); on a shared one they
include whatever else it served meanwhile, and the summary says which it was. With several
Redis servers (``--redis-url`` with commas, as ``REDIS_URL`` takes them), the figures are
their sum.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis

FIELDS = ("total_net_input_bytes", "total_net_output_bytes", "total_commands_processed")


def urls(redis_url: str) -> list[str]:
    """Split a ``REDIS_URL`` that may name several Redis servers, comma-separated."""
    return [url.strip() for url in redis_url.split(",") if url.strip()]


def servers(redis_url: str) -> list[str]:
    """Return one URL per Redis server: two databases of one server are counted once."""
    by_server: dict[str, str] = {}
    for url in urls(redis_url):
        by_server.setdefault(urlsplit(url).netloc.rpartition("@")[2], url)
    return list(by_server.values())


def _counters(url: str) -> dict[str, int]:
    client = redis.Redis.from_url(url)
    try:
        stats: dict[str, Any] = client.info("stats")
    finally:
        client.close()
    return {name: int(stats.get(name, 0)) for name in FIELDS}


def snapshot(redis_url: str) -> dict[str, int]:
    """Return the counters now, added up over the Redis servers (empty if one cannot be
    asked: a sum that misses a server would be wrong, not smaller)."""
    total = dict.fromkeys(FIELDS, 0)
    for url in servers(redis_url):
        try:
            counters = _counters(url)
        except redis.RedisError:
            return {}
        for name in FIELDS:
            total[name] += counters[name]
    return total


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
