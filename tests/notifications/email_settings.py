"""The project's settings with email claims that expire within seconds and a short mail
server timeout, so a test sees what a killed run left unsent go out with a later run.

``TEST_EMAIL_CLAIM_SECONDS`` and ``TEST_EMAIL_TIMEOUT`` in the environment change them.
"""

from __future__ import annotations

import os

from project.settings import *  # noqa: F403
from project.settings import NOTIFICATIONS

NOTIFICATIONS = {
    **NOTIFICATIONS,
    "EMAIL_CLAIM_SECONDS": float(os.environ.get("TEST_EMAIL_CLAIM_SECONDS", "3")),
}
EMAIL_TIMEOUT = float(os.environ.get("TEST_EMAIL_TIMEOUT", "10"))
