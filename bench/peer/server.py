"""The peer served by plain daphne, on the same endpoint options as the product's servers."""

from __future__ import annotations

import sys

from bench.server import Server


class PeerServer(Server):
    """``python -m daphne`` instead of ``python -m notifications.serve``: the peer's own way."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "daphne", "-v", "1",
            "-e", f"tcp:port={self.port}:interface=127.0.0.1:backlog=1024", self.app,
        ]  # fmt: skip
