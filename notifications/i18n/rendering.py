"""A notification's title and body in the language of whoever reads it.

A kind registered with templates (``NOTIFICATIONS["KINDS"][kind]["title"]`` and ``"body"``:
translatable strings with named fields, ``_("Order #{number} shipped")``) is stored with its
parameters, and each reader gets it rendered in their language when they read it. Every
language of the site is rendered once when it is sent (:func:`prepare`), so that a template
that cannot be rendered is refused there, never met by a reader: a row that fails all the
same (its kind's templates changed since) is shown as stored, in the site's language.

A stream renders each templated notification it sends, a broadcast one for each reader: the
templates of each kind are translated once per language (until a setting they come from
changes), and rendered with ``str.format_map`` once their fields are known to be plain names.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import formats, translation

from notifications import content
from notifications.checks import template_problem
from notifications.conf import conf
from notifications.content import ContentTooLarge, InvalidNotification
from notifications.i18n import languages
from notifications.models import Notification

__all__ = [
    "InvalidParams",
    "Prepared",
    "prepare",
    "render",
    "title_and_body",
]

logger = logging.getLogger(__name__)

# Templates: a title, and a body or None.
Templates = tuple[str, str | None]


class InvalidParams(InvalidNotification):
    """Parameters a kind's templates cannot be rendered with, or given where none are taken."""


@dataclass(frozen=True)
class Prepared:
    """What ``notify()`` stores: the title and body in the site's language, and the
    parameters (None for free text)."""

    title: str
    body: str
    params: dict[str, Any] | None


def prepare(*, kind: str, title: str, body: str, params: Any) -> Prepared:
    """Return what to store for a notification of ``kind``.

    Free text (a ``title``, no ``params``) is stored as given. A kind with a title template
    and no ``title`` is rendered from ``params`` (``{}`` when omitted) in every language the
    site has; raise ``InvalidNotification`` if any rendering fails or is too large.
    """
    templated = conf.templates(kind) is not None
    if params is None and (title or not templated):
        return Prepared(title, body, None)
    if not templated:
        raise InvalidParams(
            f"The kind {kind!r} has no title template: params need a kind registered "
            'with a "title" template in NOTIFICATIONS["KINDS"].',
            field="params",
        )
    if title or body:
        raise InvalidParams(
            f"The kind {kind!r} renders its title and body from params: give params, "
            "not a title or body.",
            field="title",
        )
    params = _json_object({} if params is None else params)
    default = languages.negotiated(None)
    renderings = {language: _checked(kind, params, language) for language in _languages(default)}
    return Prepared(*renderings[default], params)


def _json_object(params: Any) -> dict[str, Any]:
    """Return ``params`` as stored and read back: a JSON object of the site's size."""
    if not isinstance(params, dict):
        raise InvalidParams("The params must be a JSON object.", field="params")
    try:
        encoded = json.dumps(params, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidParams(f"The params are not JSON-serializable: {e}", field="params") from e
    if len(encoded.encode()) > conf.MAX_DATA_BYTES:
        raise ContentTooLarge(
            f"The params are longer than {conf.MAX_DATA_BYTES} bytes as JSON.", field="params"
        )
    loaded: dict[str, Any] = json.loads(encoded)
    return loaded


def _languages(default: str) -> Iterator[str]:
    yield from dict.fromkeys([default, *languages.supported()])


def _checked(kind: str, params: dict[str, Any], language: str) -> tuple[str, str]:
    """Render ``kind`` in ``language``, and check the rendering as ``notify()`` checks text."""
    try:
        title, body = _render(_translated(kind, language), params, language)
        content.validate(kind=kind, title=title, body=body, url="", data={}, dedupe_key=None)
    except InvalidNotification as e:
        raise type(e)(f"{kind} in {language!r}: {e}", field=e.field) from e
    return title, body


@functools.lru_cache(maxsize=1024)
def _translated(kind: str, language: str | None) -> Templates:
    """Return the templates of ``kind`` in ``language``, their fields checked."""
    templates = conf.templates(kind)
    assert templates is not None, kind
    title, body = templates
    with translation.override(language):
        return _named_fields(str(title)), None if body is None else _named_fields(str(body))


def _named_fields(template: str) -> str:
    """Return ``template`` if its fields are plain names (``checks.template_problem``)."""
    problem = template_problem(template)
    if problem:
        raise InvalidParams(f"The template {template!r} {problem}", field="params")
    return template


class _Param:
    """A parameter as ``language`` writes it: a number (or a string holding a decimal
    number, under a ``.Nf`` spec) with that language's separators, ``{total:.2f}`` being
    ``129.00`` in English and ``129,00`` in German; text as given, a spec that does not fit
    it ignored rather than refused."""

    __slots__ = ("language", "value")

    def __init__(self, value: Any, language: str | None) -> None:
        self.value, self.language = value, language

    def __format__(self, spec: str) -> str:
        value = self.value
        places = re.fullmatch(r"\.(\d)f", spec)
        if places and isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
            value = Decimal(value)
        number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
        if number and (not spec or places):
            with translation.override(self.language):
                return formats.number_format(value, int(places[1]) if places else None)
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)


def _localized(params: dict[str, Any], language: str | None) -> dict[str, Any]:
    return {name: _Param(value, language) for name, value in params.items()}


def _render(templates: Templates, params: dict[str, Any], language: str | None) -> tuple[str, str]:
    title, body = templates
    params = _localized(params, language)
    try:
        return title.format_map(params), "" if body is None else body.format_map(params)
    except KeyError as e:
        raise InvalidParams(f"The parameter {e} is missing.", field="params") from e
    except (ValueError, TypeError, IndexError) as e:
        raise InvalidParams(f"The params do not fit the templates: {e}", field="params") from e


def render(kind: str, params: Any, language: str | None = None) -> tuple[str, str] | None:
    """Return the title and body of a ``kind`` notification with ``params`` in ``language``
    (the active one by default); None when the kind has no templates, or they no longer
    render with these parameters (the caller shows what was stored)."""
    if conf.templates(kind) is None or not isinstance(params, dict):
        return None
    try:
        language = language or translation.get_language()
        return _render(_translated(kind, language), params, language)
    except InvalidNotification as e:
        logger.warning("A %s notification no longer renders; shown as stored: %s", kind, e)
        return None


def title_and_body(notification: Notification, language: str | None = None) -> tuple[str, str]:
    """Return the title and body to show of ``notification`` in ``language`` (the active one
    by default): free text as written, a templated one rendered."""
    if notification.params is not None:
        rendered = render(notification.kind, notification.params, language)
        if rendered is not None:
            return rendered
    return notification.title, notification.body


@receiver(setting_changed)
def _forget_translations(*, setting: str, **kwargs: Any) -> None:
    """Translate the templates anew once a setting they come from changes (in tests)."""
    if setting in {"NOTIFICATIONS", "LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"}:
        _translated.cache_clear()
