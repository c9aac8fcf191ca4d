"""The app's figures for Prometheus, served by ``GET /metrics`` (``notifications.api.monitoring``).

prometheus-client is optional (the ``metrics`` extra): without it every figure below is a
no-op that costs one method call, and ``GET /metrics`` answers 404 saying so. The rest of
the app calls these objects in one line each and never needs to know which it got.

With ``PROMETHEUS_MULTIPROC_DIR`` set before a process starts, prometheus-client writes the
process's figures to files in that directory, and a scrape of any process sharing it sums
every process's: an operator running four daphne processes behind nginx sees the whole
machine in one scrape, not a random quarter of it. The open-stream gauge counts live
processes only: a process marks itself dead when it exits, and a scrape marks dead the
processes that vanished without doing so (SIGKILL, a crash).
"""

from __future__ import annotations

import atexit
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

try:
    import prometheus_client
    from prometheus_client import multiprocess
except ImportError:  # pragma: no cover - exercised by the test that hides the package
    prometheus_client = None  # type: ignore[assignment]

# The field of a notification's live message that carries the time its row was committed.
COMMITTED_AT = "committed_at"
# The field of a channel-layer batch that carries the time its sender handed it to the layer.
SENT_AT = "sent_at"
# The field of a notification's live message that carries the time its process's hub took
# its batch from the layer.
RECEIVED_AT = "received_at"
# The hops of a live delivery, each timed by ``notifications_delivery_hop_seconds``.
HOPS = ("commit_to_sent", "sent_to_received", "received_to_written")
# The results ``notifications_stream_opens_total`` counts opens by.
OPEN_RESULTS = ("accepted", "unauthorized", "limited", "unavailable", "bad_request")
# Commit to frame written: a few ms when the doorbell works, up to a heartbeat or two when
# the sweep found a lost one.
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60)
# A hop of a delivery, and the event loop's lag: fractions of a millisecond when all is well,
# so the buckets are fine enough to tell 0.2 ms from 2 ms and 20 ms.
FINE_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01,
    0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 1, 5,
)  # fmt: skip


class NoMetric:
    """Stands in for every metric when prometheus-client is not installed."""

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, value: float) -> None:
        pass

    def labels(self, *values: str, **labels: str) -> NoMetric:
        return self


def available() -> bool:
    """Tell whether prometheus-client is installed, so that figures are really kept."""
    return prometheus_client is not None


