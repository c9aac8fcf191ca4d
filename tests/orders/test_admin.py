"""Staff move orders through their life in the admin, under the same rules as the service."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from notifications.models import Notification
from project.orders.models import Order
from project.orders.services import change_status, place_order
from tests.layer import listening, payload, titled

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client, staff_user: Any) -> Client:
    client.force_login(staff_user)
    return client


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def test_changing_the_status_notifies_the_owner(
    staff_client: Client, order: Order, staff_user: Any, titles: Any
) -> None:
    response = staff_client.post(change_url(order), {"status": "paid", "_save": "Save"})

    assert response.status_code == 302
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert titles(order.user) == [f"Order #{order.number} placed", f"Order #{order.number} paid"]
    paid = Notification.objects.get(kind="order.paid")
    assert (paid.recipient, paid.seq) == (order.user, 2)
    assert not Notification.objects.filter(recipient=staff_user).exists()


@pytest.mark.django_db(transaction=True)
async def test_a_change_in_the_admin_reaches_the_owners_open_streams(
    client: Client, staff_user: Any, user: Any
) -> None:
    await sync_to_async(client.force_login)(staff_user)
    order = await sync_to_async(place_order)(user=user, total=Decimal("8.00"))

    async with listening(user.pk) as listener:
        post = sync_to_async(client.post)
        response = await post(change_url(order), {"status": "paid", "_save": "Save"})
        assert response.status_code == 302
        received = await listener.until(titled(f"Order #{order.number} paid"))

    assert payload(received[-1])["kind"] == "order.paid"


@pytest.mark.parametrize(
    ("path", "new", "error"),
    [
        ([], "shipped", "is placed and cannot become shipped; "
                        "it can only become paid or cancelled."),
        (["cancelled"], "shipped", "is cancelled, which is final: it cannot become shipped."),
        (["paid", "shipped"], "paid", "is shipped and cannot become paid; "
                                      "it can only become delivered."),
    ],
)  # fmt: skip
def test_a_forbidden_transition_is_a_form_error_and_changes_nothing(
    staff_client: Client, order: Order, path: list[str], new: str, error: str
) -> None:
    for status in path:
        change_status(order=order, status=status)
    before = list(Notification.objects.values_list("pk", flat=True))

    response = staff_client.post(change_url(order), {"status": new, "_save": "Save"})

    assert response.status_code == 200
    message = f"Order #{order.number} {error}"
    assert response.context["adminform"].form.errors["status"] == [message]
    assert "Please correct the error below." in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == order.status
    assert list(Notification.objects.values_list("pk", flat=True)) == before


def test_a_final_status_says_so_on_the_form(staff_client: Client, order: Order) -> None:
    change_status(order=order, status="cancelled")
    response = staff_client.post(change_url(order), {"status": "shipped", "_save": "Save"})
    assert response.context["adminform"].form.errors["status"] == [
        f"Order #{order.number} is cancelled, which is final: it cannot become shipped."
    ]
    assert (
        staff_client.get(change_url(order)).context["adminform"].form.fields["status"].help_text
        == "This status is final."
    )


def test_the_change_form_lists_the_next_statuses(staff_client: Client, order: Order) -> None:
    form = staff_client.get(change_url(order)).context["adminform"].form
    assert form.fields["status"].help_text == "Can become: Paid, Cancelled."
    assert list(form.fields) == ["status"]  # what was ordered is history


def test_saving_the_form_unchanged_notifies_nobody(staff_client: Client, order: Order) -> None:
    response = staff_client.post(change_url(order), {"status": "placed", "_save": "Save"})
    assert response.status_code == 302
    assert Notification.objects.count() == 1


def test_staff_place_an_order_with_the_next_number(
    staff_client: Client, order: Order, other_user: Any
) -> None:
    response = staff_client.post(
        reverse("admin:orders_order_add"),
        {"user": other_user.pk, "number": "", "total": "19.99", "_save": "Save"},
    )

    assert response.status_code == 302
    placed = Order.objects.get(user=other_user)
    assert (placed.number, placed.total, placed.status) == (
        order.number + 1,
        Decimal("19.99"),
        "placed",
    )
    assert response.url == reverse("admin:orders_order_changelist")
    notification = Notification.objects.get(recipient=other_user)
    assert notification.title == f"Order #{placed.number} placed"


def test_the_add_form_refuses_a_taken_number(
    staff_client: Client, order: Order, other_user: Any
) -> None:
    response = staff_client.post(
        reverse("admin:orders_order_add"),
        {"user": other_user.pk, "number": order.number, "total": "1.00", "_save": "Save"},
    )
    assert response.status_code == 200
    assert "number" in response.context["adminform"].form.errors
    assert not Order.objects.filter(user=other_user).exists()


def test_the_changelist_filters_and_searches(staff_client: Client, order: Order) -> None:
    url = reverse("admin:orders_order_changelist")
    assert list(staff_client.get(url, {"status__exact": "placed"}).context["cl"].result_list) == [
        order
    ]
    assert not staff_client.get(url, {"status__exact": "paid"}).context["cl"].result_list
    assert list(staff_client.get(url, {"q": str(order.number)}).context["cl"].result_list) == [
        order
    ]
    assert list(staff_client.get(url, {"q": "alice"}).context["cl"].result_list) == [order]
    assert not staff_client.get(url, {"q": "nobody"}).context["cl"].result_list


def test_bulk_actions_apply_the_same_rules(
    staff_client: Client, order: Order, make_user: Any
) -> None:
    paid = Order.objects.create(user=make_user("carol"), number=50, total=Decimal("5.00"))
    change_status(order=paid, status="paid")

    response = staff_client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "mark_shipped", "_selected_action": [order.pk, paid.pk]},
        follow=True,
    )

    assert Order.objects.get(pk=paid.pk).status == "shipped"
    assert Order.objects.get(pk=order.pk).status == "placed"
    shown = [str(m) for m in response.context["messages"]]
    assert f"Order #{order.number} is placed and cannot become shipped" in shown[0]
    assert shown[-1] == "1 order(s) marked shipped."
    assert Notification.objects.filter(kind="order.shipped", recipient=paid.user).count() == 1
