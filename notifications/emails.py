"""Email each user what they left unread: one message per user, each notification once.

A run takes the users with something to send a batch at a time. For each batch it claims
the notifications in one statement, writing its name and an expiry where no live claim is
(the notification still unread and not yet emailed; on PostgreSQL the statement's subquery
takes the rows ``FOR UPDATE SKIP LOCKED``, so a concurrent run skips them instead of
waiting; SQLite runs one writer at a time), so two runs at the same moment never claim the
same notification. A notification is marked emailed once the mail server has accepted its
message; a message that fails gives its claims back, for the next run.

A run that dies leaves its claims to expire (``NOTIFICATIONS["EMAIL_CLAIM_SECONDS"]``), and
a later run sends what it had not: only dying between the server's acceptance and the mark
(one quick ``UPDATE``) can send an email twice. A live run renews its claims half-way
through their lease, and drops any it no longer holds before sending.
"""

from __future__ import annotations

import logging
import os
import secrets
import smtplib
import socket
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import ngettext

from notifications import content, preferences, store
from notifications.conf import conf
from notifications.i18n import languages, rendering
from notifications.models import Notification, UserLanguage

__all__ = ["DEFAULT_SITE_URL", "EmailRunFailed", "send_unread", "site_url", "unsubscribe_token"]

logger = logging.getLogger(__name__)

DEFAULT_SITE_URL = "http://127.0.0.1:8000"
# Part of every unsubscribe link already emailed: changing it would break them all.
UNSUBSCRIBE_SALT = "notifications.unsubscribe"
# Users per batch: what one claim statement covers.
BATCH_USERS = 200
# Notifications listed in one email; the rest are counted ("and 3 more").
LISTED = 20
# Seconds one SMTP exchange may wait when the site sets no ``EMAIL_TIMEOUT``: Django's own
# default waits forever, and a stalled server would hold the run, and its claims, with it.
DEFAULT_EMAIL_TIMEOUT = 30
# Errors about one message: the others may still go. Anything else stops the run.
_MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class EmailRunFailed(Exception):
    """Sending failed part-way: ``sent`` emails went; what did not is released for next run."""

    def __init__(self, message: str, *, sent: int) -> None:
        super().__init__(message)
        self.sent = sent


def _owner() -> str:
    """Name a run on its claims: its host and process, and a nonce against reused pids."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Run:
    """One run: the name on its claims, their lease, what it sent, what the server refused."""

    owner: str = field(default_factory=_owner)
    lease: timedelta = field(default_factory=lambda: timedelta(seconds=conf.EMAIL_CLAIM_SECONDS))
    renew_at: datetime = field(default_factory=timezone.now)
    sent: int = 0
    refused: list[str] = field(default_factory=list)

    def expiry(self) -> datetime:
        """Return when claims taken now expire; the run renews them half-way there."""
        now = timezone.now()
        self.renew_at = now + self.lease / 2
        return now + self.lease


@dataclass
class Digest:
    """One user's email: their claimed notifications, newest first, in their language (None:
    they chose none, the site's default)."""

    user: Any
    address: str
    notifications: list[Notification] = field(default_factory=list)
    language: str | None = None


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


