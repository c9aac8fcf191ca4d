"""Stream tickets: short-lived JWTs of their own type, accepted by the stream and nothing else.

EventSource cannot set headers, so cross-origin clients put a token in the URL, and URLs
leak into logs and histories. A ticket is worth little there: it expires in about a minute
and the API refuses it.
"""

from __future__ import annotations

from datetime import timedelta

from notifications.conf import conf
from notifications.stream.tokens import CheckedClaims


class StreamTicket(CheckedClaims):
    token_type = "stream"

    @property
    def lifetime(self) -> timedelta:  # type: ignore[override]
        return timedelta(seconds=conf.TICKET_LIFETIME_SECONDS)
