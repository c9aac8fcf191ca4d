"""The one-click unsubscribe link of notification emails: no log-in, the signature suffices.

``GET`` shows what the link turns off and a button (mail scanners that follow links must
not unsubscribe anyone); ``POST`` turns email off for those kinds, from that button or from
a mail client's RFC 8058 one-click request (``List-Unsubscribe=One-Click``), which carries
no CSRF token: the signed token is what authorises it. The page speaks the language of the
user the link names, as their emails do.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from notifications import emails, preferences
from notifications.conf import conf
from notifications.i18n import languages


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm (GET) or apply (POST) the signed unsubscribe link."""
    try:
        user_id, kinds = emails.read_unsubscribe_token(token)
    except signing.BadSignature:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    if not get_user_model()._default_manager.filter(pk=user_id).exists():
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    with translation.override(languages.for_user(user_id, request)):
        return _answer(request, user_id, kinds)


def _answer(request: HttpRequest, user_id: int, kinds: list[str]) -> HttpResponse:
    registered = conf.KINDS
    labels = [registered[kind].label for kind in kinds if kind in registered]
    context = {"labels": labels, "inbox_url": emails.site_url() + "/"}
    if request.method == "POST":
        preferences.turn_email_off(user_id=user_id, kinds=kinds)
        if request.POST.get("List-Unsubscribe") == "One-Click":
            unsubscribed = gettext("Unsubscribed.")
            return HttpResponse(f"{unsubscribed}\n", content_type="text/plain; charset=utf-8")
        return render(request, "notifications/unsubscribe.html", {**context, "done": True})
    return render(request, "notifications/unsubscribe.html", context)
