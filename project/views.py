"""The site's own pages. The inbox lives here, not in ``notifications``, which stays a
reusable app: it ships the API, the stream and the JavaScript client, and each site draws
its own page around them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.defaults import page_not_found


def _url(name: str) -> str | None:
    """Return the path of ``name``, or None where the site has no such page."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


@login_required
@ensure_csrf_cookie
def inbox(request: HttpRequest) -> HttpResponse:
    """Show the user's live inbox; the page loads and updates it through the API and stream.

    The CSRF cookie is ensured because the page's script reads it to mark and delete.
    """
    user: Any = request.user
    config = {
        "userId": user.pk,
        "eventsPath": reverse("notifications:events"),
        "apiPath": reverse("notifications:notification-list"),
        "preferencesPath": reverse("notifications:preferences"),
    }
    return render(
        request,
        "inbox.html",
        {
            "config": config,
            "admin_url": _url("admin:index") if user.is_staff else None,
            "orders_url": _url("orders:list"),
        },
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer unknown API paths in JSON, as every other API error is; pages stay HTML."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
