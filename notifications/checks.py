"""System checks for the ``NOTIFICATIONS`` setting."""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.utils.functional import Promise

from notifications.conf import DEFAULTS

_POSITIVE_NUMBERS = (
    "HEARTBEAT_SECONDS",
    "RETRY_MILLISECONDS",
    "MAX_CONNECTIONS_PER_USER",
    "LIMIT_RETRY_AFTER_SECONDS",
    "SLOW_CLIENT_BUFFER_BYTES",
    "REPLAY_LIMIT",
    "POLL_SECONDS",
    "TICKET_LIFETIME_SECONDS",
    "PUBLISH_TIMEOUT_SECONDS",
    "MAX_TITLE_LENGTH",
    "MAX_BODY_LENGTH",
    "MAX_URL_LENGTH",
    "MAX_DATA_BYTES",
)
ON_LIMIT_CHOICES = ("reject", "evict_oldest")
# Text may be lazy (gettext_lazy), translated where it is shown.
TEXT = (str, Promise)
KIND_KEYS: dict[str, type | tuple[type, ...]] = {
    "label": TEXT,
    "critical": bool,
    "email": bool,
    "title": TEXT,
    "body": TEXT,
    "category": str,
    "actions": (list, tuple),
    "push": bool,
}
# The kind column's length: a longer registered kind could never be stored.
KIND_MAX_LENGTH = 64


@register()
def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[Error]:
    """Refuse unknown keys and values that would make streams misbehave."""
    errors: list[Error] = []
    user_settings = getattr(settings, "NOTIFICATIONS", {})
    if not isinstance(user_settings, dict):
        return [Error("NOTIFICATIONS must be a dict.", id="notifications.E001")]
    for key in sorted(set(user_settings) - set(DEFAULTS)):
        errors.append(
            Error(
                f"NOTIFICATIONS has an unknown key {key!r}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="notifications.E002",
            )
        )
    for key in _POSITIVE_NUMBERS:
        value = user_settings.get(key, DEFAULTS[key])
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < math.inf  # Also refuses NaN, which compares false.
        ):
            errors.append(
                Error(
                    f"NOTIFICATIONS[{key!r}] must be a finite positive number, not {value!r}.",
                    id="notifications.E003",
                )
            )
    on_limit = user_settings.get("ON_LIMIT", DEFAULTS["ON_LIMIT"])
    if on_limit not in ON_LIMIT_CHOICES:
        errors.append(
            Error(
                f"NOTIFICATIONS['ON_LIMIT'] must be one of {ON_LIMIT_CHOICES}, not {on_limit!r}.",
                id="notifications.E004",
            )
        )
    errors += _check_kinds(user_settings.get("KINDS", DEFAULTS["KINDS"]))
    errors += _check_categories(user_settings.get("CATEGORIES", DEFAULTS["CATEGORIES"]))
    after = user_settings.get("EMAIL_AFTER_MINUTES", DEFAULTS["EMAIL_AFTER_MINUTES"])
    if isinstance(after, bool) or not isinstance(after, int | float) or not 0 <= after < math.inf:
        errors.append(
            Error(
                f"NOTIFICATIONS['EMAIL_AFTER_MINUTES'] must be a finite number of minutes, "
                f"0 or more, not {after!r}.",
                id="notifications.E006",
            )
        )
    token = user_settings.get("METRICS_TOKEN")
    if token is not None and not isinstance(token, str):
        errors.append(
            Error(
                "NOTIFICATIONS['METRICS_TOKEN'] must be a string or None, "
                f"not {type(token).__name__}.",
                id="notifications.E007",
            )
        )
    return errors


def _leads_here_or_to_the_web(url: str) -> bool:
    """Tell whether a URL template starts, before any field, as a path on this site or an
    http(s) URL: a field cannot choose the scheme then (its value is quoted, so it cannot add
    a slash either)."""
    head = url.split("{", 1)[0]
    if head.startswith("/"):
        return not head.startswith(("//", "/\\"))
    return re.match(r"https?://[^/\\]", head, re.IGNORECASE) is not None


