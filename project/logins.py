"""How the site refuses a client or username locked out by django-axes: a 429 that says why.

django-axes counts failed log-ins in the database, from every process, for the log-in page,
the admin's and ``POST /api/token/`` (simplejwt authenticates with the request, which is
what axes watches). Pages get a page; the API gets JSON with a ``detail``, like every other
API refusal.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext
from rest_framework.exceptions import Throttled
from rest_framework.response import Response

from notifications.api import views


def cooloff_seconds() -> int:
    """Return how long a lockout lasts after the last failed attempt, in seconds."""
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_message() -> str:
    minutes = max(1, round(cooloff_seconds() / 60))
    return ngettext(
        "Too many failed log-in attempts. Try again in %(minutes)d minute.",
        "Too many failed log-in attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def locked_out(request: HttpRequest, *args: Any) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the page (or JSON under ``/api/``) a locked-out client gets."""
    status: int = getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": lockout_message()}, status=status)
    else:
        response = render(
            request, "registration/locked_out.html", {"detail": lockout_message()}, status=status
        )
    response["Retry-After"] = str(cooloff_seconds())
    return response


class TokenObtainView(views.TokenObtainView):
    """``POST /api/token/``, answering a locked-out client or username with a 429, not a 401.

    axes marks the DRF request it was handed, which its middleware never sees.
    """

    def handle_exception(self, exc: Exception) -> Response:
        if getattr(self.request, "axes_locked_out", False):
            exc = Throttled(wait=cooloff_seconds(), detail=lockout_message())
        return super().handle_exception(exc)
