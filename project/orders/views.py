"""The customer's view of one order: where a notification about it leads."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from project.orders.models import Order


@login_required
def order_detail(request: HttpRequest, number: int) -> HttpResponse:
    """Show one of the user's own orders; anyone else's is not found."""
    order = get_object_or_404(Order, user=request.user, number=number)
    return render(request, "orders/order_detail.html", {"order": order})
