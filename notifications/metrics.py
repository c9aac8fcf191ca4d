"""Counters of this process's streams, for operators and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Counter:
    """A number that goes up (and, for gauges, down) in this process."""

    name: str
    value: int = 0

    def inc(self) -> None:
        self.value += 1

    def dec(self) -> None:
        self.value -= 1


streams_open = Counter("streams_open")
demotions = Counter("demotions_to_database_polling")
gaps_filled = Counter("gaps_filled_from_database")


def snapshot() -> dict[str, int]:
    """Return every counter by name."""
    return {c.name: c.value for c in (streams_open, demotions, gaps_filled)}
