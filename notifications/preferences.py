"""What each user chose per registered kind: read with the defaults, changed as a whole.

A kind is registered in ``NOTIFICATIONS["KINDS"]``. A user who made no choice for a kind
gets its defaults: in-app on, email as registered. Critical kinds are locked at those
defaults. Unregistered kinds are always delivered in the app and never emailed. The user's
language is changed with their choices (``"language"``), so one request is checked as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext

from notifications.conf import Kind, conf
from notifications.i18n import languages
from notifications.models import Preference

__all__ = [
    "Choice",
    "InvalidPreferences",
    "change",
    "choices_for",
    "deliverable",
    "emailed_kinds",
    "turn_email_off",
]

SWITCHES = ("in_app", "email", "push")
# The key of ``change()``'s body that sets the user's language rather than a kind.
LANGUAGE = "language"
# Up to this many recipients, notify() asks about them by id; above, it reads every user
# who muted the kind: one query either way, and no statement with an unbounded id list.
_BY_ID_LIMIT = 1_000


class InvalidPreferences(ValueError):
    """A change that cannot be made as given; nothing was changed."""


@dataclass(frozen=True)
class Choice:
    """One user's effective choice for one registered kind (the API's shape)."""

    kind: str
    label: str
    in_app: bool
    email: bool
    critical: bool
    # Web Push while no stream is open (``notifications.push``): the user's to choose, even
    # for a critical kind, which is never muted but may reach a closed browser or not.
    push: bool = False


def _default(kind: Kind) -> Choice:
    return Choice(
        kind=kind.name,
        label=kind.label,
        in_app=True,
        email=kind.email,
        critical=kind.critical,
        push=kind.push,
    )


def choices_for(user_id: int) -> list[Choice]:
    """Return the user's choice for every registered kind, in the setting's order: one query."""
    kinds = conf.KINDS
    if not kinds:
        return []
    made = {
        kind: (in_app, email, push)
        for kind, in_app, email, push in Preference.objects.filter(
            user_id=user_id, kind__in=list(kinds)
        ).values_list("kind", "in_app", "email", "push")
    }
    choices = []
    for kind in kinds.values():
        choice = _default(kind)
        if kind.name in made:
            in_app, email, push = made[kind.name]
            choice = replace(choice, push=push)
            if not kind.critical:
                choice = replace(choice, in_app=in_app, email=email)
        choices.append(choice)
    return choices


def deliverable(user_ids: Sequence[int], *, kind: str) -> Sequence[int]:
    """Return ``user_ids`` without those who turned ``kind`` off in the app, in one query."""
    registered = conf.kind(kind)
    if registered is None or registered.critical or not user_ids:
        return user_ids
    muted = Preference.objects.filter(kind=kind, in_app=False)
    if len(user_ids) <= _BY_ID_LIMIT:
        muted = muted.filter(user_id__in=user_ids)
    skip = set(muted.values_list("user_id", flat=True))
    return [user_id for user_id in user_ids if user_id not in skip] if skip else user_ids


def check_choice(kind: str, *, in_app: bool, email: bool) -> None:
    """Raise ``InvalidPreferences`` unless a user may choose this for ``kind``."""
    registered = conf.kind(kind)
    if registered is None:
        raise InvalidPreferences(_unknown_kind(kind))
    if registered.critical and (in_app, email) != (True, registered.email):
        raise InvalidPreferences(
            gettext("%(kind)s is critical: it cannot be turned off or changed.")
            % {"kind": repr(kind)}
        )


def _unknown_kind(kind: str) -> str:
    return gettext("Unknown kind %(kind)s: it is not registered.") % {"kind": repr(kind)}


def change(*, user_id: int, changes: Any) -> list[Choice]:
    """Apply ``{kind: {"in_app": bool, "email": bool, "push": bool}, "language": code}`` (any
    switch may be left out; ``"language"`` too, and null forgets the user's language).

    Everything is checked before anything is written, so a refused change changes nothing.
    Return every choice afterwards.
    """
    if not isinstance(changes, dict):
        raise InvalidPreferences(
            gettext('The body must be a JSON object: {"<kind>": {"in_app": true, "email": false}}.')
        )
    kinds = {kind: switches for kind, switches in changes.items() if kind != LANGUAGE}
    try:
        language = languages.check(changes.get(LANGUAGE))
    except languages.UnknownLanguage as e:
        raise InvalidPreferences(str(e)) from e
    current = {choice.kind: choice for choice in choices_for(user_id)}
    wanted: dict[str, Choice] = {}
    for kind, switches in kinds.items():
        if kind not in current:
            raise InvalidPreferences(_unknown_kind(kind))
        asked = _switches(kind, switches)
        wanted[kind] = replace(
            current[kind],
            in_app=asked.get("in_app", current[kind].in_app),
            email=asked.get("email", current[kind].email),
            push=asked.get("push", current[kind].push),
        )
        check_choice(kind, in_app=wanted[kind].in_app, email=wanted[kind].email)
    with transaction.atomic():
        _store(user_id, wanted.values())
        if LANGUAGE in changes:
            languages.store(user_id, language)
    return [wanted.get(kind, choice) for kind, choice in current.items()]


def _switches(kind: str, switches: Any) -> dict[str, bool]:
    if not isinstance(switches, dict) or not switches:
        raise InvalidPreferences(
            gettext(
                '%(kind)s must be an object with "in_app", "email" or "push", each true or false.'
            )
            % {"kind": repr(kind)}
        )
    for name, value in switches.items():
        if name not in SWITCHES:
            raise InvalidPreferences(
                gettext('%(kind)s has an unknown switch %(name)s: use "in_app", "email" or "push".')
                % {"kind": repr(kind), "name": repr(name)}
            )
        if not isinstance(value, bool):
            raise InvalidPreferences(
                gettext("%(kind)s: %(name)s must be true or false, not %(value)s.")
                % {"kind": repr(kind), "name": name, "value": repr(value)}
            )
    return dict(switches)


def _store(user_id: int, choices: Iterable[Choice]) -> None:
    rows = [
        Preference(
            user_id=user_id,
            kind=choice.kind,
            in_app=choice.in_app,
            email=choice.email,
            push=choice.push,
        )
        for choice in choices
    ]
    if rows:
        with transaction.atomic():
            Preference.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["user", "kind"],
                update_fields=["in_app", "email", "push", "updated_at"],
            )


def turn_email_off(*, user_id: int, kinds: Iterable[str]) -> list[str]:
    """Turn email off for the user's registered, non-critical ``kinds``; return them."""
    current = {choice.kind: choice for choice in choices_for(user_id)}
    off = [
        replace(current[kind], email=False)
        for kind in dict.fromkeys(kinds)
        if kind in current and not current[kind].critical
    ]
    _store(user_id, off)
    return [choice.kind for choice in off]


def emailed_kinds() -> Q:
    """Return a filter on ``Notification`` for those whose recipient wants them emailed."""
    kinds = conf.KINDS.values()
    made = Preference.objects.filter(user_id=OuterRef("recipient_id"), kind=OuterRef("kind"))
    locked_on = [k.name for k in kinds if k.critical and k.email]
    on_by_default = [k.name for k in kinds if not k.critical and k.email]
    off_by_default = [k.name for k in kinds if not k.critical and not k.email]
    return (
        Q(kind__in=locked_on)
        | (Q(kind__in=on_by_default) & ~Exists(made.filter(email=False)))
        | (Q(kind__in=off_by_default) & Exists(made.filter(email=True)))
    )
