"""The admin page "Who is connected": each user's open streams across every server process,
with a button that closes a user's streams the way logging out does.

The figures are the connection slots (``notifications.stream.limits``): in Redis, every process's;
with the in-memory layer, this process's own, which is then all there is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _

from notifications import services
from notifications.stream.limits import RedisSlots, opened_at, slots

User = get_user_model()


@dataclass(frozen=True)
class Connected:
    """One user's open streams."""

    user: Any
    streams: int
    since: datetime | None  # when the oldest of them opened


def slot_listing() -> dict[int, list[str]]:
    """Return each connected user's slot ids, from sync code (an admin view)."""
    store = slots()
    if isinstance(store, RedisSlots):
        # A loop of its own, whose connections are closed before it ends: the server's
        # loop keeps its own pool for the streams.
        return asyncio.run(_listing_and_close(RedisSlots(store.url)))
    # This process's slots live on its event loop: read them there.
    return async_to_sync(store.by_user)()


async def _listing_and_close(store: RedisSlots) -> dict[int, list[str]]:
    try:
        return await store.by_user()
    finally:
        await store.aclose()


def connected_users() -> list[Connected]:
    """Return who holds open streams, most streams first."""
    listing = slot_listing()
    users = User._default_manager.in_bulk(list(listing))
    rows = [
        Connected(user=users[user_id], streams=len(ids), since=opened_at(ids[0]))
        for user_id, ids in listing.items()
        if user_id in users
    ]
    return sorted(rows, key=lambda row: (-row.streams, row.user.get_username()))


def may_close_streams(request: HttpRequest) -> bool:
    """Closing someone's streams is part of managing their account."""
    opts = User._meta
    return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class CloseStreamsForm(forms.Form):
    """The close button's form: whose streams to close, by primary key."""

    user = forms.ModelChoiceField(queryset=User._default_manager.all())


def connections_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """List who is connected; on POST, close one user's streams on every process."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        return _close_streams(model_admin, request)
    try:
        rows, unavailable = connected_users(), None
    except Exception as e:  # Redis down: say so rather than fail the page.
        rows, unavailable = [], str(e) or type(e).__name__
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Who is connected"),
        "opts": model_admin.opts,
        "rows": rows,
        "streams": sum(row.streams for row in rows),
        "unavailable": unavailable,
        "may_close": may_close_streams(request),
    }
    return TemplateResponse(request, "admin/notifications/connections.html", context)


def _close_streams(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    if not may_close_streams(request):
        raise PermissionDenied
    form = CloseStreamsForm(request.POST)
    if not form.is_valid():
        model_admin.message_user(request, _("No such user."), messages.ERROR)
    else:
        user = form.cleaned_data["user"]
        services.revoke_streams(user_id=user.pk)
        model_admin.message_user(
            request,
            _("Closing the streams of %(user)s on every server process.")
            % {"user": user.get_username()},
            messages.SUCCESS,
        )
    return HttpResponseRedirect(request.path)


def connection_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The page's URL, to add to ``model_admin``'s own."""
    opts = model_admin.opts
    name = f"{opts.app_label}_{opts.model_name}_connections"

    def view(request: HttpRequest) -> HttpResponse:
        return connections_view(model_admin, request)

    return [path("connections/", model_admin.admin_site.admin_view(view), name=name)]


def connections_url(model_admin: admin.ModelAdmin) -> str:
    opts = model_admin.opts
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_connections")
