"""Server processes (daphne, or uvicorn to compare with), each with a raised open-files limit."""

from __future__ import annotations

import contextlib
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import procfs

ROOT = Path(__file__).resolve().parent.parent


def _raise_limit() -> None:
    # Runs in the child between fork and exec: the limit is inherited by daphne.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (65536, hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return


def _py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else "py-spy"


class Server:
    """One ``python -m notifications.serve`` (or uvicorn) process on a loopback port."""

    def __init__(
        self,
        port: int,
        env: dict[str, str],
        log: Path,
        app: str = "project.asgi:application",
        kind: str = "daphne",
    ) -> None:
        self.port = port
        self.app = app
        self.kind = kind
        # GET /metrics answers the bearer of this token: the run reads the servers' figures.
        self.metrics_token = env.get("METRICS_TOKEN") or secrets.token_urlsafe(24)
        self.env = {**env, "METRICS_TOKEN": self.metrics_token}
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None
        self.profiler: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_raise_limit, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.kind} on port {self.port} did not start:\n{self.tail()}"
                    ) from None
                time.sleep(0.1)

    def command(self) -> list[str]:
        if self.kind == "uvicorn":
            # Its access log is off: it would print stream tokens (see notifications.serve).
            # Lifespan stays on: it is how SIGTERM ends the streams (notifications.asgi).
            return [
                sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port),
                "--backlog", "1024", "--no-access-log", self.app,
            ]  # fmt: skip
        return [
            sys.executable, "-m", "notifications.serve", "-v", "1",
            "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog=1024", self.app,
        ]  # fmt: skip

    def profile(self, path: Path) -> None:
        """Sample the server's stacks with py-spy (collapsed format) until :meth:`stop`."""
        self.profiler = subprocess.Popen(
            [_py_spy(), "record", "--pid", str(self.pid), "--rate", "250", "--gil", "--nonblocking",
             "--format", "raw", "--output", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def stop_profile(self) -> None:
        profiler, self.profiler = self.profiler, None
        if profiler is not None:
            # SIGINT makes py-spy write what it has sampled.
            _end(profiler, signal.SIGINT, grace=30)

    def usage(self) -> procfs.Usage:
        return procfs.usage(self.pid)

    def scrape(self) -> str:
        """Return the server's ``GET /metrics``, in Prometheus's text format ("" if none)."""
        request = urllib.request.Request(
            f"{self.url}/metrics", headers={"Authorization": f"Bearer {self.metrics_token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return str(response.read().decode())
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the server (and its profiler): SIGTERM, then SIGKILL after a few seconds."""
        self.stop_profile()
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        _end(process, signal.SIGTERM, grace=8)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(start: int, count: int) -> list[int]:
    """Return ``count`` free loopback ports from ``start`` on (a bounded search)."""
    ports: list[int] = []
    for port in range(start, start + 200):
        if port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"no {count} free ports in {start}..{start + 199}")


def _end(process: subprocess.Popen[bytes], signum: int, *, grace: float) -> None:
    """Send ``signum``, then SIGKILL if ``process`` has not exited within ``grace`` seconds."""
    process.send_signal(signum)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
