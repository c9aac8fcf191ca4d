"""The notification log: one row per recipient, numbered per user in commit order."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class StreamCounter(models.Model):
    """The last ``seq`` handed out to a user; its row lock orders that user's notifications.

    ``pruned_through`` is the highest ``seq`` removed by pruning, so a client resuming from
    before it is told it missed something instead of seeing a silent hole. ``revocations``
    counts the times the user's streams were told to close, the latest at ``revoked_at``: a
    stream that may have missed that message sees the count change when it catches up, and
    every process's sweep finds recent ones.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_seq = models.PositiveBigIntegerField(default=0)
    pruned_through = models.PositiveBigIntegerField(default=0)
    # A database default too: the PostgreSQL store inserts counters with SQL of its own.
    revocations = models.PositiveIntegerField(default=0, db_default=0)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"stream of user {self.user_id} at {self.last_seq}"


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    seq = models.PositiveBigIntegerField(editable=False)
    kind = models.CharField(max_length=64, default="info")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The named parameters of a kind's translatable title and body (``KINDS``), for a
    # notification rendered in each reader's language when it is read; None for free text,
    # whose title and body are shown as written. ``title`` and ``body`` then hold the
    # rendering in the site's language, for search and for readers of the raw rows.
    params = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Put away by its reader (``services.archive``): out of the inbox's list, and read.
    archived_at = models.DateTimeField(null=True, blank=True)
    # Out of the list and read until then (``services.snooze``); then unread again, and
    # back (``services.wake_snoozed``, which clears this).
    snoozed_until = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, editable=False)
    # Set once the mail server accepted the email listing the notification: it is never
    # emailed again.
    emailed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The email run that holds the notification, until when (see ``notifications.emails``):
    # other runs pass it by until the claim expires, so one that died loses nothing.
    email_claimed_by = models.CharField(max_length=64, null=True, blank=True, editable=False)
    email_claimed_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "seq"], name="notifications_unique_recipient_seq"
            ),
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"],
                condition=Q(dedupe_key__isnull=False),
                name="notifications_unique_recipient_dedupe_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["recipient"],
                condition=Q(read_at__isnull=True),
                name="notifications_unread_idx",
            ),
            # What send_notification_emails looks for: unread, not yet emailed, by age. Claimed
            # rows stay in it; the claims in flight are a few batches, checked on these rows.
            models.Index(
                fields=["created_at"],
                condition=Q(read_at__isnull=True, emailed_at__isnull=True),
                name="notifications_unemailed_idx",
            ),
            # What wakes snoozed notifications looks for: the few that are snoozed, by time.
            models.Index(
                fields=["snoozed_until"],
                condition=Q(snoozed_until__isnull=False),
                name="notifications_snoozed_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def read(self) -> bool:
        return self.read_at is not None

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


class Preference(models.Model):
    """One user's choice for one registered kind; without a row, the kind's defaults apply.

    A row holds both switches, so a user's choice for a kind is whole once made.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=64)
    in_app = models.BooleanField(default=True, verbose_name="in-app")
    email = models.BooleanField(default=False)
    # Web Push while no stream of the user is open (``notifications.push``).
    push = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notifications_unique_user_kind"),
        ]
        # notify() asks which users muted one kind.
        indexes = [
            models.Index(
                fields=["kind", "user"],
                condition=Q(in_app=False),
                name="notifications_muted_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.user_id}"


class UserLanguage(models.Model):
    """The language a user chose to read the site and their notifications in.

    Without a row, the site's default applies, or the browser's ``Accept-Language``.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    language = models.CharField(max_length=16)

    def __str__(self) -> str:
        return f"{self.language} for user {self.user_id}"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (``PushSubscription.toJSON()``) for one user.

    The endpoint is the push service's URL for that browser: one row each, so a browser
    that subscribes again, or for another user who signed in there, updates its row.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.CharField(max_length=2048, unique=True)
    # The browser's P-256 public key and auth secret (base64url), for RFC 8291 encryption.
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user", "-updated_at"]

    def __str__(self) -> str:
        return f"push subscription of user {self.user_id}"

    @property
    def info(self) -> dict[str, object]:
        """The subscription as pywebpush and the browser write it."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}
