"""The command line of the benchmark and the settings every process of a run shares."""

from __future__ import annotations

import argparse
import math
import os
import secrets
from dataclasses import dataclass, field

SCENARIOS = ("idle", "broadcast", "rate", "burst", "emails", "stalled", "scale")
# ``broadcast`` opens the 10,000 idle streams, measures them, then rings them all at once;
# with ``--streams 100000`` it is the broadcast to 100,000 of docs/PERFORMANCE.md.
# ``scale`` (not standard): opens, a targeted rate and a broadcast on the same streams, with
# what each costs per notification, for each process count and routing design.
# ``stalled`` (not standard): one client stops reading while it is sent 10,000 x 2 KB.
STANDARD = ("broadcast", "rate", "burst")
# ``emails`` opens no stream: it emails 10,000 users (see bench/emails.py).
STREAMS = {
    "idle": 10_000,
    "broadcast": 10_000,
    "rate": 1_000,
    "burst": 5,
    "emails": 10_000,
    "stalled": 1,
    "scale": 1_000,
}
MAX_STREAMS = 100_000
MAX_SERVERS = 8
# The targeted rate of ``rate`` and ``scale``: notifications/s and seconds, unless given.
RATES = {"rate": (500.0, 10.0), "scale": (400.0, 8.0)}
# Streams one client process holds at most: under the hard limit of open files (20,000 on
# the bench machine), and under the ~28,000 ephemeral ports of the loopback address it
# connects from.
STREAMS_PER_CLIENT = 15_000
# Open files a server or client process needs besides its streams' sockets.
SPARE_FILES = 500
OPEN_BUDGET = 90.0
# Opens/s the default budget counts on for large runs: 100,000 streams get 400 s.
BUDGET_OPENS_PER_SECOND = 250
# How messages reach the server processes (issue 22): ``user`` is the product's per-user
# routes (``NOTIFICATIONS["ROUTED_FANOUT"]``, 64 unless ``--env`` says otherwise); ``group``
# is the design before them, every message to every process, for the comparison.
ROUTED_FANOUT = "NOTIFICATIONS_ROUTED_FANOUT"
ROUTINGS: dict[str, dict[str, str]] = {"user": {}, "group": {ROUTED_FANOUT: "0"}}
USER_PREFIX = "bench-"
# The ASGI server of the run: the project's (daphne), or uvicorn to compare with.
SERVERS = ("daphne", "uvicorn")
# What the streams connect to: the product's stream, or a floor to compare it with.
ENDPOINTS = {
    "stream": ("project.asgi:application", "/api/events/"),
    "bare-view-floor": ("bench.floor:application", "/bench/bare/"),
    "django-floor": ("bench.floor:application", "/bench/floor/"),
    "django-floor-db": ("bench.floor:application", "/bench/floor/db/"),
    "django-floor-db-layer": ("bench.floor:application", "/bench/floor/db+layer/"),
    "site-floor": ("bench.floor:application", "/bench/site-floor/"),
    "raw-floor": ("bench.floor:application", "/bench/raw/"),
}
# What is served: the product, or django-eventstream as a peer to compare delivery with
# (bench/peer/, in a database of its own; the ``rate`` scenario only).
SITES = ("ours", "peer")
PEER_DATABASE = "bench_peer"
PEER_SETTINGS = "bench.peer.settings"
PEER_ENDPOINT = ("bench.peer.asgi:application", "/events/")