def _check_categories(categories: Any) -> list[Error]:
    """Refuse ``CATEGORIES`` that is not names to labels."""
    if isinstance(categories, dict) and all(
        isinstance(name, str) and name.strip() and isinstance(label, TEXT)
        for name, label in categories.items()
    ):
        return []
    return [
        Error(
            "NOTIFICATIONS['CATEGORIES'] must map category names to labels.",
            hint='e.g. {"orders": _("Orders")}',
            id="notifications.E008",
        )
    ]


def _check_kinds(kinds: Any) -> list[Error]:
    """Refuse a ``KINDS`` that preferences and emails could not be built from."""
    hint = (
        'e.g. {"order.shipped": {"label": "Order shipped", "critical": False, "email": True, '
        '"title": _("Order #{number} shipped")}}'
    )
    if not isinstance(kinds, dict):
        return [Error("NOTIFICATIONS['KINDS'] must be a dict.", hint=hint, id="notifications.E005")]
    errors = []
    for name, spec in kinds.items():
        problem = _kind_problem(name, spec)
        if problem:
            errors.append(
                Error(
                    f"NOTIFICATIONS['KINDS'][{name!r}] {problem}",
                    hint=hint,
                    id="notifications.E005",
                )
            )
    return errors


def _kind_problem(name: Any, spec: Any) -> str | None:
    if not isinstance(name, str) or not 0 < len(name) <= KIND_MAX_LENGTH:
        return f"is not a kind: a kind is a string of 1 to {KIND_MAX_LENGTH} characters."
    if not isinstance(spec, dict):
        return "must be a dict with a label, and critical and email flags."
    unknown = sorted(set(spec) - set(KIND_KEYS), key=str)
    if unknown:
        return f"has unknown keys {unknown}; known keys: {', '.join(KIND_KEYS)}."
    for key, expected in KIND_KEYS.items():
        if key in spec and not isinstance(spec[key], expected):
            kind_of = "string" if expected is TEXT else getattr(expected, "__name__", "")
            return f"[{key!r}] must be a {kind_of}, not {spec[key]!r}."
    for key in ("label", "title", "body"):
        if key in spec and not str(spec[key]).strip():
            return f"[{key!r}] must not be empty."
    if "body" in spec and "title" not in spec:
        return "has a body template without a title template: give both, or neither."
    if "category" in spec and not spec["category"].strip():
        return "['category'] must not be empty."
    return _template_problem(spec) or _actions_problem(spec.get("actions", ()))


def _actions_problem(actions: Sequence[Any]) -> str | None:
    """Return why a kind's ``actions`` could not be buttons: each must be a dict with a
    label and a URL template of plain fields that leads to this site or to http(s)."""
    for index, action in enumerate(actions):
        where = f"['actions'][{index}]"
        if not isinstance(action, dict) or set(action) != {"label", "url"}:
            return f"{where} must be a dict with a 'label' and a 'url', and nothing else."
        label, url = action["label"], action["url"]
        if not isinstance(label, TEXT) or not str(label).strip():
            return f"{where}['label'] must be a non-empty string."
        if not isinstance(url, str):
            return f"{where}['url'] must be a string."
        problem = template_problem(url)
        if problem:
            return f"{where}['url'] {problem}"
        if not _leads_here_or_to_the_web(url):
            return f"{where}['url'] must be a path on this site or an http(s) URL, not {url!r}."
    return None


def _template_problem(spec: dict[str, Any]) -> str | None:
    for key in ("title", "body"):
        problem = template_problem(str(spec[key])) if key in spec else None
        if problem:
            return f"[{key!r}] {problem}"
    return None


def template_problem(template: str) -> str | None:
    """Return why ``template`` cannot be a kind's template, or None.

    Each field must be a plain name (``{number}``, ``{total:.2f}``): not positional (``{0}``),
    nor reaching into a parameter (``{order.number}``, ``{items[0]}``), nor nested in a
    format spec, so that rendering can only ever show the parameters given.
    """
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(template)]
    except ValueError as e:
        return f"is not a template: {e}."
    for name, spec in fields:
        if name is not None and (not name.isidentifier() or "{" in (spec or "")):
            return f"has the field {{{name}}}: template fields are plain names, such as {{number}}."
    return None
