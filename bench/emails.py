"""The ``emails`` scenario: 10,000 users with unread, email-enabled notifications, and one
``send_notification_emails`` run sending their emails to a local SMTP sink.

The command runs in this process, so its queries can be counted (Django's
``CaptureQueriesContext``), and sends over the network to the sink in another process.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from typing import Any

from bench.options import USER_PREFIX
from bench.server import ROOT, free_ports

KIND = "order.shipped"
PER_USER = 3


def emails(users: list[int], base_port: int) -> dict[str, Any]:
    """Give each user an address and ``PER_USER`` unread notifications, then email them."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import F, Value
    from django.db.models.functions import Concat
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from notifications.models import Notification, Preference
    from notifications.services import notify

    assert settings.NOTIFICATIONS["KINDS"][KIND]["email"], f"{KIND} must email by default"
    user_model = get_user_model()
    ours = user_model.objects.filter(pk__in=users)
    ours.update(email=Concat(F("username"), Value("@bench.example")))
    Preference.objects.filter(user__username__startswith=USER_PREFIX).delete()
    Notification.objects.filter(recipient__in=ours).delete()
    for n in range(PER_USER):
        notify(ours, kind=KIND, title=f"Order #{n} shipped", body="On its way.", url="/orders/")
    Notification.objects.filter(recipient__in=ours).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    (port,) = free_ports(base_port + 50, 1)
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.mailsink", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        out = StringIO()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            call_command("send_notification_emails", "--min-age", "0", stdout=out)
            seconds = time.perf_counter() - started
    finally:
        sink.terminate()
        received = int(sink.communicate(timeout=30)[0].split()[-1])
    sent = int(out.getvalue().split()[1])
    return {
        "scenario": "emails",
        "servers": 0,
        "users": len(users),
        "notifications_per_user": PER_USER,
        "emails_sent": sent,
        "emails_received_by_sink": received,
        "seconds": round(seconds, 2),
        "emails_per_second": round(sent / seconds, 1) if seconds else None,
        "queries": len(queries),
        "queries_per_email": round(len(queries) / sent, 3) if sent else None,
    }
