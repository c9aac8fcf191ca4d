"""The peer's ASGI application, for ``python -m daphne bench.peer.asgi:application``."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer.settings")

application = get_asgi_application()
