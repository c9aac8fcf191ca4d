"""The send budget of an event stream under daphne: what Twisted cannot take waits, and so
does the stream's ``send``, until Twisted has taken it; a stream ended meanwhile drops the
connection.

The real server is driven in ``tests/e2e/test_slow_clients.py``; here the budget meets the
two calls it makes on daphne's request, recorded."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from notifications.stream.backpressure import SendBudget, bounded


class Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abortConnection(self) -> None:  # noqa: N802  (Twisted's name)
        self.aborted = True


class Request:
    """What the budget uses of daphne's ``WebRequest``: it writes replies, and aborts."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.transport = Transport()
        self.client_addr = ("127.0.0.1", 5000)
        self.path = b"/api/events/"

    def handle_reply(self, message: dict[str, Any]) -> None:
        self.written.append(message["body"])


def budget() -> tuple[SendBudget, Request]:
    request = Request()
    return SendBudget(request), request  # type: ignore[arg-type]


def test_chunks_go_straight_out_while_the_client_reads() -> None:
    sender, request = budget()
    sender.send(b"one")
    sender.send(b"two")
    assert request.written == [b"one", b"two"] and not sender.blocked


async def test_a_chunk_waits_while_paused_and_its_sender_with_it() -> None:
    sender, request = budget()
    sender.pauseProducing()
    sender.send(b"one")
    taken = asyncio.ensure_future(sender.taken())
    await asyncio.sleep(0.01)
    assert request.written == [] and not taken.done()
    sender.resumeProducing()
    async with asyncio.timeout(5):
        await taken
    assert request.written == [b"one"] and not sender.blocked


async def test_a_sender_cancelled_while_it_waits_drops_the_connection() -> None:
    request = Request()
    sender = SendBudget(request)  # type: ignore[arg-type]
    sender.pauseProducing()
    sender.send(b"one")
    waiting = asyncio.ensure_future(sender.taken())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    sender.drop()
    assert request.transport.aborted and sender.stopped and not sender.queue


async def test_a_connection_gone_releases_the_sender() -> None:
    sender, request = budget()
    sender.pauseProducing()
    sender.send(b"one")
    taken = asyncio.ensure_future(sender.taken())
    sender.stopProducing()
    async with asyncio.timeout(5):
        await taken
    assert request.written == [] and not sender.queue


def test_another_servers_send_is_left_alone() -> None:
    async def send(message: dict[str, Any]) -> None:
        return None

    assert bounded(send) is send
