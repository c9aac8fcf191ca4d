"""The scenarios: each starts its own daphne processes, opens streams, measures, cleans up."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import analysis, procfs, redisstats
from bench.client import Spec
from bench.clients import Clients
from bench.database import ConnectionSampler
from bench.options import USER_PREFIX, Options
from bench.peer.server import PeerServer
from bench.publishers import Publishers
from bench.server import Server, free_ports
from bench.timeline import Timeline, by_quarter

IDLE_SECONDS = 5.0
# Seconds after notify() returns that a broadcast may take to arrive before it counts as lost:
# 20, or 1 per 2,500 recipients for larger ones (40 s for 100,000).
BROADCAST_WINDOW = 20.0
BROADCAST_WINDOW_RECIPIENTS_PER_SECOND = 2_500
# Seconds a broadcast's notify() may take: 120, or 1 per 500 recipients for larger ones.
BROADCAST_TIMEOUT = 120.0
BROADCAST_TIMEOUT_RECIPIENTS_PER_SECOND = 500
SETTLE_SECONDS = 1.0
# ``--find-sustained``: the rates tried in turn, and what each must meet: p99 under this,
# nothing lost, and the publishers at this share of the rate at least.
SUSTAINED_STEPS = (500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 8000)
SUSTAINED_P99_MS = 20.0
SUSTAINED_ACHIEVED = 0.95
# Notifications/s one publisher process offers comfortably (a notify() takes 1.5-2 ms):
# the search adds publishers as it steps up, so that the server is what it measures.
PUBLISHER_RATE = 400


@dataclass
class Run:
    """What every scenario of one ``python -m bench`` shares."""

    options: Options
    users: list[int]
    password_hash: str
    logs: Path
    sampler: ConnectionSampler
    current_servers: int = 1
    tag: str = ""


def clear_redis(redis_url: str) -> None:
    """Forget slots and channel-layer state left by an earlier run (bench keys only), in
    each Redis the run uses."""
    for url in redisstats.urls(redis_url):
        _clear(url)


def _clear(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for pattern in ("notifications:slots:*", "bench*"):
            batch: list[bytes] = []
            for key in client.scan_iter(match=pattern, count=1_000):
                batch.append(key)
                if len(batch) >= 1_000:
                    client.delete(*batch)
                    batch = []
            if batch:
                client.delete(*batch)
    finally:
        client.close()


@contextlib.contextmanager
def servers(run: Run, count: int, tag: str) -> Iterator[list[Server]]:
    """Start ``count`` daphne processes behind the same Redis; stop them however we leave."""
    clear_redis(run.options.redis_url)
    run.tag = tag
    started: list[Server] = []
    kind = PeerServer if run.options.site == "peer" else Server
    try:
        for port in free_ports(run.options.base_port, count):
            server = kind(
                port,
                run.options.env(f"server-{port}"),
                run.logs / f"{tag}-{port}.log",
                app=run.options.application,
                kind=run.options.server,
            )
            started.append(server)
            server.start()
        yield started
    finally:
        for server in started:
            server.stop()


def specs(
    run: Run, servers: list[Server], count: int, *, user_index: int | None = None
) -> list[Spec]:
    """One stream per user (or ``count`` for one user), spread over the servers in turn."""
    return [
        Spec(
            run.users[i if user_index is None else user_index],
            servers[i % len(servers)].url,
            run.options.path,
            run.options.auth,
            run.options.site,
        )
        for i in range(count)
    ]


def warm_up(run: Run, servers: list[Server], clients: Clients) -> None:
    """Open and close one stream per server, so imports and pools are warm before measuring.

    Each server's is a stream of a spare user of its own (the last users): one user's streams
    on 8 servers would pass the per-user limit.
    """
    spares = run.users[-len(servers) :]
    first = [
        Spec(user, s.url, run.options.path, run.options.auth, run.options.site)
        for user, s in zip(spares, servers, strict=True)
    ]
    clients.open(first, len(servers), budget=60)
    clients.close_streams()
    time.sleep(SETTLE_SECONDS)


@contextlib.contextmanager
def profiling(run: Run, servers: list[Server], phase: str) -> Iterator[None]:
    """With ``--profile``, sample each server with py-spy during this phase."""
    if run.options.profile:
        for server in servers:
            server.profile(run.logs / f"{run.tag}-{len(servers)}x-{server.port}-{phase}.txt")
    try:
        yield
    finally:
        for server in servers:
            server.stop_profile()


def usage(servers: list[Server]) -> procfs.Usage:
    return procfs.total([s.pid for s in servers])


def open_streams(
    run: Run, servers: list[Server], clients: Clients, wanted: list[Spec]
) -> dict[str, Any]:
    """Open ``wanted`` and measure what it cost the servers; the streams stay open."""
    warm_up(run, servers, clients)
    before = usage(servers)
    run.sampler.reset_peak()
    redis_before = redisstats.snapshot(run.options.redis_url)
    budget = run.options.open_budget_for(len(wanted))
    with (
        profiling(run, servers, "open"),
        Timeline([s.pid for s in servers], clients.opened) as timeline,
    ):
        replies = clients.open(wanted, run.options.open_concurrency, budget)
    after_open = usage(servers)
    redis_opening = redisstats.delta(redis_before, redisstats.snapshot(run.options.redis_url))
    pg_peak_open = run.sampler.state.peak_total
    pg_peak_active_open = run.sampler.state.peak_active
    time.sleep(IDLE_SECONDS)
    after_idle = usage(servers)
    pg = run.sampler.sample()
    opened = sum(r["opened"] for r in replies)
    seconds = max(r["finished"] for r in replies) - min(r["started"] for r in replies)
    grown = after_idle - before
    client_usage = procfs.total(clients.pids)
    return {
        "streams": len(wanted),
        "opened": opened,
        "failed": len(wanted) - opened,
        "open_errors": _open_errors(replies),
        "open_seconds": round(seconds, 2),
        "open_budget_seconds": budget,
        "opens_per_second": round(opened / seconds, 1) if seconds > 0 else None,
        "open_latency_ms": analysis.summary_ms([s for r in replies for s in r["open_seconds"]]),
        "server_rss_mb_before": round(before.rss_kb / 1024, 1),
        "server_rss_mb_after": round(after_idle.rss_kb / 1024, 1),
        "server_rss_kb_per_stream": round(grown.rss_kb / opened, 1) if opened else None,
        "server_threads_before": before.threads,
        "server_threads_after": after_idle.threads,
        "server_cpu_seconds_opening": round((after_open - before).cpu_seconds, 2),
        "server_cpu_seconds_idle": round((after_idle - after_open).cpu_seconds, 2),
        "server_cpu_ms_per_open": (
            round(1000 * (after_open - before).cpu_seconds / opened, 2) if opened else None
        ),
        "per_open": analysis.costs((after_open - before).cpu_seconds, redis_opening, opened),
        "idle_seconds": IDLE_SECONDS,
        "opening_by_quarter": by_quarter(timeline.samples),
        "client_cpu_seconds_total": round(client_usage.cpu_seconds, 2),
        "client_rss_mb": round(client_usage.rss_kb / 1024, 1),
        "client_processes": len(clients.pids),
        "client_sources": clients.sources,
        "pg_connections_open_streams": pg.total(),
        "pg_connections_servers": pg.total("bench-server"),
        "pg_connections_peak_while_opening": pg_peak_open,
        "pg_connections_active_open_streams": pg.active,
        "pg_connections_peak_active_while_opening": pg_peak_active_open,
        "pg_connections_by_role": dict(pg.now),
    }


def _open_errors(replies: list[dict[str, Any]]) -> dict[str, int]:
    """Add up the client processes' counts of streams that failed to open, by error."""
    errors: dict[str, int] = {}
    for reply in replies:
        for error, n in reply["errors"].items():
            errors[error] = errors.get(error, 0) + n
    return errors


