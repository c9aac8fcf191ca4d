"""A tiny HTTP/1.1 client that sends exactly the bytes it is given (``..`` in paths, odd
methods, broken encodings), which httpx would normalise or refuse."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def request_bytes(
    method: str, target: str, *, host: str = "127.0.0.1", headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:  # fmt: skip
    """Return a complete request; ``Content-Length`` is always right, ``Connection: close``."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n"
    return head + body


async def send(port: int, raw: bytes, *, timeout: float = 15) -> RawResponse:
    """Send ``raw`` and read the response; an event stream is closed once its head is read."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(raw)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            response = _parse_head(head)
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                return response
            body = await reader.read()
            if response.headers.get("transfer-encoding", "").lower() == "chunked":
                body = _dechunk(body)
            response.body = body
            return response
        finally:
            writer.close()


def _parse_head(head: bytes) -> RawResponse:
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    response = RawResponse(status=int(status_line.split(" ", 2)[1]))
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            response.headers[name.strip().lower()] = value.strip()
    return response


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out
