"""The demo site's critical kind: a password change tells the user, whatever they chose."""

from __future__ import annotations

from typing import Any

import pytest

from notifications.models import Notification, Preference

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


@pytest.fixture
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_password_change_sends_the_critical_kind(user: Any) -> None:
    Preference.objects.create(user=user, kind="account.security", in_app=False, email=False)
    user.set_password("another-long-passphrase")
    user.save()
    (notice,) = Notification.objects.filter(recipient=user)
    assert notice.kind == "account.security"
    assert notice.title == "Your password was changed"


def test_other_saves_send_nothing(user: Any, make_user: Any) -> None:
    user.first_name = "Alice"
    user.save()
    make_user("carol")  # a new account sets a password too: not a change
    assert not Notification.objects.exists()