def publish(
    run: Run, servers: list[Server], clients: Clients, configs: list[dict[str, Any]],
    *, timeout: float, expected: Callable[[list[dict[str, Any]]], int], window: float = 10,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """Run publishers with ``configs``; wait for ``expected`` arrivals; measure the servers.

    Arrivals are awaited for at most ``window`` seconds after the publishers finish: what
    has not arrived by then counts as lost.
    """
    env = run.options.env("publisher")
    with Publishers(configs, env, run.logs / "publishers.log") as publishers:
        publishers.ready()
        run.sampler.reset_peak()
        before = usage(servers)
        redis_before = redisstats.snapshot(run.options.redis_url)
        with profiling(run, servers, "publish"):
            released = publishers.go()
            results = publishers.results(timeout)
            received, waited = clients.wait_for(expected(results), timeout=window)
        after = usage(servers)
        redis_after = redisstats.snapshot(run.options.redis_url)
    return results, {
        **redisstats.delta(redis_before, redis_after),
        "released_at": released,
        "server_cpu_seconds_publishing": round((after - before).cpu_seconds, 2),
        "server_rss_mb_after": round(after.rss_kb / 1024, 1),
        "server_threads_after": after.threads,
        "pg_connections_peak_publishing": run.sampler.state.peak_total,
        "pg_connections_peak_active_publishing": run.sampler.state.peak_active,
        "pg_connections_peak_by_role": dict(run.sampler.state.peak),
        "waited_after_publishers_seconds": round(waited, 3),
        "delivery_window_seconds": window,
        "received_when_measured": received,
    }


def idle(run: Run, count: int, *, broadcast: bool = False) -> dict[str, Any]:
    """Open ``count`` idle streams for as many users; with ``broadcast``, ring them all."""
    name = "broadcast" if broadcast else "idle"
    with (
        servers(run, run.current_servers, name) as srv,
        Clients(run.options.clients_for(count), run.password_hash) as clients,
    ):
        result: dict[str, Any] = {"scenario": name, "servers": run.current_servers}
        result["idle"] = open_streams(run, srv, clients, specs(run, srv, count))
        if broadcast:
            result["broadcast"] = _broadcast(run, srv, clients, count, result["idle"]["opened"])
        result["server_alive"] = all(s.alive() for s in srv)
        clients.close_streams()
    return result


def _broadcast(
    run: Run, srv: list[Server], clients: Clients, count: int, opened: int
) -> dict[str, Any]:
    """One ``notify()`` to the ``count`` users whose streams are open: who got it, and when."""
    config = {
        "mode": "broadcast",
        "first": f"{USER_PREFIX}{0:05d}",
        "last": f"{USER_PREFIX}{count - 1:05d}",
    }
    results, measured = publish(
        run,
        srv,
        clients,
        [config],
        timeout=max(BROADCAST_TIMEOUT, count / BROADCAST_TIMEOUT_RECIPIENTS_PER_SECOND),
        expected=lambda _: opened,
        window=max(BROADCAST_WINDOW, count / BROADCAST_WINDOW_RECIPIENTS_PER_SECOND),
    )
    (before, committed, published, returned) = results[0]["marks"][0]
    got = analysis.delivery(clients.collect(), dict.fromkeys(run.users[:count], 1))
    complete = got.lost == 0 and got.streams > 0
    return {
        "recipients": count,
        "stored": results[0]["stored"],
        "stored_and_committed_seconds": round(committed - before, 3),
        "publish_to_layer_seconds": round(published - committed, 3),
        "notify_returned_seconds": round(returned - before, 3),
        "delivered_to_all_seconds": (round(max(got.arrivals) - before, 3) if complete else None),
        "last_delivery_seconds": (round(max(got.arrivals) - before, 3) if got.arrivals else None),
        "delivered_within_2s": sum(arrived - before <= 2 for arrived in got.arrivals),
        "delivered_by_seconds": {
            str(s): sum(arrived - before <= s for arrived in got.arrivals)
            for s in (1, 2, 5, 10, 20, 60)
        },
        "delivery": got.as_dict(),
        "per_recipient": analysis.costs(
            measured["server_cpu_seconds_publishing"], measured, got.received
        ),
        **measured,
    }


def scrape(servers: list[Server]) -> list[str]:
    """Return the servers' figures (``GET /metrics``): one scrape covers them all when
    they share ``PROMETHEUS_MULTIPROC_DIR``."""
    shared = bool(servers) and bool(servers[0].env.get("PROMETHEUS_MULTIPROC_DIR"))
    return [server.scrape() for server in (servers[:1] if shared else servers)]


@dataclass(frozen=True)
class Targeted:
    """A targeted rate: each notification to one user, at random, with an open stream."""

    users: list[int]
    per_second: float
    duration: float
    processes: int


def targeted(run: Run, srv: list[Server], clients: Clients, load: Targeted) -> dict[str, Any]:
    """Publish ``load`` from its publisher processes; return what arrived, when, and what
    it cost the servers and Redis."""
    configs = [
        {
            "mode": "rate",
            "users": load.users,
            "rate": load.per_second / load.processes,
            "duration": load.duration,
            "seed": index,
            "index": index,
            "site": run.options.site,
        }
        for index in range(load.processes)
    ]
    scraped = scrape(srv)
    results, measured = publish(
        run,
        srv,
        clients,
        configs,
        timeout=load.duration + 60,
        expected=lambda results: sum(analysis.merge_sent(results).values()),
    )
    budget = analysis.latency_budget(scraped, scrape(srv))
    sent = analysis.merge_sent(results)
    got = analysis.delivery(clients.collect(), sent)
    seconds = max(r["seconds"] for r in results)
    return {
        "target_per_second": load.per_second,
        "sent": sum(sent.values()),
        "achieved_per_second": round(sum(sent.values()) / seconds, 1),
        "publishers": load.processes,
        "delivery": got.as_dict(),
        "per_notification": analysis.costs(
            measured["server_cpu_seconds_publishing"], measured, sum(sent.values())
        ),
        **analysis.publish_breakdown(results),
        **budget,
        **measured,
    }


def rate(
    run: Run, count: int, per_second: float | None = None, processes: int | None = None
) -> dict[str, Any]:
    """``count`` streams; ``--processes`` (or ``processes``) publishers send ``--rate``/s
    (or ``per_second``) to random ones for ``--duration``."""
    options = run.options
    default_rate, duration = options.rate_for("rate")
    load = Targeted(
        run.users[:count], per_second or default_rate, duration, processes or options.processes
    )
    with (
        servers(run, run.current_servers, "rate") as srv,
        Clients(options.clients_for(count), run.password_hash) as clients,
    ):
        result: dict[str, Any] = {
            "scenario": "rate",
            "servers": run.current_servers,
            "site": options.site,
        }
        result["idle"] = open_streams(run, srv, clients, specs(run, srv, count))
        result["rate"] = targeted(run, srv, clients, load)
        result["server_alive"] = all(s.alive() for s in srv)
        clients.close_streams()
    return result


def scale(run: Run, count: int) -> dict[str, Any]:
    """Opens, a targeted rate, then a broadcast, on the same ``count`` streams spread over
    the servers: what each costs the servers (all processes summed) and Redis, per open and
    per notification, for the process count and routing design of ``run``."""
    options = run.options
    per_second, duration = options.rate_for("scale")
    load = Targeted(run.users[:count], per_second, duration, options.processes)
    with (
        servers(run, run.current_servers, "scale") as srv,
        Clients(options.clients_for(count), run.password_hash) as clients,
    ):
        result: dict[str, Any] = {"scenario": "scale", "servers": run.current_servers}
        result["idle"] = open_streams(run, srv, clients, specs(run, srv, count))
        result["rate"] = targeted(run, srv, clients, load)
        clients.forget()
        opened = result["idle"]["opened"]
        result["broadcast"] = _broadcast(run, srv, clients, count, opened)
        result["server_alive"] = all(s.alive() for s in srv)
        clients.close_streams()
    return result


def sustained(run: Run, count: int) -> dict[str, Any]:
    """Step the rate up (``SUSTAINED_STEPS``), a fresh ``rate`` run each, until one misses
    p99 < ``SUSTAINED_P99_MS``, loses a notification, or its publishers fall behind; return
    every step and the last rate that met all three."""
    steps: list[dict[str, Any]] = []
    best = None
    for per_second in SUSTAINED_STEPS:
        processes = max(run.options.processes, math.ceil(per_second / PUBLISHER_RATE))
        r = rate(run, count, per_second, processes)["rate"]
        latency = r["delivery"]["latency_ms"]
        met = (
            latency["p99"] is not None
            and latency["p99"] < SUSTAINED_P99_MS
            and r["delivery"]["lost"] == 0
            and r["achieved_per_second"] >= SUSTAINED_ACHIEVED * per_second
        )
        steps.append(
            {
                "target_per_second": per_second,
                "achieved_per_second": r["achieved_per_second"],
                "publishers": processes,
                "lost": r["delivery"]["lost"],
                "latency_ms": latency,
                "met": met,
            }
        )
        if not met:
            break
        best = per_second
    return {"p99_under_ms": SUSTAINED_P99_MS, "steps": steps, "sustained_per_second": best}


def burst(run: Run) -> dict[str, Any]:
    """Five streams of one user; publishers send ``--burst`` notifications to it at once."""
    options = run.options
    with (
        servers(run, run.current_servers, "burst") as srv,
        Clients(1, run.password_hash) as clients,
    ):
        result: dict[str, Any] = {"scenario": "burst", "servers": run.current_servers}
        result["idle"] = open_streams(run, srv, clients, specs(run, srv, 5, user_index=0))
        shares = [options.burst // options.processes] * options.processes
        shares[0] += options.burst - sum(shares)
        configs = [
            {"mode": "burst", "user": run.users[0], "count": n, "index": i}
            for i, n in enumerate(shares)
        ]
        results, measured = publish(
            run, srv, clients, configs, timeout=120, expected=lambda _: options.burst * 5
        )
        collected = clients.collect()
        got = analysis.delivery(collected, analysis.merge_sent(results))
        complete = [
            _consecutive([int(seq) for seq, _, _ in notifications], options.burst)
            for reply in collected
            for _, _, _, _, notifications, _ in reply["streams"]
        ]
        last = max(got.arrivals, default=float("nan"))
        result["burst"] = {
            "notifications": options.burst,
            "streams": len(complete),
            "streams_with_all_in_order": sum(complete),
            "publishers": options.processes,
            "publish_seconds": round(max(r["seconds"] for r in results), 3),
            "last_arrival_seconds": round(last - measured["released_at"], 3),
            "delivery": got.as_dict(),
            **analysis.publish_breakdown(results),
            **measured,
        }
        result["server_alive"] = all(s.alive() for s in srv)
        clients.close_streams()
    return result


def _consecutive(seqs: list[int], count: int) -> bool:
    """Tell whether ``seqs`` is ``count`` consecutive numbers in increasing order."""
    return len(seqs) == count and seqs == list(range(seqs[0], seqs[0] + count))
