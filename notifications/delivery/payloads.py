"""The one JSON shape of a notification, shared by the stream and the API.

A templated notification's title and body are rendered in the reader's language
(``notifications.i18n.rendering``); what is published live is the payload as stored, in
the site's language, which each stream renders again in its own when it has parameters.
"""

from __future__ import annotations

from typing import Any

from notifications.content import safe_link
from notifications.i18n import rendering
from notifications.models import Notification

Payload = dict[str, Any]


def notification_payload(notification: Notification, language: str | None = None) -> Payload:
    """Return the public fields of ``notification`` as JSON-ready values, its title and body
    in ``language`` (the active one by default).

    A stored link not fit to show (written around ``notify()``) is sent as ``""``: no link.
    """
    payload = stored_payload(notification)
    if notification.params is not None:
        title, body = rendering.title_and_body(notification, language)
        payload.update(title=title, body=body)
    return payload


def stored_payload(notification: Notification) -> Payload:
    """Return the payload with the title and body as stored: what a publisher sends, with no
    rendering per recipient."""
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
    }


def live_payload(payload: Payload, params: Any, language: str | None = None) -> Payload:
    """Return a published ``payload`` with ``params`` rendered in ``language`` (the active
    one by default)."""
    rendered = rendering.render(payload["kind"], params, language)
    if rendered is None:
        return payload
    return {**payload, "title": rendered[0], "body": rendered[1]}
