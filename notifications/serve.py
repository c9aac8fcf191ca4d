"""Run daphne with an access log that never prints a stream token, and no ``Server`` header.

daphne writes its access log straight to a stream, bypassing ``logging``, and a request line
holds the query string: ``GET /api/events/?token=...``. This is daphne's own command line
with that changed, and two more: responses name no server software unless ``--server-name``
asks for it (daphne's default is ``Server: daphne``, which tells an attacker which flaws to
try), and request bodies are left to the application, whatever its ASGI application
(``notifications.stream.raw_bodies``). The end of every stream on SIGTERM
(``notifications.stream.shutdown``) and the slow-client bound
(``notifications.stream.backpressure``) hold under either command. Every daphne option
works as usual::

    python -m notifications.serve -e tcp:port=8000:interface=127.0.0.1:backlog=1024 \\
        project.asgi:application
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server

from notifications.scrub import scrub
from notifications.stream import raw_bodies

ActionLogger = Callable[[str, str, dict[str, Any]], None]


def scrubbing(action_logger: ActionLogger) -> ActionLogger:
    """Wrap a daphne action logger so that logged paths have their tokens scrubbed."""

    def log(protocol: str, action: str, details: dict[str, Any]) -> None:
        if "path" in details:
            details = {**details, "path": scrub(details["path"])}
        action_logger(protocol, action, details)

    return log


class ScrubbingServer(Server):
    def __init__(self, *args: Any, action_logger: ActionLogger | None = None, **kwargs: Any):
        if action_logger is not None:
            action_logger = scrubbing(action_logger)
        super().__init__(*args, action_logger=action_logger, **kwargs)


class ServeCommandLineInterface(CommandLineInterface):
    server_class = ScrubbingServer

    def __init__(self) -> None:
        super().__init__()
        # daphne's own ``--no-server-name``, as the default: ``--server-name`` still names one.
        self.parser.set_defaults(server_name="")

    def run(self, args: list[str]) -> None:
        raw_bodies.install()
        super().run(args)


if __name__ == "__main__":
    ServeCommandLineInterface.entrypoint()