def multiprocess_directory() -> str | None:
    """Return ``PROMETHEUS_MULTIPROC_DIR``, where processes keep their figures, if set."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


_directory = multiprocess_directory()
if prometheus_client is not None and _directory is not None:
    # prometheus-client writes a file there for each metric as it is made, just below.
    Path(_directory).mkdir(parents=True, exist_ok=True)


def _counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Any:
    if prometheus_client is None:
        return NoMetric()
    return prometheus_client.Counter(name, documentation, labels)


def _gauge(name: str, documentation: str, *, mode: Literal["livesum", "livemostrecent"]) -> Any:
    if prometheus_client is None:
        return NoMetric()
    return prometheus_client.Gauge(name, documentation, multiprocess_mode=mode)


def _histogram(
    name: str, documentation: str, buckets: Sequence[float], labels: Sequence[str] = ()
) -> Any:
    if prometheus_client is None:
        return NoMetric()
    return prometheus_client.Histogram(name, documentation, labels, buckets=buckets)


streams_open = _gauge(
    "notifications_streams_open", "Streams open now, in every live process.", mode="livesum"
)
stream_opens = _counter(
    "notifications_stream_opens",
    "Requests to open a stream, by result: accepted, unauthorized, limited, unavailable,"
    " bad_request.",
    ["result"],
)
for _result in OPEN_RESULTS:
    stream_opens.labels(result=_result)  # Every result is shown from the start, at 0.
stored = _counter("notifications_stored", "Notifications stored and committed.")
delivered = _counter(
    "notifications_delivered", "Notification frames written to streams (live, replayed, caught up)."
)
delivery_seconds = _histogram(
    "notifications_delivery_seconds",
    "From a notification's commit to its frame written to a stream, for live deliveries.",
    DELIVERY_BUCKETS,
)
delivery_hops = _histogram(
    "notifications_delivery_hop_seconds",
    "Each hop of a live delivery: commit_to_sent (the publisher's doorbell handed to the"
    " channel layer), sent_to_received (taken from the layer by a server process's hub),"
    " received_to_written (its frame written to a stream).",
    FINE_BUCKETS,
    ["hop"],
)
hop_seconds = {hop: delivery_hops.labels(hop=hop) for hop in HOPS}
loop_lag = _histogram(
    "notifications_event_loop_lag_seconds",
    "How late a server process's event loop runs a timer: what every stream's next step"
    " waits behind (a long callback, a blocking call, a collector pause).",
    FINE_BUCKETS,
)
replayed = _counter(
    "notifications_replayed", "Notifications replayed to streams resuming with Last-Event-ID."
)
resyncs = _counter(
    "notifications_resyncs", "Streams told to resync: further behind than the replay window."
)
# 0 or 1: the most recent change any live process saw (a process that never opened a stream
# has not looked, and does not count).
layer_live = _gauge(
    "notifications_channel_layer_up",
    "1 while the live feed through the channel layer works; 0 while streams poll the database.",
    mode="livemostrecent",
)
demotions = _counter(
    "notifications_channel_layer_outages",
    "Times a process lost the channel layer and its streams fell back to the database.",
)
gaps_filled = _counter(
    "notifications_gaps_filled", "Times a stream caught up from the database after a lost doorbell."
)
slow_clients_closed = _counter(
    "notifications_slow_clients_closed",
    "Streams closed because their client stopped reading (SLOW_CLIENT_BUFFER_BYTES waited).",
)
doorbells_dropped = _counter(
    "notifications_doorbells_dropped",
    "Doorbells not sent because the channel layer failed or hung, or too many were waiting.",
)

push_sent = _counter("notifications_push_sent", "Web Push messages a push service accepted.")
push_failed = _counter(
    "notifications_push_failed",
    "Web Push messages given up on: refused, or failing after every retry.",
)
push_subscriptions_removed = _counter(
    "notifications_push_subscriptions_removed",
    "Web Push subscriptions deleted because their push service said they are gone (404, 410).",
)


def written(message: dict[str, Any] | None = None, *, replay: bool = False) -> None:
    """Count a notification frame written to a stream; time it if it came live."""
    delivered.inc()
    if replay:
        replayed.inc()
    if message is None:
        return
    now = time.time()
    committed_at = message.get(COMMITTED_AT)
    if isinstance(committed_at, int | float):
        delivery_seconds.observe(max(now - committed_at, 0.0))
    received_at = message.get(RECEIVED_AT)
    if isinstance(received_at, int | float):
        hop_seconds["received_to_written"].observe(max(now - received_at, 0.0))


def received(committed_at: object, sent_at: object, received_at: float) -> None:
    """Time the hops of a channel-layer batch up to its hub: once per batch, from the stamps
    of its oldest notification (``committed_at``) and of its sending (``sent_at``)."""
    if not isinstance(sent_at, int | float):
        return
    hop_seconds["sent_to_received"].observe(max(received_at - sent_at, 0.0))
    if isinstance(committed_at, int | float):
        hop_seconds["commit_to_sent"].observe(max(sent_at - committed_at, 0.0))


def open_result(status: int) -> str:
    """Return the result an answer to a stream request counts as."""
    if status == 200:
        return "accepted"
    if status in (401, 403):
        return "unauthorized"
    if status == 429:
        return "limited"
    if status == 503:
        return "unavailable"
    return "bad_request"


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def forget_dead_processes(directory: str) -> list[int]:
    """Mark dead the processes whose live gauges are on file but which are gone; return them.

    A process that exits normally does this itself; one killed or crashed cannot, and its
    open streams would be counted for ever.
    """
    assert prometheus_client is not None
    pids = {
        int(match.group(1))
        for path in Path(directory).iterdir()
        if (match := _LIVE_GAUGE_FILE.match(path.name))
    }
    dead = [pid for pid in sorted(pids) if not _alive(pid)]
    for pid in dead:
        multiprocess.mark_process_dead(pid, directory)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Another user's process, alive.
    return True


def exposition() -> tuple[bytes, str]:
    """Return the figures in Prometheus's text format, and its content type.

    With ``PROMETHEUS_MULTIPROC_DIR``, those of every process sharing the directory.
    """
    assert prometheus_client is not None
    directory = multiprocess_directory()
    if directory is None:
        registry = prometheus_client.REGISTRY
    else:
        forget_dead_processes(directory)
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST


def _mark_this_process_dead() -> None:
    directory = multiprocess_directory()
    if directory is not None and Path(directory).is_dir():
        multiprocess.mark_process_dead(os.getpid(), directory)


if prometheus_client is not None and multiprocess_directory() is not None:
    # A process that exits stops counting its streams as open at once.
    atexit.register(_mark_this_process_dead)
