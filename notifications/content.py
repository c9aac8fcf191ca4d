"""What a notification may hold: the size of each field, and which links are stored and shown.

Every frame, page and email that shows a notification carries it whole, so the sizes
(``MAX_TITLE_LENGTH``, ``MAX_BODY_LENGTH``, ``MAX_URL_LENGTH``, ``MAX_DATA_BYTES``) keep the
largest one far below what a stream buffers for a slow client. A link is a path on this site
(``/orders/7/``) or an absolute ``http(s)`` URL. Anything else (``//evil.example/x``, which
a browser reads as another site, ``javascript:``, ``data:``) is refused when it is sent, and
a link stored before these rules is shown as plain text rather than followed.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import CharField
from django.utils.translation import gettext

from notifications.conf import conf
from notifications.models import Notification

__all__ = [
    "ContentTooLarge",
    "InvalidNotification",
    "UnsafeLink",
    "is_safe_link",
    "safe_link",
    "validate",
]

_absolute = URLValidator(schemes=["http", "https"])


class InvalidNotification(ValueError):
    """A notification that cannot be stored as given; nothing was written.

    ``field`` names the argument at fault, so a form can show the message beside it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ContentTooLarge(InvalidNotification):
    """A field over its maximum size."""


class UnsafeLink(InvalidNotification):
    """A ``url`` that is neither a path on this site nor an absolute ``http(s)`` URL."""


def validate(
    *, kind: str, title: str, body: str, url: str, data: Any, dedupe_key: str | None
) -> None:
    """Raise ``InvalidNotification`` unless a notification of these fields may be stored."""
    if not title or not title.strip():
        raise InvalidNotification(gettext("The title must not be empty."), field="title")
    if not kind:
        raise InvalidNotification(gettext("The kind must not be empty."), field="kind")
    for name, value, limit in (
        ("kind", kind, _column_length("kind")),
        ("title", title, min(conf.MAX_TITLE_LENGTH, _column_length("title"))),
        ("body", body, conf.MAX_BODY_LENGTH),
        ("url", url, min(conf.MAX_URL_LENGTH, _column_length("url"))),
    ):
        if len(value) > limit:
            raise ContentTooLarge(
                gettext("The %(field)s is longer than %(limit)d characters (%(length)d).")
                % {"field": name, "limit": limit, "length": len(value)},
                field=name,
            )
    if url and not is_safe_link(url):
        raise UnsafeLink(
            gettext(
                "The url must be a path on this site, such as /orders/7/, or an absolute "
                "http:// or https:// URL, with no spaces, backslashes or control characters."
            ),
            field="url",
        )
    longest_key = _column_length("dedupe_key")
    if dedupe_key is not None and not 0 < len(dedupe_key) <= longest_key:
        raise InvalidNotification(
            gettext("The dedupe key must be 1 to %(longest)d characters.")
            % {"longest": longest_key},
            field="dedupe_key",
        )
    _validate_data(data)


def _validate_data(data: Any) -> None:
    if not isinstance(data, dict):
        raise InvalidNotification(gettext("The data must be a JSON object."), field="data")
    try:
        # As the stream sends it: compact, non-ASCII escaped, so characters count as bytes.
        encoded = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidNotification(
            gettext("The data is not JSON-serializable: %(error)s") % {"error": e}, field="data"
        ) from e
    if len(encoded) > conf.MAX_DATA_BYTES:
        raise ContentTooLarge(
            gettext("The data is longer than %(limit)d bytes as JSON (%(length)d).")
            % {"limit": conf.MAX_DATA_BYTES, "length": len(encoded)},
            field="data",
        )


def _column_length(name: str) -> int:
    field = Notification._meta.get_field(name)
    assert isinstance(field, CharField) and field.max_length is not None, name
    return field.max_length


# A broadcast renders one link for each of thousands of rows, and an absolute URL costs the
# validator's regular expressions each time.
@functools.lru_cache(maxsize=1024)
def is_safe_link(url: str) -> bool:
    """Return whether ``url`` is a path on this site or an absolute ``http(s)`` URL.

    Browsers read a backslash as a slash and drop tabs and newlines anywhere in a URL, so
    ``/\\evil.example`` and ``/<tab>/evil.example`` are ``//evil.example``, another site: no
    backslash, control, invisible or space character passes, anywhere.
    """
    if any(char == "\\" or unicodedata.category(char)[0] in "CZ" for char in url):
        return False
    if url.startswith("/"):
        return not url.startswith("//")
    try:
        _absolute(url)
    except ValidationError:
        return False
    return True


def safe_link(url: str) -> str:
    """Return ``url`` if it may be shown as a link, else ``""``.

    Every renderer passes stored links through this, so a row written before the rules, or
    around ``notify()``, still never sends a reader off-site.
    """
    return url if is_safe_link(url) else ""
