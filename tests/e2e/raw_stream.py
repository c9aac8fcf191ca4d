"""The stream over a plain socket, read only when the test says so: a client that can stop
reading, as a laptop whose lid was closed does, while the server keeps writing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import h11

from tests.e2e.conftest import Server
from tests.sse_client import Event, Parser


class RawStream:
    """``GET /api/events/`` with h11 on a socket; events are parsed as a browser would."""

    def __init__(
        self, server: Server, headers: dict[str, str], *, receive_buffer: int | None = None
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            # Before connecting, so that the window the server sees is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", server.port))
        self.http = h11.Connection(our_role=h11.CLIENT)
        self.parser = Parser()
        self.status: int | None = None
        # How the server ended the connection: "eof" or "reset"; None while it is open.
        self.ended: str | None = None
        request = h11.Request(
            method="GET",
            target="/api/events/",
            headers=[("Host", f"127.0.0.1:{server.port}"), *headers.items()],
        )
        self.sock.sendall(self.http.send(request) + self.http.send(h11.EndOfMessage()))

    @property
    def events(self) -> list[Event]:
        return self.parser.events

    def notification_ids(self) -> list[int]:
        return [int(e.id) for e in self.events if e.event == "notification" and e.id]

    def read_until(
        self, done: Callable[[], bool], *, seconds: float = 30, pause: float = 0
    ) -> None:
        """Read until ``done()`` or the server ends the connection; fail after ``seconds``.
        ``pause``: seconds to wait after each read, as a slow client does."""
        deadline = time.monotonic() + seconds
        while not done() and self.ended is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not done after {seconds} s: {len(self.events)} events")
            self._receive()
            time.sleep(pause)

    def read_to_end(self, *, seconds: float = 30) -> None:
        """Read what is left until the server ends the connection."""
        self.read_until(lambda: False, seconds=seconds)

    def close(self) -> None:
        self.sock.close()

    def _receive(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self.ended = "reset"
            return
        except TimeoutError:
            return
        if not data:
            self.ended = "eof"
        self.http.receive_data(data)
        while True:
            try:
                event = self.http.next_event()
            except h11.RemoteProtocolError:
                return  # Closed mid-body: what came before was parsed already.
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self.status = event.status_code
            elif isinstance(event, h11.Data):
                self.parser.feed(bytes(event.data))
            elif isinstance(event, h11.ConnectionClosed | h11.EndOfMessage):
                return
