"""The project's settings with a ``STREAM_MIDDLEWARE`` of the site's own: streams are served
by Django's stream handler and the app's view, not by the ASGI front."""

from __future__ import annotations

from project.settings import *  # noqa: F403
from project.settings import NOTIFICATIONS

NOTIFICATIONS = {
    **NOTIFICATIONS,
    "STREAM_MIDDLEWARE": [
        "corsheaders.middleware.CorsMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
}
