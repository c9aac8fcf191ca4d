"""The project's settings plus the floor views of ``bench.floor``, for ``--endpoint``.

The standard run serves ``project.settings`` unchanged (``DJANGO_SETTINGS_MODULE``).
"""

from __future__ import annotations

from project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
