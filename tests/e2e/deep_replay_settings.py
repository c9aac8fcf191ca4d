"""The project's settings with a replay window deep enough for a test to resume a client that
missed thousands of notifications without a ``resync``."""

from __future__ import annotations

from project.settings import *  # noqa: F403
from project.settings import NOTIFICATIONS

NOTIFICATIONS = {**NOTIFICATIONS, "REPLAY_LIMIT": 20_000}
