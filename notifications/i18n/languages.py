"""Which language a user reads: their own choice, else their browser's, else the site's.

The choice is a ``UserLanguage`` row (none: no choice). The languages a user may choose are
the site's ``LANGUAGES``; a request from someone without a choice gets Django's negotiation of
``Accept-Language`` (and the language cookie) against them, and ``LANGUAGE_CODE`` at last.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext

from notifications.models import UserLanguage

__all__ = [
    "UnknownLanguage",
    "check",
    "chosen",
    "for_request",
    "for_user",
    "negotiated",
    "store",
    "supported",
]


class UnknownLanguage(ValueError):
    """A language code the site does not offer; ``str(e)`` says which it does."""


def supported() -> list[str]:
    """Return the codes of the site's ``LANGUAGES``, in the setting's order."""
    return [code for code, _name in settings.LANGUAGES]


def check(code: Any) -> str | None:
    """Return ``code`` if a user may choose it (None clears a choice); else raise."""
    if code is None or (isinstance(code, str) and code in supported()):
        return code
    raise UnknownLanguage(
        gettext("Unknown language %(code)s: use one of %(codes)s, or null.")
        % {"code": _quoted(code), "codes": ", ".join(supported())}
    )


def _quoted(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def chosen(user_id: int) -> str | None:
    """Return the language the user chose, or None: one query."""
    language: str | None = (
        UserLanguage.objects.filter(user_id=user_id).values_list("language", flat=True).first()
    )
    return language


def store(user_id: int, code: str | None) -> None:
    """Record the user's choice (checked with :func:`check`); None forgets it."""
    if code is None:
        UserLanguage.objects.filter(user_id=user_id).delete()
    else:
        UserLanguage.objects.update_or_create(user_id=user_id, defaults={"language": code})


def negotiated(request: HttpRequest | None, choice: str | None = None) -> str:
    """Return ``choice`` if the site still offers it, else what the request's browser asks
    for among the site's languages, else ``LANGUAGE_CODE`` (also without a request)."""
    if choice is not None and choice in supported():
        return choice
    if request is None:
        return translation.get_supported_language_variant(settings.LANGUAGE_CODE)
    return translation.get_language_from_request(request)


def for_user(user_id: int, request: HttpRequest | None = None) -> str:
    """Return the language to address the user in: their choice, else ``negotiated``."""
    return negotiated(request, chosen(user_id))


# Where a request keeps its user's choice once read: the middleware and an API view both ask.
_CHOICE_OF_REQUEST = "_notifications_language_choice"


def for_request(request: HttpRequest) -> str:
    """Return the language of a response to ``request``, by its user if signed in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return negotiated(request)
    known = getattr(request, _CHOICE_OF_REQUEST, None)
    if known is None or known[0] != user.pk:
        known = (user.pk, chosen(int(user.pk)))
        setattr(request, _CHOICE_OF_REQUEST, known)
    return negotiated(request, known[1])
