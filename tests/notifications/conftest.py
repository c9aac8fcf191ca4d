"""Fixtures for the notifications app's tests: what the services publish."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from notifications.delivery import publish


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, dict[str, Any]]]:
    """Record each ``(user_id, message)`` the services publish, instead of sending it.

    Only the publishing is replaced, so the services' on-commit timing stays real; run
    commits with ``django_capture_on_commit_callbacks(execute=True)``.
    """
    sent: list[tuple[int, dict[str, Any]]] = []

    def record(messages: Iterable[tuple[int, dict[str, Any]]]) -> None:
        sent.extend(messages)

    monkeypatch.setattr(publish, "publish", record)
    return sent


@pytest.fixture
def fast_password_hashing(settings: Any) -> None:
    """Hash the fixture users' passwords cheaply: the real hasher costs a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
