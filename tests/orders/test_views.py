from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from project.orders.models import Order

pytestmark = pytest.mark.django_db


def test_the_notification_link_shows_the_order_to_its_owner(client: Client, order: Order) -> None:
    client.force_login(order.user)
    response = client.get(order.get_absolute_url())
    assert response.status_code == 200
    assert f"Order #{order.number}" in response.content.decode()
    assert "Placed" in response.content.decode()


def test_nobody_else_sees_the_order(client: Client, order: Order, other_user: Any) -> None:
    client.force_login(other_user)
    assert client.get(order.get_absolute_url()).status_code == 404


def test_visitors_are_asked_to_log_in(client: Client, order: Order) -> None:
    response = client.get(order.get_absolute_url())
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
