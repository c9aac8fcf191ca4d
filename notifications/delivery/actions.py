"""The buttons of a notification: its kind's ``actions``, filled in from its ``data``.

A kind declares each action as a label and a URL template over the notification's data
(``{"label": _("View order"), "url": "/orders/{order}/"}``). They are rendered when a
notification is read, never stored, so a changed template or label applies to every row,
and each reader gets the labels in their language.

A value is quoted before it goes into the URL, so data cannot add a path, a query or a
scheme of its own; an action whose URL would still not be a safe link (``http(s)`` or this
site), or whose data lacks a field, is left out rather than shown broken.
"""

from __future__ import annotations

import functools
import string
from typing import Any
from urllib.parse import quote

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils import translation

from notifications.conf import conf
from notifications.content import is_safe_link

Action = dict[str, str]

# Per kind: its actions' labels (in one language) and URL templates.
_Declared = dict[str, tuple[tuple[str, str], ...]]


def actions(kind: str, data: Any, language: str | None = None) -> list[Action]:
    """Return the actions of a ``kind`` notification with ``data``, labelled in ``language``
    (the active one by default)."""
    declared = _declared(language or translation.get_language()).get(kind)
    if not declared:
        return []
    values = data if isinstance(data, dict) else {}
    rendered = []
    for label, template in declared:
        url = _fill(template, values)
        if url is not None and is_safe_link(url):
            rendered.append({"label": label, "url": url})
    return rendered


def has_actions(kind: str) -> bool:
    """Tell whether ``kind`` declares actions (cheap: the stream asks for each frame)."""
    return kind in _declared(translation.get_language())


def _fill(template: str, data: dict[str, Any]) -> str | None:
    """Return ``template`` with its fields from ``data``, each value quoted; None when one
    is missing. Fields are plain names (the system check refuses others)."""
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            value = data.get(field)
            if value is None or isinstance(value, dict | list):
                return None
            parts.append(quote(str(value), safe=""))
    return "".join(parts)


@functools.cache
def _declared(language: str | None) -> _Declared:
    with translation.override(language):
        return {
            kind.name: tuple((str(action.label), action.url) for action in kind.actions)
            for kind in conf.KINDS.values()
            if kind.actions
        }


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: Any) -> None:
    """Translate the labels anew once a setting they come from changes (in tests)."""
    if setting in {"NOTIFICATIONS", "LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"}:
        _declared.cache_clear()
