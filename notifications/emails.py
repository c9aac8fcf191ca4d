"""Email each user what they left unread: one message per user, each notification once.

A run takes the users with something to send a batch at a time. For each batch it claims
the notifications in one statement (``emailed_at`` set where it is still empty and the
notification still unread; on PostgreSQL its subquery takes the rows ``FOR UPDATE SKIP
LOCKED``, so a concurrent run skips them instead of waiting; SQLite runs one writer at a
time), so two runs at the same moment never claim the same notification. A message that
fails to send gives its claims back, to be retried by the next run; a notification whose
claim was kept is never emailed again.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from notifications import preferences
from notifications.conf import conf
from notifications.models import Notification

__all__ = ["DEFAULT_SITE_URL", "EmailRunFailed", "send_unread", "site_url", "unsubscribe_token"]

logger = logging.getLogger(__name__)

DEFAULT_SITE_URL = "http://127.0.0.1:8000"
UNSUBSCRIBE_SALT = "notifications.api.unsubscribe"
# Users per batch: what one claim statement covers.
BATCH_USERS = 200
# Notifications listed in one email; the rest are counted ("and 3 more").
LISTED = 20
# Errors about one message: the others may still go. Anything else stops the run.
_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class EmailRunFailed(Exception):
    """Sending failed part-way: ``sent`` emails went; what did not is released for next run."""

    def __init__(self, message: str, *, sent: int) -> None:
        super().__init__(message)
        self.sent = sent


@dataclass
class Digest:
    """One user's email: their claimed notifications, newest first."""

    user: Any
    address: str
    notifications: list[Notification] = field(default_factory=list)


def site_url() -> str:
    """Return ``settings.SITE_URL`` without a trailing slash: the base of every link."""
    return str(getattr(settings, "SITE_URL", DEFAULT_SITE_URL) or DEFAULT_SITE_URL).rstrip("/")


def unsubscribe_token(user_id: int, kinds: Sequence[str]) -> str:
    """Sign a token that turns email off for ``kinds`` of one user, without logging in."""
    return signing.dumps({"u": user_id, "k": list(kinds)}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, list[str]]:
    """Return ``(user_id, kinds)``; raise ``signing.BadSignature`` for anything forged."""
    value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("u"), int)
        or not isinstance(value.get("k"), list)
        or not all(isinstance(kind, str) for kind in value["k"])
    ):
        raise signing.BadSignature("Not an unsubscribe token.")
    return value["u"], value["k"]


def pending(*, older_than: datetime) -> QuerySet[Notification]:
    """Notifications to email: unread, unclaimed, old enough, of kinds the recipient wants
    emailed, to an active user with an address."""
    email_field = get_user_model().get_email_field_name()
    wanted = Notification.objects.filter(
        preferences.emailed_kinds(),
        read_at__isnull=True,
        emailed_at__isnull=True,
        created_at__lte=older_than,
        recipient__is_active=True,
    )
    return wanted.exclude(**{f"recipient__{email_field}": ""}).exclude(
        **{f"recipient__{email_field}__isnull": True}
    )


def send_unread(*, min_age: timedelta) -> int:
    """Email every user their unread notifications at least ``min_age`` old; return how many
    emails were sent. Raise ``EmailRunFailed`` if the mail server fails (after releasing)."""
    if not conf.KINDS:
        return 0
    older_than = timezone.now() - min_age
    after = 0
    sent = 0
    mail = get_connection(fail_silently=False)
    try:
        while True:
            users = list(
                pending(older_than=older_than)
                .filter(recipient_id__gt=after)
                .order_by("recipient_id")
                .values_list("recipient_id", flat=True)
                .distinct()[:BATCH_USERS]
            )
            if not users:
                return sent
            after = users[-1]
            sent += _send_batch(mail, _digests(_claim(users, older_than=older_than)), sent)
    finally:
        mail.close()


def _claim(users: list[int], *, older_than: datetime) -> list[int]:
    """Mark the users' pending notifications as emailed, atomically; return the ids we got."""
    table = connection.ops.quote_name(Notification._meta.db_table)
    quote = connection.ops.quote_name
    with transaction.atomic():
        candidates = (
            pending(older_than=older_than)
            .filter(recipient_id__in=users)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by()
            .values("pk")
        )
        subquery, params = candidates.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {quote('emailed_at')} = %s "
                f"WHERE {quote('id')} IN ({subquery}) RETURNING {quote('id')}",
                [timezone.now(), *params],
            )
            return [row[0] for row in cursor.fetchall()]


