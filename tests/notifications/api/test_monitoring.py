"""``GET /healthz`` and ``GET /metrics``: what a load balancer and Prometheus are told."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from notifications import services
from notifications.stream.upkeep import LAG_INTERVAL
from project.settings import channel_layers
from tests.conftest import free_port
from tests.notifications.stream.test_connection import connected, open_stream

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "metrics-token-for-tests"
NAMES = (
    "notifications_streams_open",
    "notifications_stream_opens",
    "notifications_stored",
    "notifications_delivered",
    "notifications_delivery_seconds",
    "notifications_replayed",
    "notifications_resyncs",
    "notifications_channel_layer_up",
    "notifications_delivery_hop_seconds",
    "notifications_event_loop_lag_seconds",
)

pytestmark = pytest.mark.django_db(transaction=True)
notify = sync_to_async(services.notify)


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "METRICS_TOKEN": TOKEN}
    return TOKEN


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client, token: str = TOKEN) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- /healthz --------------------------------------------------------------------------------


async def test_healthz_reports_database_and_layer_without_auth() -> None:
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    expected_layer = "ok" if os.environ.get("REDIS_URL") else "in-memory"
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": expected_layer}


async def test_healthz_redis_down_is_reported_but_healthy(settings: Any) -> None:
    settings.CHANNEL_LAYERS = channel_layers(f"redis://127.0.0.1:{free_port()}/0")
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "down"}


async def test_healthz_checks_every_redis_server_of_the_layer(
    settings: Any, redis_server_factory: Any
) -> None:
    up, away = redis_server_factory(), f"redis://127.0.0.1:{free_port()}/0"
    settings.CHANNEL_LAYERS = channel_layers([up.url, up.url.replace("/0", "/1")])
    assert (await AsyncClient().get("/healthz")).json()["channel_layer"] == "ok"
    # Whichever of the two a given name lands on, the one that is away is found.
    settings.CHANNEL_LAYERS = channel_layers([up.url, away])
    assert (await AsyncClient().get("/healthz")).json()["channel_layer"] == "down"
    settings.CHANNEL_LAYERS = channel_layers([away, up.url])
    assert (await AsyncClient().get("/healthz")).json()["channel_layer"] == "down"


async def test_healthz_refuses_other_methods_with_json() -> None:
    response = await AsyncClient().post("/healthz")
    assert response.status_code == 405
    assert "detail" in response.json()


# --- /metrics: access ------------------------------------------------------------------------


def test_metrics_are_404_without_a_token(client: Client) -> None:
    response = client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404
    assert "detail" in response.json()


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer"])
def test_metrics_need_the_bearer_token(
    client: Client, metrics_token: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert "detail" in response.json()
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_metrics_name_every_figure_of_the_contract(client: Client, metrics_token: str) -> None:
    samples = scrape(client)
    names = {name for name, _ in samples}
    for name in NAMES:
        assert any(n.startswith(name) for n in names), name
    for result in ("accepted", "unauthorized", "limited", "unavailable", "bad_request"):
        assert (("notifications_stream_opens_total", (("result", result),))) in samples
    assert ("notifications_delivery_seconds_bucket", (("le", "0.005"),)) in samples
    for hop in ("commit_to_sent", "sent_to_received", "received_to_written"):
        assert ("notifications_delivery_hop_seconds_bucket", (("hop", hop), ("le", "0.0005"))) in (
            samples
        )


# --- /metrics: what is counted ---------------------------------------------------------------


async def test_open_streams_and_opens_by_result_are_counted(user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "MAX_CONNECTIONS_PER_USER": 1}
    before = {r: value("notifications_stream_opens_total", result=r) for r in ("accepted",
              "unauthorized", "limited", "bad_request")}  # fmt: skip
    open_before = value("notifications_streams_open")

    stream = await connected(user)
    assert value("notifications_streams_open") == open_before + 1
    assert (await open_stream(user)).status == 429
    assert (await open_stream()).status == 401
    assert (await open_stream(user, Last_Event_ID="x")).status == 400
    await stream.close()

    assert value("notifications_streams_open") == open_before
    for result in before:
        assert value("notifications_stream_opens_total", result=result) == before[result] + 1


async def test_live_deliveries_are_timed_from_commit_and_replays_counted(user: Any) -> None:
    stored, delivered = value("notifications_stored_total"), value("notifications_delivered_total")
    timed = value("notifications_delivery_seconds_count")
    replayed = value("notifications_replayed_total")
    stream = await connected(user)

    await notify(user, kind="info", title="live one")
    assert (await stream.next_event()).event == "notification"
    await stream.close()
    assert value("notifications_stored_total") == stored + 1
    assert value("notifications_delivered_total") == delivered + 1
    assert value("notifications_delivery_seconds_count") == timed + 1
    assert value("notifications_delivery_seconds_bucket", le="+Inf") >= timed + 1

    resumed = await connected(user, Last_Event_ID="0")
    assert (await resumed.next_event()).json()["title"] == "live one"
    await resumed.close()
    assert value("notifications_replayed_total") == replayed + 1
    assert value("notifications_delivered_total") == delivered + 2
    # A replayed frame was not delivered live: it is not timed from its commit.
    assert value("notifications_delivery_seconds_count") == timed + 1


HOPS = ("commit_to_sent", "sent_to_received", "received_to_written")


async def test_each_hop_of_a_live_delivery_is_timed_and_adds_up_to_the_whole(user: Any) -> None:
    def hops(statistic: str) -> dict[str, float]:
        name = f"notifications_delivery_hop_seconds_{statistic}"
        return {hop: value(name, hop=hop) for hop in HOPS}

    counts, sums = hops("count"), hops("sum")
    whole = value("notifications_delivery_seconds_sum")
    stream = await connected(user)

    await notify(user, kind="info", title="timed hop by hop")
    assert (await stream.next_event()).event == "notification"
    await stream.close()
    assert hops("count") == {hop: counts[hop] + 1 for hop in HOPS}
    # Read from the same stamps, the hops cannot take longer than the delivery as a whole.
    spent = sum(hops("sum")[hop] - sums[hop] for hop in HOPS)
    assert 0 <= spent <= value("notifications_delivery_seconds_sum") - whole + 1e-6


async def test_the_event_loop_lag_shows_a_loop_blocked_on_purpose(user: Any) -> None:
    stream = await connected(user)  # The process's hub starts watching its loop.
    lag = value("notifications_event_loop_lag_seconds_sum")
    late = value("notifications_event_loop_lag_seconds_count") - value(
        "notifications_event_loop_lag_seconds_bucket", le="0.1"
    )
    await asyncio.sleep(0.01)  # The watch is asleep, due to wake within LAG_INTERVAL.
    # Block the event loop as a slow callback would, past the watch's wake-up by 0.3 s at least.
    time.sleep(LAG_INTERVAL + 0.3)
    async with asyncio.timeout(5):
        while value("notifications_event_loop_lag_seconds_sum") < lag + 0.25:
            await asyncio.sleep(0.05)
    await stream.close()
    # The blocked wake-up is counted above 100 ms, where an operator's alert would look.
    assert (
        value("notifications_event_loop_lag_seconds_count")
        - value("notifications_event_loop_lag_seconds_bucket", le="0.1")
        >= late + 1
    )


async def test_a_client_too_far_behind_counts_as_a_resync(user: Any, settings: Any) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "REPLAY_LIMIT": 1}
    for title in ("one", "two", "three"):
        await notify(user, kind="info", title=title)
    resyncs = value("notifications_resyncs_total")
    stream = await connected(user, Last_Event_ID="0")
    assert (await stream.next_event()).event == "resync"
    await stream.close()
    assert value("notifications_resyncs_total") == resyncs + 1


# --- /metrics: several processes -------------------------------------------------------------

# A server process's part, reduced to its figures: open ``sys.argv[1]`` streams, store two
# notifications, then wait until told to exit.
PROCESS = """
import sys
from notifications import metrics
metrics.streams_open.inc(int(sys.argv[1]))
metrics.stored.inc(2)
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    started = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, str(streams)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for streams in (2, 3)
    ]
    try:
        for process in started:
            assert process.stdout is not None and process.stdout.readline() == "ready\n"
        yield directory, started
    finally:
        for process in started:
            process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()


