"""The ASGI application of a site that only includes ``notifications.urls``: Django's own,
with no ``with_lean_stream`` around it, so that nothing of the app runs before it loads."""

from __future__ import annotations

from django.core.asgi import get_asgi_application

application = get_asgi_application()
