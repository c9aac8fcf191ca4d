from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from notifications.models import UserLanguage
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


def test_the_orders_page_lists_only_the_users_own_orders(
    client: Client, order: Order, other_user: Any
) -> None:
    from project.orders.services import place_order

    theirs = place_order(user=other_user, total=order.total)
    client.force_login(order.user)
    response = client.get("/orders/")
    page = response.content.decode()
    assert response.status_code == 200
    assert f'href="{order.get_absolute_url()}"' in page
    assert theirs.get_absolute_url() not in page
    # The site's header, as on every signed-in page: the inbox and a way to log out.
    assert 'action="/accounts/logout/"' in page and 'href="/"' in page


def test_the_order_page_has_the_sites_header(client: Client, order: Order) -> None:
    client.force_login(order.user)
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'href="/orders/"' in page and 'action="/accounts/logout/"' in page


def test_the_inbox_links_to_the_orders(client: Client, order: Order) -> None:
    client.force_login(order.user)
    assert 'href="/orders/"' in client.get("/").content.decode()


def test_the_order_pages_speak_their_readers_language(client: Client, order: Order) -> None:
    UserLanguage.objects.create(user=order.user, language="de")
    order.total = Decimal("1234.5")
    order.save()
    client.force_login(order.user)
    detail = client.get(order.get_absolute_url()).content.decode()
    listing = client.get("/orders/").content.decode()
    assert f"Bestellung Nr. {order.number}" in detail and "Gesamtbetrag" in detail
    assert "1234,50" in detail and "1234,50" in listing
    assert "Ihre Bestellungen" in listing and "Aufgegeben" in listing
