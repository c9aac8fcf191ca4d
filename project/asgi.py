"""ASGI entry point: ``python -m notifications.serve project.asgi:application`` (daphne).

Static files are served here too, so ``make run`` needs nothing else; behind nginx in
production, ``/static/`` is answered by nginx from ``collectstatic`` and never gets here.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

django_application = get_asgi_application()

from notifications.asgi import tune_garbage_collector, with_lean_stream  # noqa: E402
from project.static_files import StaticFilesHandler  # noqa: E402

application = StaticFilesHandler(with_lean_stream(django_application))
tune_garbage_collector()
