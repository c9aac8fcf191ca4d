"""The bench database: created and migrated by the tool, users made in bulk, connections counted.

Everything happens in a database of its own (``bench_notifications``), never in ``test``;
the peer of ``--site peer`` has another (``bench_peer``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from bench.options import USER_PREFIX, Options
from bench.server import ROOT

PEER_TABLES = ("django_eventstream_event", "django_eventstream_eventcounter")


def ensure_database(options: Options, database: str | None = None) -> None:
    """Create the bench database if it is missing (drop it first with ``--recreate-db``)."""
    database = database or options.database
    with psycopg.connect(options.database_url("postgres"), autocommit=True) as conn:
        name = sql.Identifier(database)
        if options.recreate_db:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def prepare_peer(options: Options) -> None:
    """Create and migrate the peer's database, and empty its event log, as for the product.

    The peer has settings of its own, which this process (set up with the product's) cannot
    load: its ``migrate`` runs in a child process.
    """
    ensure_database(options, options.served_database)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0", "--no-input"],
        cwd=ROOT, env=options.env("peer-migrate"), check=True, timeout=120,
    )  # fmt: skip
    with psycopg.connect(options.database_url(options.served_database)) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, PEER_TABLES)))
        )


def setup_django(options: Options) -> None:
    """Configure Django in this process against the bench database, without a pool.

    The tool's own connections must not linger in a pool and be counted as the server's.
    """
    os.environ.update(options.env("tool"))
    from django.conf import settings

    settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def ensure_users(count: int) -> tuple[list[int], str]:
    """Make sure users ``bench-00000``... exist; return the first ``count`` ids and the hash.

    Every bench user has the same password hash, so tickets can be minted anywhere from
    ``(id, hash)`` without reading the database.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connections

    user_model = get_user_model()
    names = [f"{USER_PREFIX}{i:05d}" for i in range(count)]
    ours = user_model.objects.filter(username__in=names)
    try:
        existing = dict(ours.values_list("username", "password"))
        password_hash = existing.get(names[0]) or make_password("bench-password")
        missing = [name for name in names if name not in existing]
        if missing:
            user_model.objects.bulk_create(
                [user_model(username=name, password=password_hash) for name in missing],
                batch_size=2_000,
            )
        ours.exclude(password=password_hash).update(password=password_hash)
        ours.filter(is_active=False).update(is_active=True)
        rows = dict(ours.values_list("username", "pk"))
        return [rows[name] for name in names], password_hash
    finally:
        connections.close_all()


def reset_log() -> None:
    """Empty the notification log, so each run starts from the same, small tables."""
    from django.db import connection, connections

    from notifications.models import Notification, StreamCounter

    try:
        with connection.cursor() as cursor:
            tables = ", ".join(
                connection.ops.quote_name(m._meta.db_table) for m in (Notification, StreamCounter)
            )
            cursor.execute(f"TRUNCATE {tables}")
    finally:
        connections.close_all()


@dataclass
class Connections:
    """PostgreSQL connections to the bench database, by ``application_name``.

    ``active`` counts those running a statement or inside a transaction: the rest sit idle
    in a pool.
    """

    now: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    peak_total: int = 0
    active: int = 0
    peak_active: int = 0

    def total(self, prefix: str = "") -> int:
        return sum(n for app, n in self.now.items() if app.startswith(prefix))


class ConnectionSampler:
    """Count connections to the bench database every ``interval`` seconds, in a thread."""

    def __init__(self, options: Options, interval: float = 0.1) -> None:
        self.dsn = options.database_url("postgres")
        self.database = options.served_database
        self.interval = interval
        self.state = Connections()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="pg-sampler", daemon=True)

    def __enter__(self) -> ConnectionSampler:
        self._conn = psycopg.connect(self.dsn, autocommit=True)
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()

    def sample(self) -> Connections:
        with self._lock:
            rows = self._conn.execute(
                "SELECT coalesce(application_name, ''), count(*), "
                "count(*) FILTER (WHERE state IS DISTINCT FROM 'idle') "
                "FROM pg_stat_activity WHERE datname = %s GROUP BY 1",
                [self.database],
            ).fetchall()
            now = Counter({app: n for app, n, _ in rows})
            state = self.state
            state.now = dict(now)
            state.active = sum(active for _, _, active in rows)
            state.peak_active = max(state.peak_active, state.active)
            for app, n in now.items():
                state.peak[app] = max(state.peak.get(app, 0), n)
            state.peak_total = max(state.peak_total, sum(now.values()))
            return state

    def reset_peak(self) -> None:
        with self._lock:
            self.state.peak = dict(self.state.now)
            self.state.peak_total = sum(self.state.now.values())
            self.state.peak_active = self.state.active

    def _run(self) -> None:
        deadline = time.monotonic() + 3_600
        while not self._stop.wait(self.interval) and time.monotonic() < deadline:
            try:
                self.sample()
            except psycopg.Error:
                return
