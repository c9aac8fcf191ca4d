"""Password reset, throttled: each request sends mail to an address that anyone may type.

A request counts once for the address typed and once for the client (its real address, as
for the other throttles: ``notifications.api.addresses.client_address``, so a client cannot
pick a new one per request), in windows of ``PASSWORD_RESET_WINDOW_SECONDS`` counted in
Django's cache, which every process shares when Redis is configured. Every request counts,
whether the address has an account or not, and the answers do not differ either, so neither
tells who has one. Over the client's limit the client is told to wait (a 429); over the
address's, the usual "check your inbox" page is shown and no email is sent, so a stranger
cannot learn that someone else asked.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import ngettext

from notifications.api.addresses import client_address

logger = logging.getLogger(__name__)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset page, sending nothing over either limit."""

    def form_valid(self, form: Any) -> HttpResponse:
        client = client_address(self.request) or "unknown"
        if not _within("client", client, settings.PASSWORD_RESET_PER_CLIENT):
            logger.warning("Too many password reset requests from %s", client)
            return _too_many(self.request)
        address = form.cleaned_data["email"].casefold()
        if not _within("address", address, settings.PASSWORD_RESET_PER_ADDRESS):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


def _within(scope: str, who: str, limit: int) -> bool:
    """Count a request of ``who`` in the current window; return whether it is within ``limit``.

    The key holds a digest, not the address: the cache need not hold anyone's email.
    """
    key = f"password-reset:{scope}:{hashlib.sha256(who.encode()).hexdigest()}"
    window = settings.PASSWORD_RESET_WINDOW_SECONDS
    cache.add(key, 0, timeout=window)  # The window starts with its first request.
    try:
        count = cache.incr(key)
    except ValueError:  # The window ended between the two calls.
        cache.set(key, 1, timeout=window)
        count = 1
    return count <= limit


def _too_many(request: Any) -> HttpResponse:
    minutes = max(1, round(settings.PASSWORD_RESET_WINDOW_SECONDS / 60))
    detail = ngettext(
        "Too many password reset requests. Try again in %(minutes)d minute.",
        "Too many password reset requests. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    response = render(request, "registration/locked_out.html", {"detail": detail}, status=429)
    response["Retry-After"] = str(settings.PASSWORD_RESET_WINDOW_SECONDS)
    return response
