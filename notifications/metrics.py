"""Counters of this process's streams, for operators and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Counter:
    """A number that goes up (and, for gauges, down) in this process."""

    name: str
    value: int = 0

    def inc(self, amount: int = 1) -> None:
        self.value += amount

    def dec(self) -> None:
        self.value -= 1


streams_open = Counter("streams_open")
demotions = Counter("demotions_to_database_polling")
gaps_filled = Counter("gaps_filled_from_database")
# Doorbells not sent because the channel layer failed or too many were waiting.
doorbells_dropped = Counter("doorbells_dropped")
# 1 while this process's hub is subscribed to a channel layer other processes can reach.
layer_live = Counter("channel_layer_live")


def snapshot() -> dict[str, int]:
    """Return every counter by name."""
    counters = (streams_open, layer_live, demotions, gaps_filled, doorbells_dropped)
    return {c.name: c.value for c in counters}
