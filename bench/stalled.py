"""The ``stalled`` scenario: one stream whose client stops reading while it is sent 10,000
notifications of 2 KB, with the server's bound on what may wait for it and without.

The client is a plain socket with a small receive buffer: it reads the response headers
and the first event, then nothing more. The server's resident size is read before, at its
peak while the notifications are published, once they are all sent, and after the client
has gone. Without the bound (``SLOW_CLIENT_BUFFER_BYTES`` set out of reach) daphne keeps
everything the stream was sent; with it, the stream is closed at about 1 MiB waiting.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from typing import Any

from bench import procfs, tickets
from bench.clients import Clients
from bench.options import Options
from bench.publishers import Publishers
from bench.scenarios import Run, servers, warm_up
from bench.server import Server

NOTIFICATIONS = 10_000
BODY = "x" * 2048
RECEIVE_BUFFER = 4096
SETTLE_SECONDS = 3.0
# ``SLOW_CLIENT_BUFFER_BYTES`` for the run without a bound: more than the run can send.
OUT_OF_REACH = str(1 << 40)
CLOSED = "Closed a stream whose client stopped reading"


def stalled(run: Run) -> dict[str, Any]:
    """Measure a stalled stream with the default bound, then with the bound out of reach."""
    result: dict[str, Any] = {"scenario": "stalled", "servers": 1}
    for name, limit in (("bounded", None), ("unbounded", OUT_OF_REACH)):
        extra = {} if limit is None else {"NOTIFICATIONS_SLOW_CLIENT_BUFFER_BYTES": limit}
        options = dataclasses.replace(run.options, extra_env={**run.options.extra_env, **extra})
        result[name] = _stall(dataclasses.replace(run, options=options), name)
    return result


def _stall(run: Run, name: str) -> dict[str, Any]:
    with (
        servers(run, 1, f"stalled-{name}") as [server],
        Clients(1, run.password_hash) as clients,
    ):
        warm_up(run, [server], clients)
        user = run.users[0]
        client = _open_and_stop_reading(server, tickets.mint(user, run.password_hash))
        time.sleep(1)
        before = server.usage().rss_kb
        peak = Peak(server)
        config = {"mode": "burst", "user": user, "count": NOTIFICATIONS, "index": 0, "body": BODY}
        with peak, Publishers([config], run.options.env("publisher"), run.logs / "pub.log") as p:
            p.ready()
            p.go()
            [published] = p.results(timeout=600)
        time.sleep(SETTLE_SECONDS)
        sent = server.usage().rss_kb
        closed_by_server = CLOSED in server.tail(200)
        client.close()
        time.sleep(SETTLE_SECONDS)
        after = server.usage().rss_kb
        return {
            "limit": _limit(run.options),
            "notifications": NOTIFICATIONS,
            "body_bytes": len(BODY),
            "publish_seconds": round(published["seconds"], 1),
            "closed_by_server": closed_by_server,
            "server_rss_mb_before": round(before / 1024, 1),
            "server_rss_mb_peak": round(peak.kb / 1024, 1),
            "server_rss_mb_all_sent": round(sent / 1024, 1),
            "server_rss_mb_after_client_gone": round(after / 1024, 1),
            "server_alive": server.alive(),
        }


def _limit(options: Options) -> str:
    return options.extra_env.get("NOTIFICATIONS_SLOW_CLIENT_BUFFER_BYTES", "1048576 (default)")


def _open_and_stop_reading(server: Server, ticket: str) -> socket.socket:
    """Open the stream, read until its first event has begun, then read no more."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        f"GET /api/events/?token={ticket} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    received = b""
    while b"event: connected" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError(f"the stream ended before its first event: {received[:200]!r}")
        received += chunk
    if not received.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"the stream did not open: {received[:200]!r}")
    return sock


class Peak:
    """The highest resident size of a server, sampled every 50 ms while in the block."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.is_set():
            self.kb = max(self.kb, procfs.usage(self.server.pid).rss_kb)
            self._done.wait(0.05)
