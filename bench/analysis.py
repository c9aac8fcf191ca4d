"""Turn what the clients received and the publishers sent into figures. Pure functions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the nearest-rank ``q``-th percentile (0-100) of ``values``, or None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """Return p50, p90, p99 and max of durations given in seconds, in milliseconds."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {
        "p50": ms(percentile(seconds, 50)),
        "p90": ms(percentile(seconds, 90)),
        "p99": ms(percentile(seconds, 99)),
        "max": ms(max(seconds) if seconds else None),
        "count": len(seconds),
    }


@dataclass
class Delivery:
    """What the streams received, against what was sent to their users."""

    streams: int = 0
    never_opened: int = 0
    received: int = 0
    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    ended_streams: int = 0
    other_events: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "streams": self.streams,
            "streams_never_opened": self.never_opened,
            "expected": self.expected,
            "received": self.received,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "unexpected": self.unexpected,
            "streams_ended_by_server": self.ended_streams,
            "other_events": self.other_events,
            "latency_ms": summary_ms(self.latencies),
            "stream_errors": self.errors,
        }


def delivery(collected: Iterable[dict[str, Any]], sent: dict[int, int]) -> Delivery:
    """Compare each stream's notifications with the count sent to its user.

    A stream should receive every notification sent to its user after it opened, once,
    in ``seq`` order; each arrival's latency is measured from the ``t`` in its data.
    """
    result = Delivery()
    for reply in collected:
        for user_id, opened, status, error, notifications, others in reply["streams"]:
            if not opened:
                result.never_opened += 1
                continue
            result.streams += 1
            for name, n in others.items():
                result.other_events[name] = result.other_events.get(name, 0) + n
            if status != "open":
                result.ended_streams += 1
                result.errors[error] = result.errors.get(error, 0) + 1
            seqs = [int(seq) for seq, _, _ in notifications]
            unique = len(set(seqs))
            expected = sent.get(user_id, 0)
            result.expected += expected
            result.received += len(seqs)
            result.duplicated += len(seqs) - unique
            result.lost += max(0, expected - unique)
            result.unexpected += max(0, unique - expected)
            result.out_of_order += sum(b <= a for a, b in zip(seqs, seqs[1:], strict=False))
            for _, arrived, data in notifications:
                published = json.loads(data)["data"]["t"]
                result.latencies.append(arrived - published)
                result.arrivals.append(arrived)
    return result


def merge_sent(results: Iterable[dict[str, Any]]) -> dict[int, int]:
    """Add up the per-user counts of several publishers (JSON turned the keys into text)."""
    sent: dict[int, int] = {}
    for result in results:
        for user_id, count in result.get("sent", {}).items():
            sent[int(user_id)] = sent.get(int(user_id), 0) + count
    return sent


def publish_breakdown(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Split ``notify()`` calls into storing (up to commit) and publishing to the layer."""
    store, publish, calls = [], [], []
    for result in results:
        for before, start, end, after in result["marks"]:
            store.append(start - before)
            publish.append(end - start)
            calls.append(after - before)
    return {
        "notify_ms": summary_ms(calls),
        "store_until_commit_ms": summary_ms(store),
        "publish_to_layer_ms": summary_ms(publish),
    }
