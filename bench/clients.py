"""The tool's handle on its client processes: start, command, stop."""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bench.client import Spec, worker_main

REPLY_TIMEOUT = 300.0


def loopback_source(index: int) -> str:
    """Return the address client process ``index`` connects from: 127.0.0.2, .3, ...

    Linux answers on all of 127.0.0.0/8 without configuration; each address brings its own
    range of ephemeral ports (about 28,000), which one process's streams stay well under.
    """
    if not 0 <= index < 253:
        raise ValueError(f"no loopback address for client process {index}")
    return f"127.0.0.{index + 2}"


class ClientError(RuntimeError):
    """A client process died or did not answer in time."""


class Clients:
    """Client processes, each with its own asyncio loop and share of the streams."""

    def __init__(self, count: int, password_hash: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.processes: list[BaseProcess] = []
        self.progress = [context.Value("q", 0, lock=False) for _ in range(count)]
        for index in range(count):
            parent, child = context.Pipe()
            process = context.Process(
                target=worker_main,
                args=(child, password_hash, self.progress[index], loopback_source(index)),
                name=f"bench-client-{index}",
                daemon=True,
            )
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)

    @property
    def sources(self) -> list[str]:
        """The loopback addresses the processes connect from, one each."""
        return [loopback_source(index) for index in range(len(self.processes))]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def opened(self) -> int:
        """Return how many streams the processes have opened so far (readable any time)."""
        return sum(value.value for value in self.progress)

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ask(self, commands: list[tuple[str, Any]], timeout: float = REPLY_TIMEOUT) -> list[Any]:
        for conn, command in zip(self.conns, commands, strict=True):
            conn.send(command)
        deadline = time.monotonic() + timeout
        replies = []
        for conn, process in zip(self.conns, self.processes, strict=True):
            while not conn.poll(0.2):
                if not process.is_alive():
                    raise ClientError(f"{process.name} exited with {process.exitcode}")
                if time.monotonic() > deadline:
                    raise ClientError(f"{process.name} did not answer {commands[0][0]!r}")
            replies.append(conn.recv())
        return replies

    def _all(self, name: str, argument: Any = None, timeout: float = REPLY_TIMEOUT) -> list[Any]:
        return self._ask([(name, argument)] * len(self.conns), timeout)

    def open(self, specs: list[Spec], concurrency: int, budget: float) -> list[dict[str, Any]]:
        """Open ``specs`` spread over the processes; return once each is open or failed.

        Streams not open after ``budget`` seconds are abandoned and counted as failed.
        """
        n = len(self.conns)
        share = max(1, concurrency // n)
        return self._ask(
            [("open", (specs[i::n], share, budget)) for i in range(n)], timeout=budget + 60
        )

    def count(self) -> int:
        """Return the notifications received so far, in all processes."""
        return sum(reply["notifications"] for reply in self._all("count", timeout=30))

    def statuses(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for reply in self._all("count", timeout=30):
            for status, n in reply["statuses"].items():
                total[status] = total.get(status, 0) + n
        return total

    def collect(self) -> list[dict[str, Any]]:
        return self._all("collect")

    def forget(self) -> int:
        """Forget the notifications received so far (the streams stay open); return how many."""
        return sum(self._all("forget", timeout=30))

    def close_streams(self) -> int:
        return sum(self._all("close", timeout=60))

    def wait_for(self, expected: int, timeout: float) -> tuple[int, float]:
        """Wait until ``expected`` notifications arrived in all; return (count, seconds)."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            received = self.count()
            if received >= expected or time.monotonic() >= deadline:
                return received, time.monotonic() - start
            time.sleep(0.05)

    def stop(self) -> None:
        """Ask each process to exit; terminate, then kill, whatever does not."""
        for conn in self.conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("exit", None))
        for process in self.processes:
            process.join(timeout=15)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for conn in self.conns:
            conn.close()
        self.conns, self.processes = [], []
