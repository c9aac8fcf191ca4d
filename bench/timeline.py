"""How the servers' costs grow while streams open: samples of (time, opened, usage)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from bench import procfs

Sample = tuple[float, int, procfs.Usage]


class Timeline:
    """Sample the servers and the clients' open count every ``interval`` s, in a thread."""

    def __init__(self, pids: list[int], opened: Callable[[], int], interval: float = 0.5) -> None:
        self.pids = pids
        self.opened = opened
        self.interval = interval
        self.samples: list[Sample] = []
        self.baseline = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)

    def __enter__(self) -> Timeline:
        self.baseline = self.opened()
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._take()

    def _take(self) -> None:
        # A server that died cannot be read: the scenario reports that.
        with contextlib.suppress(OSError, ValueError):
            opened = self.opened() - self.baseline
            self.samples.append((time.monotonic(), opened, procfs.total(self.pids)))

    def _run(self) -> None:
        deadline = time.monotonic() + 3_600
        while not self._stop.wait(self.interval) and time.monotonic() < deadline:
            self._take()


def by_quarter(samples: list[Sample]) -> list[dict[str, Any]]:
    """Split the opening into quarters of the streams opened: the cost of each quarter.

    A cost per open that grows from one quarter to the next is a cost that grows with the
    number of streams already open.
    """
    if len(samples) < 2 or samples[-1][1] < 4:
        return []
    total = samples[-1][1]
    quarters = []
    start = samples[0]
    for quarter in range(1, 5):
        goal = total * quarter / 4
        end = next((s for s in samples if s[1] >= goal), samples[-1])
        opened = end[1] - start[1]
        seconds = end[0] - start[0]
        if opened > 0 and seconds > 0:
            grown = end[2] - start[2]
            quarters.append(
                {
                    "streams": f"{start[1]}-{end[1]}",
                    "opens_per_second": round(opened / seconds, 1),
                    "cpu_ms_per_open": round(1000 * grown.cpu_seconds / opened, 2),
                    "rss_kb_per_stream": round(grown.rss_kb / opened, 1),
                }
            )
        start = end
    return quarters
