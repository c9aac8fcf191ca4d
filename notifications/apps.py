from __future__ import annotations

import sys

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from notifications import checks, receivers  # noqa: F401  (registers checks, receivers)
        from notifications.push import keys  # noqa: F401  (registers the VAPID keys' check)

        # daphne installs its Twisted reactor before it loads the site (its own command line,
        # ``notifications.serve``): whatever the site's ASGI application, its streams end and
        # free their slots before that reactor stops. Without a reactor (a management
        # command, another server) there is nothing to install: under another server, the
        # site's application answers the lifespan scope (``asgi.with_lean_stream``).
        if "twisted.internet.reactor" in sys.modules:
            from notifications.stream import shutdown

            shutdown.install()
