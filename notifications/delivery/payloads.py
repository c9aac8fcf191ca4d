"""The one JSON shape of a notification, shared by the stream and the API.

A templated notification's title and body are rendered in the reader's language
(``notifications.i18n.rendering``), and so are its actions' labels
(``notifications.delivery.actions``); what is published live is the payload as stored, in
the publisher's language, which each stream renders again in its own when it has
parameters or actions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from notifications.conf import conf
from notifications.content import safe_link
from notifications.delivery import actions
from notifications.i18n import rendering
from notifications.models import Notification

Payload = dict[str, Any]


def notification_payload(notification: Notification, language: str | None = None) -> Payload:
    """Return the public fields of ``notification`` as JSON-ready values, its title and body
    in ``language`` (the active one by default).

    A stored link not fit to show (written around ``notify()``) is sent as ``""``: no link.
    """
    payload = stored_payload(notification, language)
    if notification.params is not None:
        title, body = rendering.title_and_body(notification, language)
        payload.update(title=title, body=body)
    return payload


def stored_payload(notification: Notification, language: str | None = None) -> Payload:
    """Return the payload with the title and body as stored: what a publisher sends, with no
    rendering per recipient (its actions are labelled in ``language``, the active one by
    default)."""
    return {
        "id": notification.pk,
        "seq": notification.seq,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "url": safe_link(notification.url),
        "data": notification.data,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
        "category": conf.category(notification.kind),
        "actions": actions.actions(notification.kind, notification.data, language),
        "archived": notification.archived_at is not None,
        "snoozed_until": _iso(notification.snoozed_until),
    }


def live_payload(payload: Payload, params: Any, language: str | None = None) -> Payload:
    """Return a published ``payload`` in ``language`` (the active one by default): its
    ``params`` rendered, its actions labelled; as published when it has neither."""
    kind = payload["kind"]
    rendered = None if params is None else rendering.render(kind, params, language)
    relabel = bool(payload.get("actions")) and actions.has_actions(kind)
    if rendered is None and not relabel:
        return payload
    payload = dict(payload)
    if rendered is not None:
        payload.update(title=rendered[0], body=rendered[1])
    if relabel:
        payload["actions"] = actions.actions(kind, payload["data"], language)
    return payload


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
