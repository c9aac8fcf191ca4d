"""A stream's inbox counts the bytes waiting in it: a server whose ``send`` waits for a slow
client (uvicorn) leaves its backlog there, and the bound must hold in bytes, not messages.

The real servers are driven in ``tests/e2e/test_slow_clients.py``; here the inbox meets a
task that stands for the stream's writer, stuck handing a piece to the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from notifications import metrics
from notifications.delivery import messages
from notifications.stream import frames, inboxes
from notifications.stream.inboxes import Inbox
from notifications.stream.limits import new_slot

LIMIT = 10_000


@pytest.fixture(autouse=True)
def _small_limit(settings: Any) -> None:
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "SLOW_CLIENT_BUFFER_BYTES": LIMIT}


def notification(seq: int, body: str) -> messages.Message:
    return messages.notification(
        {"id": seq, "seq": seq, "kind": "info", "title": "t", "body": body, "url": "",
         "data": {}, "created_at": "2026-01-01T00:00:00+00:00", "read": False}
    )  # fmt: skip


@pytest.fixture
async def writer() -> AsyncIterator[asyncio.Task[Any]]:
    """A task stuck in a ``send`` that never returns, as a stalled client's is."""
    task: asyncio.Task[Any] = asyncio.ensure_future(asyncio.Event().wait())
    yield task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_a_notification_carries_about_the_size_of_its_frame() -> None:
    message = notification(7, "é\n" * 3000)
    frame = frames.notification(message["payload"])
    assert len(frame) <= messages.size_of(message) <= len(frame) + 100
    assert messages.size_of(messages.slot_lost()) == messages.FRAME_BYTES


def test_the_inbox_counts_the_bytes_it_holds() -> None:
    inbox = Inbox(new_slot(1))
    inbox.offer(notification(1, "x" * 3000))
    inbox.offer(messages.slot_lost())
    assert inbox.bytes == messages.size_of(notification(1, "x" * 3000)) + messages.FRAME_BYTES
    inbox.get_nowait()
    inbox.get_nowait()
    assert inbox.bytes == 0


async def test_more_than_the_limit_waiting_behind_a_stuck_writer_closes_the_stream(
    writer: asyncio.Task[Any], caplog: pytest.LogCaptureFixture
) -> None:
    closed = metrics.slow_clients_closed._value.get()  # type: ignore[attr-defined]
    inbox = Inbox(new_slot(1))
    inbox.handing_over(writer, 100)
    for seq in range(1, 4):  # 3 × 4 KB: a few messages, over the limit in bytes
        inbox.offer(notification(seq, "x" * 4000))
    async with asyncio.timeout(5):
        await asyncio.gather(writer, return_exceptions=True)
    assert writer.cancelled() and inbox.too_slow and inbox.writer is None
    assert metrics.slow_clients_closed._value.get() == closed + 1  # type: ignore[attr-defined]
    assert "Closed a stream whose client stopped reading" in caplog.text
    assert inbox.empty() and inbox.bytes == 0  # Its backlog is dropped at once.
    inbox.offer(notification(4, "x"))  # It takes nothing more.
    assert inbox.empty()


async def test_a_burst_while_the_stream_is_not_stuck_closes_nothing() -> None:
    inbox = Inbox(new_slot(1))
    for seq in range(1, 6):
        inbox.offer(notification(seq, "x" * 4000))
    assert inbox.bytes > LIMIT and not inbox.too_slow


async def test_a_large_frame_the_client_does_not_take_closes_the_stream_after_a_while(
    writer: asyncio.Task[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inboxes, "STUCK_SECONDS", 0.05)
    inbox = Inbox(new_slot(1))
    inbox.handing_over(writer, 3 * LIMIT)  # the rest of one large frame, nothing behind it
    assert not inbox.too_slow
    async with asyncio.timeout(5):
        await asyncio.gather(writer, return_exceptions=True)
    assert writer.cancelled() and inbox.too_slow


async def test_a_large_frame_whose_pieces_keep_going_out_is_not_closed(
    writer: asyncio.Task[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inboxes, "STUCK_SECONDS", 0.05)
    inbox = Inbox(new_slot(1))
    for unsent in range(3 * LIMIT, 0, -1000):
        inbox.handing_over(writer, unsent)
        await asyncio.sleep(0.01)
        inbox.handing_over(None)
    await asyncio.sleep(0.1)
    assert not writer.done() and not inbox.too_slow