@dataclass(frozen=True)
class Options:
    scenarios: tuple[str, ...]
    servers: tuple[int, ...]
    streams: int | None
    rate: float | None
    duration: float | None
    processes: int
    clients: int | None
    burst: int
    open_concurrency: int
    open_budget: float | None
    postgres: str
    database: str
    redis_url: str
    heartbeat: float
    pool_size: int
    base_port: int
    output: str | None
    recreate_db: bool
    profile: bool = False
    find_sustained: bool = False
    endpoint: str = "stream"
    server: str = "daphne"
    auth: str = "ticket"
    site: str = "ours"
    # The routing designs to run (``--routing``), and the one of the run under way.
    routings: tuple[str, ...] = ("user",)
    routing: str = "user"
    extra_env: dict[str, str] = field(default_factory=dict)
    # The servers run with DEBUG=0, which needs a key of their own; the tool mints the
    # streams' tokens with the same one. SECRET_KEY from the environment wins.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))

    def streams_for(self, scenario: str) -> int:
        if scenario == "burst":
            return STREAMS["burst"]
        return self.streams if self.streams is not None else STREAMS[scenario]

    def clients_for(self, streams: int) -> int:
        """``--clients``, else 1 process (2 above 2,000 streams), and enough for the streams."""
        if self.clients is not None:
            return self.clients
        return max(1 if streams <= 2_000 else 2, math.ceil(streams / STREAMS_PER_CLIENT))

    def rate_for(self, scenario: str) -> tuple[float, float]:
        """Return the notifications/s and seconds of ``scenario``'s targeted rate."""
        rate, duration = RATES.get(scenario, RATES["rate"])
        return self.rate or rate, self.duration or duration

    def open_budget_for(self, streams: int) -> float:
        """``--open-budget``, else 90 s, or more for a run too large to open in 90 s."""
        if self.open_budget is not None:
            return self.open_budget
        return max(OPEN_BUDGET, streams / BUDGET_OPENS_PER_SECOND)

    def open_files_problem(self, limit: int) -> str | None:
        """Say why a process of this run would run out of open files under ``limit``.

        Each stream is a socket in one server process and in one client process; the hard
        limit of open files is a ceiling that only a privileged process can raise.
        """
        streams = max(self.streams_for(s) for s in self.scenarios)
        per_server = math.ceil(streams / min(self.servers))
        per_client = math.ceil(streams / self.clients_for(streams))
        if per_server + SPARE_FILES > limit:
            return (
                f"{streams} streams over {min(self.servers)} server process(es) is "
                f"{per_server} per process, over the {limit} open files a process may have "
                "here: use more server processes (--servers)"
            )
        if per_client + SPARE_FILES > limit:
            return (
                f"{per_client} streams per client process is over the {limit} open files "
                "a process may have here: use more client processes (--clients)"
            )
        return None

    @property
    def settings_module(self) -> str:
        """``project.settings`` unless a comparison needs the bench's additions or the peer."""
        if self.site == "peer":
            return PEER_SETTINGS
        if self.endpoint == "stream":
            return "project.settings"
        return "bench.settings"

    @property
    def application(self) -> str:
        return PEER_ENDPOINT[0] if self.site == "peer" else ENDPOINTS[self.endpoint][0]

    @property
    def path(self) -> str:
        return PEER_ENDPOINT[1] if self.site == "peer" else ENDPOINTS[self.endpoint][1]

    @property
    def served_database(self) -> str:
        """The database of what is served: the product's, or the peer's own."""
        return PEER_DATABASE if self.site == "peer" else self.database

    def database_url(self, database: str) -> str:
        return f"{self.postgres.rstrip('/')}/{database}"

    def env(self, role: str) -> dict[str, str]:
        """Return the environment of a process of the run: ``tool``, ``server-P``, ``publisher``.

        Each role names its PostgreSQL connections (``application_name``), so the count of
        connections in use can be split by who holds them. The tool itself always runs the
        product's settings in its database: the ids of its users name the peer's channels too.
        """
        tool = role == "tool"
        settings = "project.settings" if tool and self.site == "peer" else self.settings_module
        database = self.database if tool else self.served_database
        # The routing design is the run's (``--routing``, or ``--env``), never inherited.
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != ROUTED_FANOUT
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": settings,
                "DATABASE_URL": f"{self.database_url(database)}?application_name=bench-{role}",
                "REDIS_URL": self.redis_url,
                "CHANNELS_PREFIX": "bench",
                "DEBUG": "0",
                "SECRET_KEY": os.environ.get("SECRET_KEY") or self.secret_key,
                "NOTIFICATIONS_HEARTBEAT_SECONDS": f"{self.heartbeat:g}",
                "DATABASE_POOL_SIZE": str(self.pool_size),
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
                **ROUTINGS[self.routing],
            }
        )
        return env


def parse(argv: list[str] | None = None) -> Options:
    parser = _parser()
    args = parser.parse_args(argv)
    servers = _checked(parser, args)
    extra = dict(item.split("=", 1) for item in args.env if "=" in item)
    return Options(
        scenarios=tuple(args.scenario or STANDARD),
        servers=servers,
        streams=args.streams,
        rate=args.rate,
        duration=args.duration,
        processes=args.processes,
        clients=args.clients,
        burst=args.burst,
        open_concurrency=args.open_concurrency,
        open_budget=args.open_budget,
        postgres=args.postgres,
        database=args.database,
        redis_url=args.redis_url,
        heartbeat=args.heartbeat,
        pool_size=args.pool_size,
        base_port=args.base_port,
        output=args.output,
        recreate_db=args.recreate_db,
        profile=args.profile,
        find_sustained=args.find_sustained,
        endpoint=args.endpoint,
        server=args.server,
        auth=args.auth,
        site=args.site,
        routings=("group", "user") if args.routing == "both" else (args.routing,),
        routing="group" if args.routing == "group" else "user",
        extra_env=extra,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load-test the notification stream: daphne + Redis + PostgreSQL, here.",
    )
    _load_arguments(parser)
    _setup_arguments(parser)
    _mode_arguments(parser)
    return parser


