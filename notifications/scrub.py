"""Keep stream tokens out of logs and error reports: URLs leak, and ``?token=`` is in URLs.

Matching the literal text ``token=`` is not enough: Django decodes ``?%74oken=`` to
``token``, other parsers split on ``;`` as well as ``&``, and a token is a token whatever
case its name is written in. So every ``name=value`` pair in the text is read as a query
parser would (percent-decoded, ``+`` as a space, case-folded) and its value hidden when the
name is ``token``; and anything shaped like a JWT is hidden wherever it stands.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

from django.http import HttpRequest

SCRUBBED = "********"
# The names whose values are secrets, as a query parser reads them (see _plain_name()).
SECRET_NAMES = frozenset({"token"})

# A query parameter: its separator (or the start of the text), a name, "=", a value.
_PAIR = re.compile(r"(?P<lead>^|[?&;\s\"'(<,])(?P<name>[^=?&;\s\"'#<>]+)=(?P<value>[^&;\s\"'#<>]*)")
# A JSON Web Token (base64url header starting '{"', a payload, a signature), in any text.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def _plain_name(name: str) -> str:
    """Return ``name`` decoded as a query parser would, however many times it was encoded."""
    for _ in range(3):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.strip().casefold()


def is_secret_name(name: str) -> bool:
    """Tell whether a query parser would read ``name`` as one of ``SECRET_NAMES``."""
    return _plain_name(name) in SECRET_NAMES


def _scrub_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={SCRUBBED}"


def scrub(text: str) -> str:
    """Return ``text`` with the value of every ``token`` parameter and every JWT hidden."""
    if "=" in text:
        text = _PAIR.sub(_scrub_pair, text)
    if "eyJ" in text:
        text = _JWT.sub(SCRUBBED, text)
    return text


class ScrubTokensFilter(logging.Filter):
    """A logging filter that scrubs tokens from the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
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
