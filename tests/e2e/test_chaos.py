"""The fault suite: nothing lost, nothing duplicated, order kept, whatever breaks.

Two daphne processes share one private redis-server and one private PostgreSQL. Readers,
several streams per user, resume at random against either process; publishers in other
processes commit notifications, rolling some transactions back on purpose. Meanwhile one
daphne is SIGKILLed and restarted, the other SIGTERMed and restarted, Redis is killed and
restarted, and PostgreSQL is stopped and started. At the end every stream must have received
exactly its user's committed notifications, each once, in ``seq`` order, and ``seq`` must
run 1..n without holes. Each seed draws its own fault schedule and client behaviour.

``CHAOS_SEEDS=N`` runs seeds 1..N (default 2), ``CHAOS_SEED=S`` only seed S; ``make chaos
SEEDS=100`` runs this file alone with many seeds. ``CHAOS_REPORT=file`` appends each run's
counts to ``file`` as JSON lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from notifications.models import Notification
from tests.conftest import RedisServer, started
from tests.e2e.chaos.faults import Cluster, Fault, schedule
from tests.e2e.chaos.postgres import PostgresServer, cannot_run_reason
from tests.e2e.chaos.reader import Reader, reading
from tests.e2e.chaos.verdict import Ledger, Rows, check_database, check_reader
from tests.e2e.conftest import ROOT, Server, manage, subprocess_env

pytestmark = pytest.mark.e2e

USERS = 4
# One fewer than the per-user limit (5), so that slots left behind by a killed process push
# some reconnects over the limit (429) until their leases run out.
STREAMS_PER_USER = 4
# Each pauses 0.125-0.5 s between transactions (about 2.8 notifications each): at most about
# 7 notifications a second per user, whatever the machine's speed, so a stream would have
# to be away for half a minute to fall further behind than the replay window (REPLAY_LIMIT,
# 200) and be sent `resync`, which the verdict counts as a failure. Away that long is a bug.
PUBLISHERS = 3
# Publishing goes on this long after the last fault has been repaired.
AFTER_FAULTS_SECONDS = 2.0
# Bounds: faults are drawn within the first FAULT_WINDOW seconds; the readers must have
# everything within SETTLE_SECONDS of the last commit.
FAULT_WINDOW_SECONDS = 16.0
SETTLE_SECONDS = 60.0
TEMPLATE = "chaos_template"


def seeds() -> list[int]:
    if os.environ.get("CHAOS_SEED"):
        return [int(os.environ["CHAOS_SEED"])]
    return list(range(1, int(os.environ.get("CHAOS_SEEDS", "2")) + 1))


@pytest.fixture(scope="session")
def chaos_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster with a migrated template database each run copies."""
    reason = cannot_run_reason() or (
        None if shutil.which("redis-server") else "redis-server is not on PATH"
    )
    if reason:
        pytest.skip(reason)
    with started(PostgresServer) as start:
        postgres = start()
        url = postgres.create_database(TEMPLATE)
        result = manage("migrate", "--no-input", env=subprocess_env(DATABASE_URL=url))
        assert result.returncode == 0, result.stderr
        yield postgres


@pytest.fixture(scope="session")
def chaos_runs() -> Iterator[list[dict[str, Any]]]:
    """Each run's counts; their totals are printed at the end of the session (``-s``)."""
    runs: list[dict[str, Any]] = []
    yield runs
    if runs:
        totals = {k: sum(r[k] for r in runs) for k in ("sent", "committed", "rolled_back")}
        totals |= {k: sum(r[k] for r in runs) for k in ("received", "lost", "duplicated")}
        longest = max(r["seconds"] for r in runs)
        print(f"\nchaos totals: {len(runs)} runs, {json.dumps(totals)}, longest {longest} s")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", seeds())