def test_one_scrape_sums_every_process_and_forgets_dead_ones(
    client: Client, metrics_token: str, processes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory, (first, second) = processes
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    open_streams = ("notifications_streams_open", ())
    stored = ("notifications_stored_total", ())

    samples = scrape(client)
    assert samples[open_streams] == 5
    assert samples[stored] == 4

    # Killed without a chance to say so: its streams are gone, what it stored stays counted.
    first.send_signal(signal.SIGKILL)
    first.wait()
    samples = scrape(client)
    assert samples[open_streams] == 3
    assert samples[stored] == 4

    # Exiting normally, a process marks itself dead.
    assert second.stdin is not None
    second.stdin.close()
    assert second.wait(timeout=30) == 0
    assert not list(directory.glob(f"gauge_live*_{second.pid}.db"))
    assert scrape(client).get(open_streams, 0) == 0


# --- without prometheus-client ---------------------------------------------------------------

WITHOUT_PROMETHEUS = """
import os, sys
sys.modules["prometheus_client"] = None  # as if the [metrics] extra was not installed
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
from notifications import metrics
metrics.streams_open.inc()
metrics.written({"committed_at": 0.0}, replay=True)
response = Client().get("/metrics", headers={"Authorization": "Bearer t"})
print(response.status_code, response.json()["detail"])
"""


def test_without_prometheus_client_figures_are_no_ops_and_metrics_unavailable() -> None:
    env = {**os.environ, "METRICS_TOKEN": "t"}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_PROMETHEUS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, detail = result.stdout.strip().split(" ", 1)
    assert status == "404"
    assert "prometheus-client is not installed" in detail
