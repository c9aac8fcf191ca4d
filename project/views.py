"""The site's own pages. The inbox lives here, not in ``notifications``, which stays a
reusable app: it ships the API, the stream and the JavaScript client, and each site draws
its own page around them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import permission_denied as default_permission_denied

from notifications.conf import conf


@login_required
@ensure_csrf_cookie
def inbox(request: HttpRequest) -> HttpResponse:
    """Show the user's live inbox; the page loads and updates it through the API and stream.

    The CSRF cookie is ensured because the page's script reads it to mark and delete. The
    categories become the page's tabs, in their configured order, labelled in the reader's
    language.
    """
    user: Any = request.user
    config = {
        "userId": user.pk,
        "eventsPath": reverse("notifications:events"),
        "apiPath": reverse("notifications:notification-list"),
        "preferencesPath": reverse("notifications:preferences"),
    }
    categories = list(conf.CATEGORIES.items())
    return render(request, "inbox.html", {"config": config, "categories": categories})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer unknown API paths in JSON, as every other API error is; pages stay HTML."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": gettext("Not found.")}, status=404)
    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a malformed API request (a disallowed ``Host``, a body too large) in JSON."""
    if request.path.startswith("/api/"):
        # Worded as the stream's own refusal, which its ASGI front answers before Django.
        bad_host = isinstance(exception, DisallowedHost)
        detail = gettext("Invalid Host header.") if bad_host else gettext("Bad request.")
        return JsonResponse({"detail": detail}, status=400)
    return default_bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a refused API request in JSON; pages stay HTML."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": gettext("Permission denied.")}, status=403)
    return default_permission_denied(request, exception)
