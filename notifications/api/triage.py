"""Working through the inbox: archive, snooze, and the same for many notifications at once.

A mixin of the notification viewset (:mod:`notifications.api.views`), which gives it the
signed-in user's notifications (``get_queryset``, another user's are never found) and
``get_object``. Each change goes through :mod:`notifications.services`, which tells the
user's open streams (``event: archived``...); a request that changes nothing tells nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from notifications import selectors, services
from notifications.api.serializers import (
    ErrorSerializer,
    IdsSerializer,
    ReadResultSerializer,
    SnoozeSerializer,
)
from notifications.api.users import user_id
from notifications.models import Notification

Service = Callable[..., dict[int, services.Change]]

_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    404: OpenApiResponse(ErrorSerializer, description="No such notification of yours."),
}
_BAD_BODY = {400: OpenApiResponse(ErrorSerializer, description="A field is missing or malformed.")}


def _one(summary: str, description: str, **kwargs: Any) -> Any:
    return extend_schema(
        summary=summary,
        description=description,
        request=kwargs.pop("request", None),
        responses={204: None, **kwargs.pop("errors", {}), **_ERRORS},
    )


def _many(summary: str, description: str, name: str) -> Any:
    return extend_schema(
        operation_id=f"notifications_{name}_many",
        summary=summary,
        description=description + " Ids that are not yours are passed by.",
        request=IdsSerializer,
        responses={200: ReadResultSerializer, **_BAD_BODY, 401: _ERRORS[401]},
    )


class Triage(viewsets.GenericViewSet[Notification]):
    """The inbox's actions on one notification (``<id>/archive/``...) and on many
    (``archive/`` with ``{"ids": [...]}``)."""

    @_one("Archive a notification", "Out of the inbox's list, and read. Streams: `archived`.")
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str | None = None) -> Response:
        return self._on_one(services.archive)

    @_one("Bring back an archived notification", "Streams: `unarchived`, with it.")
    @action(detail=True, methods=["post"])
    def unarchive(self, request: Request, pk: str | None = None) -> Response:
        return self._on_one(services.unarchive)

    @_one(
        "Snooze a notification",
        "Out of the list and the unread count until `until`; then back, unread, on every "
        "open stream (`unsnoozed`) within a heartbeat. Streams: `snoozed`.",
        request=SnoozeSerializer,
        errors=_BAD_BODY,
    )
    @action(detail=True, methods=["post"])
    def snooze(self, request: Request, pk: str | None = None) -> Response:
        body = SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        until = body.validated_data["until"]
        try:
            return self._on_one(services.snooze, until=until)
        except services.InvalidSnooze as e:
            raise ValidationError({"until": [str(e)]}) from e

    @_one("Bring back a snoozed notification now", "Unread again. Streams: `unsnoozed`.")
    @action(detail=True, methods=["post"])
    def unsnooze(self, request: Request, pk: str | None = None) -> Response:
        return self._on_one(services.unsnooze)

    @_many("Mark several notifications read", "Streams: `read`.", "read")
    @action(detail=False, methods=["post"], url_path="read", pagination_class=None)
    def read_many(self, request: Request) -> Response:
        return self._on_many(services.mark_read)

    @_many("Archive several notifications", "Streams: `archived`.", "archive")
    @action(detail=False, methods=["post"], url_path="archive", pagination_class=None)
    def archive_many(self, request: Request) -> Response:
        return self._on_many(services.archive)

    @_many("Bring back several archived notifications", "Streams: `unarchived`.", "unarchive")
    @action(detail=False, methods=["post"], url_path="unarchive", pagination_class=None)
    def unarchive_many(self, request: Request) -> Response:
        return self._on_many(services.unarchive)

    def _on_one(self, service: Service, **arguments: Any) -> Response:
        notification = self.get_object()
        service(notifications=self.get_queryset().filter(pk=notification.pk), **arguments)
        return Response(status=204)

    def _on_many(self, service: Service) -> Response:
        body = IdsSerializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        mine = self.get_queryset().filter(pk__in=body.validated_data["ids"])
        return self._changed(service(notifications=mine))

    def _changed(self, changes: dict[int, services.Change]) -> Response:
        """Answer with the ids a change of the signed-in user's notifications changed, and
        their unread count after it."""
        mine = user_id(self.request)
        change = changes.get(mine)
        if change is None:  # nothing changed: nobody was told, nor counted
            change = services.Change(ids=[], unread_count=selectors.unread_count(mine))
        return Response({"ids": change.ids, "unread_count": change.unread_count})
