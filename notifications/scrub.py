"""Keep stream tokens out of logs and error reports: URLs leak, and ``?token=`` is in URLs."""

from __future__ import annotations

import logging
import re

from django.http import HttpRequest

_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&\s])token=)[^&\s\"']*", re.IGNORECASE)
SCRUBBED = "********"


def scrub(text: str) -> str:
    """Replace the value of every ``token=`` query parameter in ``text``."""
    return _TOKEN_IN_QUERY.sub(lambda m: m.group(1) + SCRUBBED, text)


class ScrubTokensFilter(logging.Filter):
    """A logging filter that scrubs tokens from the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = scrub(message), None
        return True


def take_query_token(request: HttpRequest) -> str | None:
    """Remove ``?token=`` from ``request`` and return it.

    Scrubbing the request itself means nothing later (an error report, a log line built
    from the full path) can show the token.
    """
    token = request.GET.get("token")
    if token is None:
        return None
    query = request.GET.copy()
    del query["token"]
    query._mutable = False
    request.GET = query  # type: ignore[assignment]  # the stubs know no immutable copy
    request.META["QUERY_STRING"] = scrub(request.META.get("QUERY_STRING", ""))
    return token
