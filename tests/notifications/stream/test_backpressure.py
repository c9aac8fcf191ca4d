"""The send budget of an event stream under daphne: what Twisted cannot take waits in order,
and a client that stops reading for too long has its connection aborted.

The real server is driven in ``tests/e2e/test_slow_clients.py``; here the budget meets the
two calls it makes on daphne's request, recorded."""

from __future__ import annotations

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


def budget(limit: int = 10) -> tuple[SendBudget, Request]:
    request = Request()
    return SendBudget(request, limit), request  # type: ignore[arg-type]


def test_chunks_go_straight_out_while_the_client_reads() -> None:
    sender, request = budget()
    sender.send(b"one")
    sender.send(b"two")
    assert request.written == [b"one", b"two"] and not sender.blocked


def test_chunks_wait_in_order_while_paused_and_go_on_resume() -> None:
    sender, request = budget()
    sender.pauseProducing()
    sender.send(b"one")
    sender.send(b"two")
    assert request.written == [] and sender.waiting == 6
    sender.resumeProducing()
    sender.send(b"three")
    assert request.written == [b"one", b"two", b"three"] and sender.waiting == 0


def test_too_much_waiting_aborts_the_connection_and_drops_it() -> None:
    sender, request = budget(limit=5)
    sender.pauseProducing()
    sender.send(b"1234")
    assert not request.transport.aborted
    sender.send(b"5678")
    assert request.transport.aborted and sender.aborted
    assert sender.waiting == 0 and request.written == []


def test_another_servers_send_is_left_alone() -> None:
    async def send(message: dict[str, Any]) -> None:
        return None

    assert bounded(send) is send
