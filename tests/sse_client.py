"""A spec-conforming Server-Sent Events parser (WHATWG HTML, "event stream interpretation")
and a small driver of the stream at the ASGI level, shared by the stream tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from asgiref.testing import ApplicationCommunicator


@dataclass
class Event:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Parser:
    """Feed bytes, collect dispatched events and comments, as a browser would."""

    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    last_event_id: str = ""
    _buffer: str = ""
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _id_seen: str | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        before = len(self.events)
        self._buffer += chunk.decode("utf-8")
        while True:
            for i, ch in enumerate(self._buffer):
                if ch in "\r\n":
                    line = self._buffer[:i]
                    step = 2 if self._buffer[i : i + 2] == "\r\n" else 1
                    if ch == "\r" and i + 1 == len(self._buffer):
                        return self.events[before:]  # wait: this CR may start a CRLF
                    self._buffer = self._buffer[i + step :]
                    self._line(line)
                    break
            else:
                return self.events[before:]

    def _line(self, line: str) -> None:
        if line == "":
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append(line[1:].lstrip(" "))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
                self._id_seen = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)

    def _dispatch(self) -> None:
        if not self._data:
            self._event = ""
            self._id_seen = None
            return
        self.events.append(
            Event(
                event=self._event or "message",
                data="\n".join(self._data),
                id=self._id_seen,
                retry=self.retry,
            )
        )
        self._data, self._event, self._id_seen = [], "", None


class AsgiStream:
    """Open ``GET /api/events/`` on an ASGI app in this process and read its events."""

    def __init__(self, application: Any, *, path: str = "/api/events/", query: str = "",
                 headers: dict[str, str] | None = None,
                 host: str = "testserver", method: str = "GET") -> None:  # fmt: skip
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
            + [(b"host", host.encode())],
            "client": ("127.0.0.1", 12345),
            "server": ("testserver", 80),
        }
        self.communicator = ApplicationCommunicator(application, scope)
        self.parser = Parser()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.finished = False
        self._pending: list[Event] = []

    async def open(self, timeout: float = 10) -> int:
        await self.communicator.send_input({"type": "http.request", "body": b""})
        start = await self.communicator.receive_output(timeout)
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        if self.status != 200:
            # A refusal is a complete response: read it and let the app finish.
            await self.until_ended(timeout)
            await self.communicator.wait(timeout)
        return self.status

    async def until_ended(self, timeout: float = 10) -> None:
        """Read until the server ends the response (a closed stream, a complete refusal)."""
        async with asyncio.timeout(timeout):
            while not self.finished:
                await self.read_chunk(timeout)

    async def read_chunk(self, timeout: float = 10) -> bytes:
        message = await self.communicator.receive_output(timeout)
        assert message["type"] == "http.response.body"
        chunk = message.get("body", b"")
        self.body += chunk
        if not message.get("more_body", False):
            self.finished = True
        self._pending += self.parser.feed(chunk)
        return chunk

    async def next_event(self, timeout: float = 10) -> Event:
        async with asyncio.timeout(timeout):
            while not self._pending:
                if self.finished:
                    raise EOFError("the stream ended")
                await self.read_chunk(timeout)
        return self._pending.pop(0)

    async def events(self, count: int, timeout: float = 10) -> list[Event]:
        return [await self.next_event(timeout) for _ in range(count)]

    async def until(self, name: str, timeout: float = 10) -> Event:
        """Skip events until one named ``name`` arrives."""
        while True:
            event = await self.next_event(timeout)
            if event.event == name:
                return event

    def json_body(self) -> Any:
        assert self.finished
        return json.loads(self.body)

    async def close(self) -> None:
        """Disconnect as a client does, and wait for the app to finish its cleanup."""
        await self.communicator.send_input({"type": "http.disconnect"})
        with contextlib.suppress(asyncio.CancelledError):
            await self.communicator.wait(timeout=10)