async def test_faults_lose_nothing_and_duplicate_nothing(
    seed: int,
    chaos_postgres: PostgresServer,
    chaos_runs: list[dict[str, Any]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx")  # a line per reconnect otherwise
    began = time.monotonic()
    chaos_postgres.ensure_running()
    database = f"chaos_{seed}_{uuid.uuid4().hex[:8]}"
    database_url = chaos_postgres.create_database(database, template=TEMPLATE)
    with contextlib.ExitStack() as stack:
        stack.callback(chaos_postgres.drop_database, database)
        stack.callback(chaos_postgres.copy_log, tmp_path / "postgres.log")
        redis = stack.enter_context(started(lambda: RedisServer(tmp_path)))()
        env = subprocess_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis.url,
            NOTIFICATIONS_HEARTBEAT_SECONDS="1",
            DATABASE_POOL_SIZE="4",
        )
        users = worker_json(env, "users", "--count", str(USERS))
        start = stack.enter_context(started(Server))
        daphnes = [start(env, tmp_path / f"daphne-{n}.log") for n in range(2)]
        cluster = Cluster(daphnes, redis, chaos_postgres)
        rng = random.Random(seed)
        readers = [
            Reader(f"stream {n} of user {u['id']}", u["id"], u["token"],
                   servers=lambda: [d.url for d in daphnes], rng=random.Random(rng.random()))
            for u in users
            for n in range(STREAMS_PER_USER)
        ]  # fmt: skip
        faults = schedule(rng, seconds=FAULT_WINDOW_SECONDS)
        async with asyncio.timeout(420), reading(readers) as tasks:
            ledger, rows = await run_faults_under_load(
                cluster, faults, env, [u["id"] for u in users], seed, tmp_path, stack
            )
            await settle(readers, rows, tasks)
    counts = judge(seed, ledger, rows, readers, cluster, tmp_path, time.monotonic() - began)
    chaos_runs.append(counts)


async def run_faults_under_load(
    cluster: Cluster,
    faults: list[Fault],
    env: dict[str, str],
    user_ids: list[int],
    seed: int,
    logs: Path,
    stack: contextlib.ExitStack,
) -> tuple[Ledger, Rows]:
    """Publish while the faults happen; return what committed and what the database holds."""
    stop = logs / "stop-publishing"
    outs = [logs / f"publisher-{n}.jsonl" for n in range(PUBLISHERS)]
    publishers = [
        stack.enter_context(
            spawned(
                env, logs / f"publisher-{n}.log", "publish", "--name", f"p{n}",
                "--seed", str(seed), "--users", ",".join(map(str, user_ids)),
                "--stop", str(stop), "--out", str(out),
            )
        )
        for n, out in enumerate(outs)
    ]  # fmt: skip
    cluster.started_at = time.monotonic()
    cluster.note("publishing")
    for fault in faults:
        await asyncio.sleep(fault.at - (time.monotonic() - cluster.started_at))
        await asyncio.to_thread(cluster.inflict, fault)
    await asyncio.sleep(AFTER_FAULTS_SECONDS)
    stop.touch()
    for publisher in publishers:
        code = await asyncio.to_thread(publisher.wait, 120)
        assert code == 0, f"publisher failed ({publisher.args}): see {logs}"
    cluster.note("publishers done")
    result = await asyncio.to_thread(worker, env, "finish")
    assert result.returncode == 0, result.stderr
    rows = await asyncio.to_thread(stored_rows, env["DATABASE_URL"])
    return Ledger.read(outs, user_ids), rows


async def settle(readers: list[Reader], rows: Rows, tasks: list[asyncio.Task[None]]) -> None:
    """Wait, bounded, until every reader has seen its user's last stored ``seq``."""
    waiting = asyncio.ensure_future(
        asyncio.gather(*(r.wait_for(len(rows.get(r.user_id, []))) for r in readers))
    )
    done, _ = await asyncio.wait(
        [waiting, *tasks], timeout=SETTLE_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    for task in done:
        if task is not waiting:
            task.result()  # a reader crashed: show why
            raise AssertionError(f"{task.get_name()} ended")


@contextlib.contextmanager
def spawned(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run the worker in the background; kill it if it is still running on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.chaos.worker", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.e2e.chaos.worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def worker_json(env: dict[str, str], *args: str) -> Any:
    result = worker(env, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def stored_rows(database_url: str) -> Rows:
    """Every stored notification as ``(seq, marker)``, per user, in seq order."""
    rows: Rows = {}
    query = (
        f"SELECT recipient_id, seq, data->>'marker' FROM {Notification._meta.db_table}"
        " ORDER BY recipient_id, seq"
    )
    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as db:
        for user_id, seq, marker in db.execute(query):
            rows.setdefault(user_id, []).append((seq, marker))
    return rows


def judge(
    seed: int,
    ledger: Ledger,
    rows: Rows,
    readers: list[Reader],
    cluster: Cluster,
    logs: Path,
    seconds: float,
) -> dict[str, Any]:
    """Report the run's counts; fail with every problem found, per user and stream."""
    problems = check_database(ledger, rows)
    tallies = [
        check_reader(r, rows.get(r.user_id, []), ledger.rolled_back[r.user_id]) for r in readers
    ]
    counts = {
        "seed": seed,
        "seconds": round(seconds, 1),
        "transactions": dict(ledger.transactions),
        "sent": ledger.count("committed") + ledger.count("rolled_back"),
        "committed": ledger.count("committed"),
        "rolled_back": ledger.count("rolled_back"),
        "streams": len(readers),
        "received": sum(len(r.received) for r in readers),
        "lost": sum(t.lost for t in tallies),
        "duplicated": sum(t.duplicated for t in tallies),
        "connections": sum(r.connections for r in readers),
        "outcomes": dict(sum((r.outcomes for r in readers), start=type(readers[0].outcomes)())),
        "timeline": cluster.timeline,
    }
    print(f"chaos {json.dumps(counts)}")
    if os.environ.get("CHAOS_REPORT"):
        with open(os.environ["CHAOS_REPORT"], "a") as report:
            report.write(json.dumps(counts) + "\n")
    problems += [p for t in tallies for p in t.problems]
    assert not problems, "\n".join(
        [f"seed {seed} (rerun: make chaos SEED={seed}); logs in {logs}", *cluster.timeline]
        + problems[:60]
    )
    return counts
