"""What to push to whom: the subscriptions and messages of a batch of committed notifications.

A notification is pushed to each subscription of its recipient when the recipient wants
its kind pushed (their ``push`` choice, else the kind's ``"push"`` default; unregistered
kinds never are, as they are never emailed) and has no open stream anywhere: that is left
to the sender, which asks the connection slots just before sending.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from notifications.conf import conf
from notifications.content import safe_link
from notifications.i18n import rendering
from notifications.models import Notification, Preference, PushSubscription, UserLanguage

# Notifications read per query.
CHUNK = 1000


@dataclass(frozen=True)
class Push:
    """One message for one subscription."""

    subscription_id: int
    user_id: int
    info: dict[str, Any]
    data: str
    urgency: str


def for_notifications(ids: list[int]) -> list[Push]:
    """Return the pushes of the notifications ``ids`` (committed), for every recipient who
    wants them pushed and has a subscription, in their language."""
    pushes: list[Push] = []
    for start in range(0, len(ids), CHUNK):
        rows = list(Notification.objects.filter(pk__in=ids[start : start + CHUNK]))
        pushes += _pushes(rows)
    return pushes


def _pushes(rows: list[Notification]) -> list[Push]:
    wanted = _wanted(rows)
    if not wanted:
        return []
    users = {n.recipient_id for n in wanted}
    subscriptions: dict[int, list[PushSubscription]] = defaultdict(list)
    for subscription in PushSubscription.objects.filter(user_id__in=users):
        subscriptions[subscription.user_id].append(subscription)
    languages = dict(
        UserLanguage.objects.filter(user_id__in=subscriptions).values_list("user_id", "language")
    )
    critical = {kind.name for kind in conf.KINDS.values() if kind.critical}
    pushes = []
    for notification in wanted:
        mine = subscriptions.get(notification.recipient_id, [])
        if not mine:
            continue
        data = _message(notification, languages.get(notification.recipient_id))
        urgency = "high" if notification.kind in critical else "normal"
        pushes += [Push(s.pk, s.user_id, s.info, data, urgency) for s in mine]
    return pushes


def _wanted(rows: Iterable[Notification]) -> list[Notification]:
    """Keep the notifications whose recipient wants their kind pushed."""
    kinds = conf.KINDS
    rows = [n for n in rows if n.kind in kinds]
    if not rows:
        return []
    chosen = {
        (user_id, kind): push
        for user_id, kind, push in Preference.objects.filter(
            user_id__in={n.recipient_id for n in rows}, kind__in={n.kind for n in rows}
        ).values_list("user_id", "kind", "push")
    }
    return [n for n in rows if chosen.get((n.recipient_id, n.kind), kinds[n.kind].push)]


def _message(notification: Notification, language: str | None) -> str:
    """The push's JSON, in the recipient's language (the site's when they chose none): what
    the service worker shows, and the ids it marks read with."""
    title, body = rendering.title_and_body(notification, language or None)
    return json.dumps(
        {
            "id": notification.pk,
            "seq": notification.seq,
            "kind": notification.kind,
            "title": title,
            "body": body,
            "url": safe_link(notification.url),
        },
        separators=(",", ":"),
    )
