"""The tool's handle on publisher processes (``python -m bench.publisher``)."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from bench.server import ROOT


class PublisherError(RuntimeError):
    """A publisher failed or did not answer in time."""


def _read_line(stream: IO[str], deadline: float, what: str) -> str:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PublisherError(f"no {what} from a publisher in time")
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            line = stream.readline()
            if not line:
                raise PublisherError(f"a publisher exited before its {what}")
            return line


class Publishers:
    """Start publishers with their instructions; ``go()`` releases them all at once."""

    def __init__(self, configs: list[dict[str, Any]], env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.processes: list[subprocess.Popen[str]] = []
        for config in configs:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.publisher"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                text=True,
                start_new_session=True,
            )
            self.processes.append(process)
            assert process.stdin is not None
            process.stdin.write(json.dumps(config) + "\n")
            process.stdin.flush()

    def __enter__(self) -> Publishers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for process in self.processes:
            assert process.stdout is not None
            line = _read_line(process.stdout, deadline, "ready line")
            if line.strip() != "ready":
                raise PublisherError(f"unexpected publisher output: {line[:200]!r}")

    def go(self) -> float:
        """Release every publisher; return the wall-clock time they were released."""
        released = time.time()
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        return released

    def results(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        results = []
        for process in self.processes:
            assert process.stdout is not None
            results.append(json.loads(_read_line(process.stdout, deadline, "result")))
        return results

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
        self.processes = []
        self.log.close()
