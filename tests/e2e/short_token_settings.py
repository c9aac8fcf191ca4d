"""The project's settings with access tokens that expire within seconds and refresh tokens
rotated on each use, so a test sees a client outlive its token and keep the new one."""

from __future__ import annotations

from datetime import timedelta

from project.settings import *  # noqa: F403
from project.settings import SIMPLE_JWT

SIMPLE_JWT = {
    **SIMPLE_JWT,
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=3),
    "ROTATE_REFRESH_TOKENS": True,
}
