"""The HTTP API (DRF): the inbox, its actions, tokens and stream tickets.

The stream is not served here: see :mod:`notifications.stream`.

Views stay thin: selectors read, services write (and tell open streams), and every error
is JSON with a ``detail``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import InterfaceError, OperationalError
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt import views as jwt_views

from notifications import selectors, services
from notifications.api import addresses, parsers, tokens
from notifications.api.languages import InUsersLanguage
from notifications.api.pagination import IntegerCursorPagination
from notifications.api.serializers import (
    ErrorSerializer,
    InboxQuerySerializer,
    NotificationSerializer,
    ReadResultSerializer,
    UnreadCountSerializer,
)
from notifications.api.triage import Triage
from notifications.api.users import signed_in, user_id
from notifications.conf import conf
from notifications.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_OUTAGE
from notifications.models import Notification
from notifications.stream.tickets import StreamTicket
from notifications.stream.tokens import TokenAuthentication

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

logger = logging.getLogger(__name__)

# The token endpoints' rate when ``DEFAULT_THROTTLE_RATES`` has no "token" entry.
DEFAULT_TOKEN_RATE = "20/min"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Handle errors as DRF does, and give every error body a ``detail``.

    Field errors (``{"username": ["..."]}``) become ``{"detail": "username: ...",
    "errors": {...}}``, so a client can always show ``detail``.
    """
    if isinstance(exc, OperationalError | InterfaceError):
        # A passing outage, not a bug: the client is told when to try again.
        logger.warning("The database is unavailable: %r", exc)
        return Response(
            {"detail": gettext(DATABASE_UNAVAILABLE)},
            status=503,
            headers={"Retry-After": RETRY_AFTER_OUTAGE},
        )
    if isinstance(exc, Http404):
        # Django's own words ("No Notification matches the given query.") are not translated.
        exc = NotFound()
    response = drf_exception_handler(exc, context)
    if response is not None and not (isinstance(response.data, dict) and "detail" in response.data):
        response.data = {"detail": _first_message(response.data), "errors": response.data}
    return response


def _first_message(errors: Any, field: str | None = None) -> str:
    if isinstance(errors, dict):
        if not errors:
            return gettext("Invalid input.")
        key, value = next(iter(errors.items()))
        return _first_message(value, None if key == api_settings.NON_FIELD_ERRORS_KEY else key)
    if isinstance(errors, list):
        return _first_message(errors[0], field) if errors else gettext("Invalid input.")
    return f"{field}: {errors}" if field else str(errors)


class JSONErrors(InUsersLanguage):
    """Use this module's exception handler, whatever the site's ``EXCEPTION_HANDLER``, and a
    JSON parser that answers a too deeply nested body with a 400; answer in the user's
    language. The base of every view of the API."""

    parser_classes = parsers.DEFAULT_PARSER_CLASSES

    def get_exception_handler(self) -> Any:
        return exception_handler


class SignedIn(JSONErrors):
    """Accept the app's access tokens or the session, and only a signed-in user.

    Named here rather than left to the site's ``REST_FRAMEWORK`` defaults, which in a new
    project are the session and basic auth: ``Authorization: Bearer`` would be a 403 there.
    The token comes first so that a refusal is a 401 with ``WWW-Authenticate: Bearer``;
    its claims are checked as the stream checks them. DRF's session authentication enforces
    CSRF on writes.
    """

    authentication_classes: Sequence[type[BaseAuthentication]] = (
        TokenAuthentication,
        SessionAuthentication,
    )
    permission_classes: Sequence[_PermissionClass] = (IsAuthenticated,)


_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    404: OpenApiResponse(ErrorSerializer, description="No such notification of yours."),
}
_TOKEN_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="A field is missing or malformed."),
    401: OpenApiResponse(ErrorSerializer, description="Wrong credentials or token."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests; see Retry-After."),
}


class InboxPagination(IntegerCursorPagination):
    """Newest first by ``seq``, which is unique per user, so pages never skip or repeat."""

    ordering = "-seq"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


