"""Hand memory back to the operating system once a stream that held a backlog is gone.

A slow client's backlog is many chunks of a few KiB, and glibc keeps such freed memory in
the process for reuse: the server's resident size would stay at its highest. ``malloc_trim``
returns it.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections.abc import Callable


class Heap:
    """Trims the C heap soon after a backlog was dropped: at most once a second, however
    many streams are dropped; a no-op where the C library has no ``malloc_trim`` (musl,
    macOS)."""

    MIN_INTERVAL_SECONDS = 1.0

    def __init__(self) -> None:
        self.pending = False
        self.last = -self.MIN_INTERVAL_SECONDS
        try:
            self._trim: Callable[[int], int] | None = ctypes.CDLL(None).malloc_trim
        except (AttributeError, OSError):
            self._trim = None

    def trim_soon(self) -> None:
        """Trim on the next turn of the event loop, or a second after the last trim."""
        if self._trim is None or self.pending:
            return
        self.pending = True
        loop = asyncio.get_running_loop()
        loop.call_at(max(loop.time(), self.last + self.MIN_INTERVAL_SECONDS), self.trim)

    def trim(self) -> None:
        self.pending = False
        self.last = asyncio.get_running_loop().time()
        if self._trim is not None:
            self._trim(0)


heap = Heap()
