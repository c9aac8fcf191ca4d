"""The faults of one run, drawn from its seed, and how each is done to the real processes."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from dataclasses import dataclass, field

from tests.conftest import LocalServer, RedisServer
from tests.e2e.chaos.postgres import PostgresServer
from tests.e2e.chaos.reader import now
from tests.e2e.conftest import Server

# How long a SIGTERMed daphne may take to end its streams and exit before it is killed.
TERM_GRACE_SECONDS = 15.0


@dataclass(frozen=True)
class Fault:
    """``kind`` at ``at`` seconds into the run; the victim is down for ``down`` seconds."""

    at: float
    kind: str
    down: float
    target: int = 0
    mode: str = ""

    def __str__(self) -> str:
        victim = f" daphne {self.target}" if self.kind in ("sigkill", "sigterm") else ""
        mode = f" ({self.mode})" if self.mode else ""
        return f"{self.kind}{victim}{mode}, down {self.down:.1f}s (due at {self.at:.1f}s)"


def schedule(rng: random.Random, *, seconds: float) -> list[Fault]:
    """One of each fault, in random order at random times within the first ``seconds``."""
    killed = rng.randrange(2)
    kinds = ["sigkill", "sigterm", "redis", "postgres"]
    rng.shuffle(kinds)
    times = sorted(rng.uniform(1.0, seconds) for _ in kinds)
    faults = []
    for at, kind in zip(times, kinds, strict=True):
        if kind == "sigkill":
            faults.append(Fault(at, kind, rng.uniform(0.2, 2.0), target=killed))
        elif kind == "sigterm":
            faults.append(Fault(at, kind, rng.uniform(0.2, 2.0), target=1 - killed))
        elif kind == "redis":
            faults.append(Fault(at, kind, rng.uniform(0.5, 3.0)))
        else:
            mode = rng.choice(["fast", "immediate"])
            faults.append(Fault(at, kind, rng.uniform(0.2, 2.0), mode=mode))
    return faults


@dataclass
class Cluster:
    """The processes a run breaks, and what happened to them (for the failure message)."""

    daphnes: list[Server]
    redis: RedisServer
    postgres: PostgresServer
    started_at: float = field(default_factory=time.monotonic)
    timeline: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.timeline.append(f"{now():6.1f}s {text}")

    def inflict(self, fault: Fault) -> None:
        """Do ``fault`` and bring the victim back (blocking: run it in a thread)."""
        self.note(f"begin {fault}")
        if fault.kind in ("sigkill", "sigterm"):
            server = self.daphnes[fault.target]
            sig = signal.SIGKILL if fault.kind == "sigkill" else signal.SIGTERM
            self.note(f"daphne {fault.target} {halt(server, sig)}")
            server.log.close()
            time.sleep(fault.down)
            server.start()
        elif fault.kind == "redis":
            self.note(f"redis {halt(self.redis, signal.SIGKILL)}")
            time.sleep(fault.down)
            self.redis.start()
        else:
            self.postgres.halt(fault.mode)
            time.sleep(fault.down)
            self.postgres.start()
        self.note(f"end {fault.kind}")


def halt(server: LocalServer, sig: signal.Signals) -> str:
    """Send ``sig``; kill the process if it has not exited in time. Say what happened."""
    assert server.process is not None
    process, server.process = server.process, None
    sent = time.monotonic()
    process.send_signal(sig)
    try:
        process.wait(timeout=TERM_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"did not exit {TERM_GRACE_SECONDS:.0f}s after {sig.name}: killed"
    return f"exited {time.monotonic() - sent:.2f}s after {sig.name}"
