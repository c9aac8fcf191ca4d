"""Turn what the clients received and the publishers sent into figures. Pure functions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the nearest-rank ``q``-th percentile (0-100) of ``values``, or None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def summary_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    """Return p50, p90, p99, p99.9 and max of durations given in seconds, in milliseconds."""
    return {
        "p50": _ms(percentile(seconds, 50)),
        "p90": _ms(percentile(seconds, 90)),
        "p99": _ms(percentile(seconds, 99)),
        "p99.9": _ms(percentile(seconds, 99.9)),
        "max": _ms(max(seconds) if seconds else None),
        "count": len(seconds),
    }


# A histogram's cumulative counts by upper bound (``le``), +Inf included.
Buckets = dict[float, float]


def histograms(scrapes: Iterable[str], name: str, label: str = "") -> dict[str, Buckets]:
    """Read histogram ``name``'s buckets from scrapes in Prometheus's text format, added up
    over the scrapes (one per server), by the value of ``label`` (all under "" without)."""
    found: dict[str, Buckets] = {}
    for text in scrapes:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{name}_bucket":
                    series = found.setdefault(sample.labels.get(label, ""), {})
                    bound = float(sample.labels["le"])
                    series[bound] = series.get(bound, 0.0) + sample.value
    return found


def counted_between(before: dict[str, Buckets], after: dict[str, Buckets]) -> dict[str, Buckets]:
    """Return what each series counted between two scrapes."""
    return {
        series: {le: n - before.get(series, {}).get(le, 0.0) for le, n in buckets.items()}
        for series, buckets in after.items()
    }


def bucket_quantile(buckets: Buckets, q: float) -> float | None:
    """Estimate the ``q``-th percentile (0-100), interpolating inside its bucket as
    Prometheus's ``histogram_quantile`` does; None when nothing was counted."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q / 100 * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if math.isinf(bound):
                return lower  # Above the last finite bound: that bound is all one can say.
            inside = buckets[bound] - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1)
        lower, below = bound, buckets[bound]
    return lower


def histogram_ms(buckets: Buckets) -> dict[str, float | None]:
    """Return p50, p99 and p99.9 in milliseconds, the bucket bound every count was under
    (``max_le``; None when some were above the last finite one), and the count."""
    total = buckets.get(math.inf, 0.0)
    under = min((le for le, n in buckets.items() if n >= total), default=None)
    return {
        "p50": _ms(bucket_quantile(buckets, 50)),
        "p99": _ms(bucket_quantile(buckets, 99)),
        "p99.9": _ms(bucket_quantile(buckets, 99.9)),
        "max_le": None if under is None or not total or math.isinf(under) else _ms(under),
        "count": total,
    }


# The hops of a live delivery, as ``notifications_delivery_hop_seconds`` labels them.
HOPS = ("commit_to_sent", "sent_to_received", "received_to_written")


def latency_budget(before: list[str], after: list[str]) -> dict[str, Any]:
    """Return each hop's and the event loop lag's figures, from the servers' scrapes taken
    before and after a phase: what the phase alone counted."""

    def phase(name: str, label: str = "") -> dict[str, Buckets]:
        return counted_between(histograms(before, name, label), histograms(after, name, label))

    hops = phase("notifications_delivery_hop_seconds", "hop")
    lag = phase("notifications_event_loop_lag_seconds")
    return {
        "hops_ms": {hop: histogram_ms(hops.get(hop, {})) for hop in HOPS},
        "event_loop_lag_ms": histogram_ms(lag.get("", {})),
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


def costs(cpu_seconds: float, redis: dict[str, Any], count: int) -> dict[str, Any]:
    """Return what each of ``count`` operations (opens, notifications) cost: server CPU ms,
    all processes summed, and Redis bytes out and commands, from a phase's totals.

    These are the figures that tell the routing designs apart: with every message sent to
    every process, a notification costs more of both with each process added. A figure
    nothing was counted for (no operation, Redis not asked) is None.
    """

    def each(total: float | None, digits: int) -> float | None:
        return None if total is None or count <= 0 else round(total / count, digits)

    return {
        "count": count,
        "server_cpu_ms": each(1000 * cpu_seconds, 3),
        "redis_bytes_out": each(redis.get("redis_bytes_out"), 1),
        "redis_commands": each(redis.get("redis_commands"), 3),
    }


def relative(value: float | None, baseline: float | None) -> float | None:
    """Return ``value`` as a multiple of ``baseline`` (the same figure at 1 process), or None
    when either is missing; the issue's targets are such multiples."""
    if value is None or not baseline:
        return None
    return round(value / baseline, 2)
