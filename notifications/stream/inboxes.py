"""The inboxes of this process's streams, by user: filled by the hub, read by the upkeep.

Each stream reads its own bounded inbox; a stream that falls too far behind has its inbox
marked overflowed, and catches up from the database.

An inbox also counts the bytes its messages will take as frames. A server whose ``send``
waits while the client's connection is full (uvicorn) leaves what is published to a
stalled client in the inbox, and the rest of the frame being sent in the stream. The stream
is closed as a slow client, as daphne's send budget closes it there
(``notifications.stream.backpressure``), once more than ``SLOW_CLIENT_BUFFER_BYTES`` wait
while it is stuck handing a piece to the server: at once when the inbox alone holds that
much; after ``STUCK_SECONDS`` when a large frame makes up the rest (a client that reads
keeps taking its pieces). The client loses nothing: it resumes with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from notifications import metrics
from notifications.conf import conf
from notifications.delivery import messages
from notifications.delivery.messages import Message
from notifications.stream.limits import Slot

logger = logging.getLogger(__name__)

# A stream further behind than this has its inbox marked overflowed and reads the database.
INBOX_SIZE = 1000
# How long a stream may be stuck on one piece of a frame while more than the limit waits.
STUCK_SECONDS = 1.0


class Inbox:
    """One stream's pending messages; when full, it remembers that it dropped some.

    The stream tells it, through :meth:`handing_over`, which task hands its bytes to the
    server (``writer``, None while the stream waits for messages or works) and how much of
    the frame is left to hand over (``unsent``).

    Not an ``asyncio.Queue``: one of those holds four deques of about 760 bytes each from
    the start, empty or not, and an inbox has one reader and is empty nearly always. Here
    the deque exists while messages wait, and the reader waits on one future.
    """

    __slots__ = (
        "slot",
        "overflowed",
        "bytes",
        "limit",
        "writer",
        "unsent",
        "pieces",
        "too_slow",
        "_waiting",
        "_reader",
    )

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        self.overflowed = False
        # The frame bytes of the messages waiting, roughly (``messages.size_of``).
        self.bytes = 0
        self.limit = conf.SLOW_CLIENT_BUFFER_BYTES
        self.writer: asyncio.Task[object] | None = None
        self.unsent = 0
        # Pieces handed over so far: a check armed for one is void once the next comes.
        self.pieces = 0
        # Set once the stream was found too slow for its client: it ends, taking no more.
        self.too_slow = False
        self._waiting: deque[Message] | None = None
        self._reader: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._waiting) if self._waiting else 0

    def empty(self) -> bool:
        return not self._waiting

    def put_nowait(self, message: Message) -> None:
        """Add ``message``; raise ``asyncio.QueueFull`` with ``INBOX_SIZE`` waiting."""
        if self._waiting is None:
            self._waiting = deque()
        elif len(self._waiting) >= INBOX_SIZE:
            raise asyncio.QueueFull
        self._waiting.append(message)
        self.bytes += messages.size_of(message)
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    def get_nowait(self) -> Message:
        """Take the oldest message; raise ``asyncio.QueueEmpty`` when none waits."""
        if not self._waiting:
            raise asyncio.QueueEmpty
        message = self._waiting.popleft()
        if not self._waiting:
            self._waiting = None
        self.bytes -= messages.size_of(message)
        return message

    async def get(self) -> Message:
        """Wait for a message and take it; cancelled while waiting, it takes nothing."""
        while not self._waiting:
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        return self.get_nowait()

    def offer(self, message: Message) -> None:
        if self.too_slow:
            return
        try:
            self.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True
            return
        if self.writer is not None and self.bytes > self.limit:
            self._close_slow(self.writer)

    def handing_over(self, writer: asyncio.Task[object] | None, unsent: int = 0) -> None:
        """The stream's ``writer`` starts handing a piece of a frame to the server, with
        ``unsent`` bytes of the frame left, that piece included; or (None) it is done."""
        self.writer, self.unsent = writer, unsent
        if writer is None:
            return
        self.pieces += 1
        if self.bytes + unsent > self.limit:
            loop = asyncio.get_running_loop()
            loop.call_later(STUCK_SECONDS, self._check_stuck, self.pieces)

    def _check_stuck(self, piece: int) -> None:
        writer = self.writer
        if writer is None or self.pieces != piece or self.too_slow:
            return  # It moved on, or is closed already.
        if self.bytes + self.unsent > self.limit:
            self._close_slow(writer)

    def end_writer(self) -> None:
        """Cancel the stream's writer if it is stuck handing bytes to the server: its
        request ends, and its stream with it."""
        if self.writer is not None:
            self._cancel_writer(self.writer)

    def _close_slow(self, writer: asyncio.Task[object]) -> None:
        self.too_slow = True
        metrics.slow_clients_closed.inc()
        logger.warning(
            "Closed a stream whose client stopped reading: %d bytes waiting unsent "
            "(SLOW_CLIENT_BUFFER_BYTES = %d); stream %s of user %s",
            self.bytes + self.unsent,
            self.limit,
            self.slot.id,
            self.slot.user_id,
        )
        self._cancel_writer(writer)
        self.drop_all()

    def drop_all(self) -> int:
        """Drop what waits, now rather than with the last reference to the inbox (its stream
        is ending, and reads the database when it resumes); return how many bytes went."""
        dropped = self.bytes
        while not self.empty():
            self.get_nowait()
        return dropped

    def _cancel_writer(self, writer: asyncio.Task[object]) -> None:
        writer.cancel()
        # The task, its error and the stream's generator would otherwise hold each other,
        # with the frame in hand, until the cycle collector runs.
        self.writer = None


class Inboxes(dict[int, set[Inbox]]):
    """The inboxes of the process's streams, by user id (users without streams are absent)."""

    def add(self, user_id: int, slot: Slot) -> Inbox:
        """Return a new inbox for a stream of ``user_id``; messages reach it from now on."""
        inbox = Inbox(slot)
        self.setdefault(user_id, set()).add(inbox)
        return inbox

    def remove(self, user_id: int, inbox: Inbox) -> None:
        inboxes = self.get(user_id)
        if inboxes is not None:
            inboxes.discard(inbox)
            if not inboxes:
                del self[user_id]

    def all(self) -> list[Inbox]:
        return [inbox for group in self.values() for inbox in group]

    def tell(self, user_id: int, message: Message) -> None:
        """Offer ``message`` to every stream of ``user_id`` in this process."""
        for inbox in self.get(user_id, ()):
            inbox.offer(message)

    def tell_all(self, message: Message) -> None:
        for inbox in self.all():
            inbox.offer(message)