def pending(*, older_than: datetime, now: datetime) -> QuerySet[Notification]:
    """Notifications to email: unread, neither emailed nor held by a live claim, old enough,
    of kinds the recipient wants emailed, to an active user with an address."""
    email_field = get_user_model().get_email_field_name()
    wanted = Notification.objects.filter(
        preferences.emailed_kinds(),
        Q(email_claimed_until__isnull=True) | Q(email_claimed_until__lte=now),
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
    run = Run()
    older_than = timezone.now() - min_age
    after = 0
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or DEFAULT_EMAIL_TIMEOUT
    mail = get_connection(fail_silently=False, timeout=timeout)
    try:
        while users := _next_users(older_than=older_than, after=after):
            after = users[-1]
            _send_batch(mail, run, _digests(_claim(run, users, older_than=older_than)))
        return run.sent
    finally:
        mail.close()
        if run.refused:
            logger.warning(
                "The mail server refused %d email(s), retried next run; the first, to %s",
                len(run.refused),
                run.refused[0],
            )


def _next_users(*, older_than: datetime, after: int) -> list[int]:
    """Return the next batch of users with something to send, in id order after ``after``."""
    return list(
        pending(older_than=older_than, now=timezone.now())
        .filter(recipient_id__gt=after)
        .order_by("recipient_id")
        .values_list("recipient_id", flat=True)
        .distinct()[:BATCH_USERS]
    )


def _claim(run: Run, users: list[int], *, older_than: datetime) -> list[int]:
    """Claim the users' pending notifications for ``run`` in one statement; return the ids."""
    with transaction.atomic():
        candidates = (
            pending(older_than=older_than, now=timezone.now())
            .filter(recipient_id__in=users)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by()
            .values("pk")
        )
        return store.update_returning(
            Notification.objects.filter(pk__in=candidates),
            email_claimed_by=run.owner,
            email_claimed_until=run.expiry(),
        )


def _renew(run: Run, digests: Iterable[Digest]) -> deque[Digest]:
    """Extend the run's claims on ``digests`` and leave out what it no longer holds: a claim
    that expired may have been taken by another run, which sends it instead."""
    digests = list(digests)
    held = set(
        store.update_returning(
            Notification.objects.filter(
                pk__in=_ids(digests), email_claimed_by=run.owner, emailed_at__isnull=True
            ),
            email_claimed_until=run.expiry(),
        )
    )
    kept = (replace(d, notifications=[n for n in d.notifications if n.pk in held]) for d in digests)
    return deque(digest for digest in kept if digest.notifications)


def _ids(digests: Iterable[Digest]) -> list[int]:
    return [n.pk for digest in digests for n in digest.notifications]


def _mark_sent(run: Run, digest: Digest) -> None:
    """Record that the mail server accepted the digest: its notifications are done, and the
    run's name stays on them as the one that sent them.

    One mark an email, committed before the next is sent, so a run killed at any moment has
    at most that one email unmarked. Built without a queryset and committed without waiting
    for the disk, it costs a round trip: other runs see it at once, and a crash of the
    database itself (not of the run) would only send the last fraction of a second's emails
    again, once their claims expire.
    """
    ids = _ids([digest])
    where = f"{connection.ops.quote_name('id')} IN ({', '.join(['%s'] * len(ids))})"
    values = {"emailed_at": timezone.now(), "email_claimed_until": None}
    store.update(where, ids, values, unflushed=True)
    run.sent += 1


def _release(run: Run, digests: Iterable[Digest]) -> None:
    """Give back the run's claims on what it did not send, so the next run tries at once."""
    if ids := _ids(digests):
        Notification.objects.filter(
            pk__in=ids, email_claimed_by=run.owner, emailed_at__isnull=True
        ).update(email_claimed_by=None, email_claimed_until=None)


def _digests(ids: list[int]) -> list[Digest]:
    if not ids:
        return []
    email_field = get_user_model().get_email_field_name()
    chosen = UserLanguage.objects.filter(user=OuterRef("recipient_id")).values("language")
    rows = (
        Notification.objects.filter(pk__in=ids)
        .select_related("recipient")
        .annotate(language=Subquery(chosen))
        .order_by("recipient_id", "-seq")
    )
    digests = []
    for _, group in groupby(rows, key=lambda n: n.recipient_id):
        annotated = list(group)
        user, language = annotated[0].recipient, annotated[0].language
        digests.append(Digest(user, getattr(user, email_field), [*annotated], language))
    return digests


def _send_batch(mail: BaseEmailBackend, run: Run, digests: list[Digest]) -> None:
    """Send each digest on one open connection, marking it emailed once the server accepts
    it; however sending stops, release what is left, for the next run."""
    if not digests:
        return
    unsent = deque(digests)
    try:
        _open(mail, run)
        while unsent:
            if timezone.now() >= run.renew_at:
                unsent = _renew(run, unsent)
                continue
            accepted = _send(mail, run, unsent[0])
            # Out of ``unsent`` before the mark: if the mark fails, an email the server
            # accepted is not released to go out again at once.
            digest = unsent.popleft()
            if accepted:
                _mark_sent(run, digest)
            else:
                _release(run, [digest])
    finally:
        _release(run, unsent)


def _open(mail: BaseEmailBackend, run: Run) -> None:
    try:
        mail.open()  # Once for the run: without it, each message would connect anew.
    except Exception as e:
        raise EmailRunFailed(
            f"Cannot reach the mail server: {e!r}. Nothing more was sent; what is left is "
            "retried on the next run.",
            sent=run.sent,
        ) from e


def _send(mail: BaseEmailBackend, run: Run, digest: Digest) -> bool:
    """Send one digest; return whether the server accepted it. A refusal of this message is
    noted and the run goes on; any other failure ends the run."""
    try:
        if mail.send_messages([message(digest, connection=mail)]):
            return True
        raise smtplib.SMTPException("The mail backend sent nothing.")
    except _MESSAGE_ERRORS as e:
        run.refused.append(f"user {digest.user.pk}: {e}")
        return False
    except Exception as e:
        raise EmailRunFailed(
            f"Sending failed: {e!r}. What was not sent is retried on the next run.",
            sent=run.sent,
        ) from e


def _absolute(url: str) -> str:
    """Resolve a notification's link against the site; a link not fit to show is the inbox."""
    base = site_url() + "/"
    link = content.safe_link(url)
    return urljoin(base, link) if link else base


def message(
    digest: Digest, *, connection: BaseEmailBackend | None = None
) -> EmailMultiAlternatives:
    """Build one user's email in their language: a text and an HTML part, with one-click
    unsubscribe headers."""
    with translation.override(languages.negotiated(None, digest.language)):
        return _message(digest, connection)


def _message(digest: Digest, connection: BaseEmailBackend | None) -> EmailMultiAlternatives:
    kinds = conf.KINDS
    base = site_url()
    mutable = [k for k in dict.fromkeys(n.kind for n in digest.notifications) if k in kinds]
    mutable = [k for k in mutable if not kinds[k].critical]
    unsubscribe = [
        {"label": kinds[kind].label, "url": base + _unsubscribe_path(digest.user.pk, [kind])}
        for kind in mutable
    ]
    count = len(digest.notifications)
    # In the active language: the recipient's.
    listed = [(n, *rendering.title_and_body(n)) for n in digest.notifications[:LISTED]]
    context = {
        "user": digest.user,
        "count": count,
        "notifications": [
            {"title": title, "body": body, "url": _absolute(n.url), "created_at": n.created_at}
            for n, title, body in listed
        ],
        "more": max(0, count - LISTED),
        "inbox_url": base + "/",
        "unsubscribe": unsubscribe,
    }
    first = listed[0][1]
    subject = first if count == 1 else _subject(count, first)
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


def _subject(count: int, first: str) -> str:
    return ngettext(
        "%(count)d unread notification: %(title)s",
        "%(count)d unread notifications: %(title)s",
        count,
    ) % {"count": count, "title": first}


def _unsubscribe_path(user_id: int, kinds: Sequence[str]) -> str:
    return reverse("notifications:email-unsubscribe", args=[unsubscribe_token(user_id, kinds)])
