"""``manage.py generate_vapid_keys``: a new VAPID key pair for Web Push."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from notifications.push import keys


class Command(BaseCommand):
    help = (
        "Print a new VAPID key pair (base64url) for NOTIFICATIONS['WEBPUSH'], as the demo "
        "site reads them from WEBPUSH_PRIVATE_KEY and WEBPUSH_PUBLIC_KEY. Keep the private "
        "key secret; changing the pair invalidates every browser's subscription."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        pair = keys.generate()
        self.stdout.write(f"WEBPUSH_PRIVATE_KEY={pair.private_key}")
        self.stdout.write(f"WEBPUSH_PUBLIC_KEY={pair.public_key}")