def _load_arguments(parser: argparse.ArgumentParser) -> None:
    """What each scenario asks of the servers: streams, rates, bursts, opens."""
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help=f"run this scenario (repeatable); default: {', '.join(STANDARD)}",
    )
    parser.add_argument(
        "--servers",
        default="1,2",
        help=f"daphne process counts to run each scenario with, comma-separated, from 1 to "
        f"{MAX_SERVERS} (default 1,2)",
    )
    parser.add_argument(
        "--streams",
        type=int,
        help="streams for idle/broadcast/rate/scale (default 10000, 10000, 1000, 1000); "
        "burst uses 5",
    )
    parser.add_argument(
        "--rate", type=float, help="notifications/s of 'rate' and 'scale' (default 500, 400)"
    )
    parser.add_argument(
        "--duration", type=float, help="seconds of 'rate' and 'scale' (default 10, 8)"
    )
    parser.add_argument(
        "--routing",
        choices=("user", "group", "both"),
        default="user",
        help="how messages reach the servers: per-user routes (default), 'group': every "
        f"message to every process ({ROUTED_FANOUT}=0 for servers and publishers), or "
        "'both': each process count under both, side by side",
    )
    parser.add_argument("--processes", type=int, default=2, help="publisher processes")
    parser.add_argument("--clients", type=int, help="client processes (default 1, 2 above 2000)")
    parser.add_argument("--burst", type=int, default=500, help="notifications in 'burst'")
    parser.add_argument(
        "--open-concurrency", type=int, default=200, help="streams being opened at once, in all"
    )
    parser.add_argument(
        "--open-budget",
        type=float,
        help="seconds allowed for opening the streams; later ones count as failed (default "
        f"90, or 1 s per {BUDGET_OPENS_PER_SECOND} streams above that)",
    )


def _setup_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the bench runs: its database, Redis, ports and output."""
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="bench_notifications")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--heartbeat", type=float, default=30, help="heartbeat seconds")
    parser.add_argument("--pool-size", type=int, default=8, help="DATABASE_POOL_SIZE per server")
    parser.add_argument("--base-port", type=int, default=8101, help="first daphne port")
    parser.add_argument("--output", help="also write the JSON summary to this file")
    parser.add_argument(
        "--recreate-db", action="store_true", help="drop and recreate the bench database first"
    )


def _mode_arguments(parser: argparse.ArgumentParser) -> None:
    """What is served and how it is driven: the endpoint, the server, the site, profiling."""
    parser.add_argument(
        "--endpoint",
        choices=sorted(ENDPOINTS),
        default="stream",
        help="connect to the stream, or to a floor to compare with (see bench/floor.py); "
        "idle scenario only",
    )
    parser.add_argument(
        "--server",
        choices=SERVERS,
        default="daphne",
        help="serve with daphne (python -m notifications.serve), or uvicorn to compare with",
    )
    parser.add_argument(
        "--auth",
        choices=("ticket", "bearer"),
        default="ticket",
        help="streams authenticate with a stream ticket in ?token= (default) or a Bearer "
        "access token",
    )
    parser.add_argument(
        "--site",
        choices=SITES,
        default="ours",
        help="serve the product, or 'peer': django-eventstream (its database storage and its "
        "Redis listener) under plain daphne, driven by the same clients and publishers; "
        "rate scenario only",
    )
    parser.add_argument(
        "--find-sustained",
        action="store_true",
        help="after 'rate', step the rate up (500, 750, 1000, 1500, 2000...), a fresh run "
        "each, and report the highest with p99 under 20 ms and nothing lost",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample each daphne with py-spy; collapsed stacks are written next to the logs",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the servers and publishers (repeatable)",
    )


def _checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[int, ...]:
    """Refuse options that do not go together; return the server counts."""
    servers = tuple(int(s) for s in args.servers.split(",") if s.strip())
    if not servers or any(not 1 <= s <= MAX_SERVERS for s in servers):
        parser.error(f"--servers takes counts from 1 to {MAX_SERVERS}, e.g. 1,2")
    if args.streams is not None and not 1 <= args.streams <= MAX_STREAMS:
        parser.error(f"--streams must be between 1 and {MAX_STREAMS}")
    rate = 1 if args.rate is None else args.rate
    duration = 1 if args.duration is None else args.duration
    if args.processes < 1 or rate <= 0 or not 0 < duration <= 120:
        parser.error("--processes, --rate must be positive and --duration in (0, 120]")
    if "bench" not in args.database:
        parser.error("--database must name a dedicated bench database (contain 'bench')")
    if args.endpoint != "stream" and set(args.scenario or STANDARD) != {"idle"}:
        parser.error("--endpoint other than 'stream' only goes with --scenario idle")
    if args.site == "peer" and set(args.scenario or STANDARD) != {"rate"}:
        parser.error("--site peer only goes with --scenario rate")
    if args.site == "peer" and (args.server, args.auth) != ("daphne", "ticket"):
        parser.error("--site peer is served by daphne and read by channel: no --server, --auth")
    return servers
