"""The benchmark's reading of the servers' histograms: the per-hop budget of docs/PERFORMANCE.md.

Figures are read from a real scrape of the app's own metrics, as the benchmark reads them
from each server's ``GET /metrics``.
"""

from __future__ import annotations

import math

import prometheus_client

from bench import analysis
from notifications import metrics

NAME = "notifications_delivery_hop_seconds"


def scrape(registry: prometheus_client.CollectorRegistry) -> str:
    return prometheus_client.generate_latest(registry).decode()


def hop_histogram() -> tuple[prometheus_client.CollectorRegistry, prometheus_client.Histogram]:
    """A registry of its own holding the app's hop histogram, with the app's buckets."""
    registry = prometheus_client.CollectorRegistry()
    histogram = prometheus_client.Histogram(
        NAME, "hops", ["hop"], buckets=metrics.FINE_BUCKETS, registry=registry
    )
    return registry, histogram


def test_a_phase_is_read_alone_and_its_percentiles_fall_in_the_right_buckets() -> None:
    registry, histogram = hop_histogram()
    for _ in range(50):
        histogram.labels(hop="sent_to_received").observe(0.030)  # before the phase
    before = scrape(registry)
    for _ in range(98):
        histogram.labels(hop="sent_to_received").observe(0.0004)
    for _ in range(2):
        histogram.labels(hop="sent_to_received").observe(0.004)
    histogram.labels(hop="received_to_written").observe(0.0012)

    budget = analysis.latency_budget([before], [scrape(registry)])
    hop = budget["hops_ms"]["sent_to_received"]
    assert hop["count"] == 100
    assert 0.25 < hop["p50"] <= 0.5  # in (0.25, 0.5] ms, where the 98 fell
    assert 3 < hop["p99"] <= 5
    assert hop["max_le"] == 5  # the 30 ms ones were before the phase
    assert budget["hops_ms"]["received_to_written"]["count"] == 1
    assert budget["hops_ms"]["commit_to_sent"] == {
        "p50": None, "p99": None, "p99.9": None, "max_le": None, "count": 0.0
    }  # fmt: skip
    assert budget["event_loop_lag_ms"]["count"] == 0


def test_servers_add_up_and_what_passes_the_last_bucket_has_no_bound() -> None:
    first, first_hops = hop_histogram()
    second, second_hops = hop_histogram()
    first_hops.labels(hop="commit_to_sent").observe(0.0001)
    second_hops.labels(hop="commit_to_sent").observe(60)

    found = analysis.histograms([scrape(first), scrape(second)], NAME, "hop")
    buckets = found["commit_to_sent"]
    assert buckets[math.inf] == 2
    assert analysis.bucket_quantile(buckets, 50) == 0.0001
    # Past the last finite bound, that bound is all a histogram can say.
    assert analysis.bucket_quantile(buckets, 99) == max(metrics.FINE_BUCKETS)
    assert analysis.histogram_ms(buckets)["max_le"] is None


def test_the_exact_percentiles_include_p99_9() -> None:
    summary = analysis.summary_ms([i / 1000 for i in range(1, 2001)])
    assert (summary["p99"], summary["p99.9"], summary["max"]) == (1980.0, 1999.0, 2000.0)
