"""Which channels a stream of the peer may read: one per user, ``user-<id>``."""

from __future__ import annotations

import re
from typing import Any

from django_eventstream.channelmanager import DefaultChannelManager

USER_CHANNEL = re.compile(r"user-\d+")


class UserChannelManager(DefaultChannelManager):
    """Let a stream read one user's channel, named in ``?channel=``.

    The product's streams authenticate with a stream ticket; here the channel's name is
    enough, because the comparison is of delivery, not of authentication.
    """

    def can_read_channel(self, user: Any, channel: str) -> bool:
        return USER_CHANNEL.fullmatch(channel) is not None