@extend_schema_view(
    list=extend_schema(
        summary="List your notifications, newest first",
        description="Cursor-paginated by `seq`: follow `next` for older notifications.",
        parameters=[
            OpenApiParameter(
                "unread",
                bool,
                description="`true`: only unread notifications; `false` (default): all.",
            ),
            OpenApiParameter(
                "archived", bool, description="`true`: only archived ones (left out otherwise)."
            ),
            OpenApiParameter(
                "snoozed", bool, description="`true`: only snoozed ones (left out otherwise)."
            ),
            OpenApiParameter("category", str, description="Only the kinds of this category."),
        ],
        responses={
            200: NotificationSerializer(many=True),
            400: OpenApiResponse(ErrorSerializer, description="A bad filter value."),
            401: _ERRORS[401],
        },
    ),
    retrieve=extend_schema(
        summary="Get one of your notifications",
        description="The same object as the stream's `notification` event.",
        responses={200: NotificationSerializer, **_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete one of your notifications",
        description="Deleting an unread notification sends `event: read` with the new count.",
        responses={204: None, **_ERRORS},
    ),
)
class NotificationViewSet(
    SignedIn, Triage, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The signed-in user's notifications, archived and snoozed ones too. Another user's are
    never found (404)."""

    serializer_class = NotificationSerializer
    pagination_class = InboxPagination
    # ASCII digits only: Django's int() would read "\u0661" (Arabic-Indic one) as 1.
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> QuerySet[Notification]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, signed in as nobody
            return Notification.objects.none()
        return selectors.notifications_of(user_id(self.request))

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A plain dict: a QueryDict would make "?unread=" mean "not given", as in HTML forms.
        query = InboxQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        given = query.validated_data
        services.wake_snoozed(user_id=user_id(request))
        inbox = selectors.inbox(
            user_id(request),
            unread_only=given.get("unread") == "true",
            archived=given.get("archived") == "true",
            snoozed=given.get("snoozed") == "true",
            kinds=conf.kinds_of(given["category"]) if "category" in given else None,
        )
        page = self.paginate_queryset(inbox)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        notification = self.get_object()
        try:
            services.delete_notification(user_id=user_id(request), notification_id=notification.pk)
        except services.NotificationNotFound as e:  # deleted meanwhile
            raise NotFound() from e
        return Response(status=204)

    @extend_schema(
        summary="Count your unread notifications",
        description="The number a notification bell shows, and each category's (archived and "
        "snoozed notifications are read, so never counted).",
        responses={200: UnreadCountSerializer, 401: _ERRORS[401]},
    )
    @action(detail=False, url_path="unread-count", pagination_class=None)
    def unread_count(self, request: Request) -> Response:
        services.wake_snoozed(user_id=user_id(request))
        by_kind = selectors.unread_by_kind(user_id(request))
        by_category = dict.fromkeys(conf.CATEGORIES, 0)
        for kind, count in by_kind.items():
            category = conf.category(kind)
            if category is not None:
                by_category[category] += count
        return Response({"unread_count": sum(by_kind.values()), "by_category": by_category})

    @extend_schema(
        summary="Mark one notification read",
        description="Your open streams get `event: read` with the id and the new count. "
        "Marking a read notification again changes nothing and returns no ids.",
        request=None,
        responses={200: ReadResultSerializer, **_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = self.get_object()
        mine = self.get_queryset().filter(pk=notification.pk)
        return self._changed(services.mark_read(notifications=mine))

    @extend_schema(
        summary="Mark all your notifications read",
        description="Your open streams get `event: read` with the ids and the new count.",
        request=None,
        responses={200: ReadResultSerializer, 401: _ERRORS[401]},
    )
    @action(detail=False, methods=["post"], url_path="read-all", pagination_class=None)
    def read_all(self, request: Request) -> Response:
        return self._changed(services.mark_read(notifications=self.get_queryset()))


class TokenRateThrottle(ScopedRateThrottle):
    """Throttle per client at the view's scope rate in ``DEFAULT_THROTTLE_RATES``.

    The rate is read on each request rather than once at import, so changed settings take
    effect; a site that sets no rate for the scope gets ``DEFAULT_TOKEN_RATE``.
    """

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "", DEFAULT_TOKEN_RATE)
        return None if rate is None else str(rate)

    def get_ident(self, request: Request) -> str:
        # DRF's own trusts any X-Forwarded-For when NUM_PROXIES is unset: a client could
        # then pick a new identity for each attempt.
        return addresses.client_address(request) or ""


@extend_schema(
    responses={200: tokens.TokenObtainPairSerializer, **_TOKEN_ERRORS},
    tags=["token"],
)
class TokenObtainView(JSONErrors, jwt_views.TokenObtainPairView):
    """Exchange a username and password for an access and a refresh token."""

    serializer_class = tokens.TokenObtainPairSerializer
    throttle_classes = [TokenRateThrottle]
    throttle_scope = "token"


@extend_schema(responses={200: tokens.TokenRefreshSerializer, **_TOKEN_ERRORS}, tags=["token"])
class TokenRefreshView(JSONErrors, jwt_views.TokenRefreshView):
    """Exchange a refresh token for a new access token and a new refresh token; refused
    once the token's user is gone or inactive, changed their password or signed out."""

    serializer_class = tokens.TokenRefreshSerializer
    throttle_classes = [TokenRateThrottle]
    throttle_scope = "token"


class StreamTicketView(SignedIn, APIView):
    """Mint a short-lived token that opens the stream (``?token=``) and nothing else."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "StreamTicket",
            {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()},
        ),
    )
    def post(self, request: Request) -> Response:
        ticket = StreamTicket.for_user(signed_in(request))
        return Response({"ticket": str(ticket), "expires_in": conf.TICKET_LIFETIME_SECONDS})
