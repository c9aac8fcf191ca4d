"""What a process costs, read from ``/proc``: resident memory, threads, CPU time."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """One reading of a process."""

    rss_kb: int
    threads: int
    cpu_seconds: float

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.rss_kb - other.rss_kb,
            self.threads - other.threads,
            self.cpu_seconds - other.cpu_seconds,
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.rss_kb + other.rss_kb,
            self.threads + other.threads,
            self.cpu_seconds + other.cpu_seconds,
        )


ZERO = Usage(0, 0, 0.0)


def usage(pid: int) -> Usage:
    """Read ``VmRSS``, ``Threads`` and user+system CPU time of ``pid``."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces: the fields that follow it are after the last ")".
        stat = f.read().rpartition(")")[2].split()
    utime, stime = int(stat[11]), int(stat[12])
    return Usage(
        rss_kb=int(fields["VmRSS"].split()[0]),
        threads=int(fields["Threads"]),
        cpu_seconds=(utime + stime) / _TICKS,
    )


def total(pids: list[int]) -> Usage:
    """Add up the usage of several processes."""
    result = ZERO
    for pid in pids:
        result = result + usage(pid)
    return result


def load_average() -> tuple[float, float, float]:
    """Return the 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return os.getloadavg()


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise this process's RLIMIT_NOFILE as far as allowed; return the new soft limit.

    Thousands of streams need thousands of sockets, above the usual soft limit of 1024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(wanted, hard), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
        except (ValueError, OSError):
            continue
    return soft
