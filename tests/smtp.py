"""A real SMTP server for tests: aiosmtpd on a free loopback port, keeping what it receives."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


class Mailbox:
    """What the server received, parsed. ``refuse`` makes it answer DATA with an error;
    ``delay`` makes it take that many seconds over each message; ``stall_after`` makes it
    leave every message after that many unanswered until the server stops, as a server that
    hangs does (``stalled`` counts them)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: str | None = None
        self.delay = 0.0
        self.stall_after: int | None = None
        self.stalled = 0
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse
        await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._changed:
            stall = self.stall_after is not None and len(self.messages) >= self.stall_after
            if stall:
                self.stalled += 1
            else:
                self.messages.append(message)  # type: ignore[arg-type]
            self._changed.notify_all()
        if stall:
            await asyncio.Event().wait()  # Until the server stops, which cancels this.
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, messages: int, *, stalled: int = 0, timeout: float = 60) -> None:
        """Wait until at least ``messages`` were accepted and ``stalled`` left unanswered."""
        with self._changed:
            assert self._changed.wait_for(
                lambda: len(self.messages) >= messages and self.stalled >= stalled, timeout
            ), f"{len(self.messages)} accepted, {self.stalled} stalled after {timeout} s"

    def listed(self) -> list[tuple[str, str]]:
        """``(address, title)`` of each notification listed in an accepted message: one pair
        per time it was emailed."""
        return [
            (message["To"], line.removeprefix("* "))
            for message in self.messages
            for line in parts(message)[0].splitlines()
            if line.startswith("* ")
        ]


class SMTPServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        """Come up on this server's port (again, after ``stop``), with the same mailbox."""
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Go down: connections are dropped, new ones refused, until ``start``."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def env(self) -> dict[str, str]:
        """The contract's environment for Django's SMTP backend to send here."""
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port)}


@contextlib.contextmanager
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def parts(message: EmailMessage) -> tuple[str, str]:
    """Return the text and the HTML part of a notification email."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()
