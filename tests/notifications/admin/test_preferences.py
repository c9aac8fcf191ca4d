"""Staff see and change a user's choices per kind in the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from notifications import preferences
from notifications.models import Preference

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

ADD = "/admin/notifications/preference/add/"


@pytest.fixture
def staff_client(client: Client, staff_user: Any) -> Client:
    client.force_login(staff_user)
    return client


def test_staff_turn_a_kind_off_for_a_user(staff_client: Client, user: Any) -> None:
    form = staff_client.get(ADD)
    assert form.status_code == 200 and b"Order shipped (order.shipped)" in form.content
    response = staff_client.post(ADD, {"user": user.pk, "kind": "order.shipped", "email": "on"})
    assert response.status_code == 302
    shipped = next(c for c in preferences.choices_for(user.pk) if c.kind == "order.shipped")
    assert (shipped.in_app, shipped.email) == (False, True)
    listing = staff_client.get("/admin/notifications/preference/", {"q": user.username})
    assert b"Order shipped" in listing.content


@pytest.mark.parametrize("kind", ["account.security", "not.registered"])
def test_what_a_user_could_not_choose_is_refused(
    staff_client: Client, user: Any, kind: str
) -> None:
    response = staff_client.post(ADD, {"user": user.pk, "kind": kind})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Preference.objects.exists()
