"""The inboxes of this process's streams, by user: filled by the hub, read by the upkeep.

Each stream reads its own bounded inbox; a stream that falls too far behind has its inbox
marked overflowed, and catches up from the database.
"""

from __future__ import annotations

import asyncio

from notifications.delivery.messages import Message
from notifications.stream.limits import Slot

# A stream further behind than this has its inbox marked overflowed and reads the database.
INBOX_SIZE = 1000


class Inbox(asyncio.Queue[Message]):
    """One stream's pending messages; when full, it remembers that it dropped some."""

    def __init__(self, slot: Slot) -> None:
        super().__init__(maxsize=INBOX_SIZE)
        self.slot = slot
        self.overflowed = False

    def offer(self, message: Message) -> None:
        try:
            self.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


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
