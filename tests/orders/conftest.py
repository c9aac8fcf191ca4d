from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from notifications.models import Notification
from project.orders import receivers
from project.orders.models import Order
from project.orders.services import place_order


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Hash the fixtures' passwords cheaply: these tests are about orders, not passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def order(user: Any) -> Order:
    """A freshly placed order of ``user`` (which has notified them once)."""
    return place_order(user=user, total=Decimal("12.50"))


@pytest.fixture
def notify_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record every call the receivers make to ``notify()``, still passing it through."""
    calls: list[dict[str, Any]] = []
    real = receivers.notify

    def spy(recipients: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(recipients, **kwargs)

    monkeypatch.setattr(receivers, "notify", spy)
    return calls


@pytest.fixture
def titles() -> Any:
    """Return a function giving the titles of a user's notifications, oldest first."""

    def of(user: Any) -> list[str]:
        rows = Notification.objects.filter(recipient=user).order_by("seq")
        return list(rows.values_list("title", flat=True))

    return of