def _release(ids: Sequence[int]) -> None:
    """Give claims back after a failed send, so the next run tries them again."""
    if ids:
        Notification.objects.filter(pk__in=ids).update(emailed_at=None)


def _digests(ids: list[int]) -> list[Digest]:
    if not ids:
        return []
    email_field = get_user_model().get_email_field_name()
    rows = (
        Notification.objects.filter(pk__in=ids)
        .select_related("recipient")
        .order_by("recipient_id", "-seq")
    )
    digests = []
    for _, group in groupby(rows, key=lambda n: n.recipient_id):
        notifications = list(group)
        user = notifications[0].recipient
        digests.append(Digest(user, getattr(user, email_field), notifications))
    return digests


def _send_batch(mail: BaseEmailBackend, digests: list[Digest], sent_before: int) -> int:
    """Send each digest on one open connection; on failure release what was not sent."""
    if not digests:
        return 0
    try:
        mail.open()  # Once for the run: without it, each message would connect anew.
    except Exception as e:
        _release([n.pk for digest in digests for n in digest.notifications])
        raise EmailRunFailed(
            f"Cannot reach the mail server: {e!r}. Nothing was sent from this batch; it is "
            "retried on the next run.",
            sent=sent_before,
        ) from e
    sent = 0
    for index, digest in enumerate(digests):
        try:
            if not mail.send_messages([message(digest, connection=mail)]):
                raise smtplib.SMTPException("The mail backend sent nothing.")
        except Exception as e:
            _release([n.pk for n in digest.notifications])
            if isinstance(e, _MESSAGE_ERRORS):
                logger.warning("Email to user %s failed, retried next run: %s", digest.user.pk, e)
                continue
            _release([n.pk for later in digests[index + 1 :] for n in later.notifications])
            raise EmailRunFailed(
                f"Sending failed: {e!r}. What was not sent is retried on the next run.",
                sent=sent_before + sent,
            ) from e
        sent += 1
    return sent


def _absolute(url: str) -> str:
    """Resolve a notification's link against the site; anything but http(s) is the inbox."""
    base = site_url() + "/"
    resolved = urljoin(base, url) if url else base
    return resolved if urlsplit(resolved).scheme in ("http", "https") else base


def message(
    digest: Digest, *, connection: BaseEmailBackend | None = None
) -> EmailMultiAlternatives:
    """Build one user's email: a text and an HTML part, with one-click unsubscribe headers."""
    kinds = conf.KINDS
    base = site_url()
    mutable = [k for k in dict.fromkeys(n.kind for n in digest.notifications) if k in kinds]
    mutable = [k for k in mutable if not kinds[k].critical]
    unsubscribe = [
        {"label": kinds[kind].label, "url": base + _unsubscribe_path(digest.user.pk, [kind])}
        for kind in mutable
    ]
    count = len(digest.notifications)
    context = {
        "user": digest.user,
        "count": count,
        "notifications": [
            {"title": n.title, "body": n.body, "url": _absolute(n.url), "created_at": n.created_at}
            for n in digest.notifications[:LISTED]
        ],
        "more": max(0, count - LISTED),
        "inbox_url": base + "/",
        "unsubscribe": unsubscribe,
    }
    first = digest.notifications[0].title
    subject = first if count == 1 else f"{count} unread notifications: {first}"
    headers = {}
    if mutable:
        headers["List-Unsubscribe"] = f"<{base}{_unsubscribe_path(digest.user.pk, mutable)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email = EmailMultiAlternatives(
        subject=" ".join(subject.split())[:200],
        body=render_to_string("notifications/email/unread.txt", context),
        to=[digest.address],
        headers=headers,
        connection=connection,
    )
    email.attach_alternative(
        render_to_string("notifications/email/unread.html", context), "text/html"
    )
    return email


def _unsubscribe_path(user_id: int, kinds: Sequence[str]) -> str:
    return reverse("notifications:email-unsubscribe", args=[unsubscribe_token(user_id, kinds)])
