"""The customer's own pages: their orders, and the one a notification about it leads to."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from project.orders.models import Order


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    """List the user's own orders, newest first."""
    orders = Order.objects.filter(user=request.user.pk).order_by("-created_at", "-number")
    return render(request, "orders/order_list.html", {"orders": orders})


@login_required
def order_detail(request: HttpRequest, number: int) -> HttpResponse:
    """Show one of the user's own orders; anyone else's is not found."""
    order = get_object_or_404(Order, user_id=request.user.pk, number=number)
    return render(request, "orders/order_detail.html", {"order": order})
