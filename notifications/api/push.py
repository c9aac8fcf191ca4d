"""Web Push over HTTP: the site's public key, and the browsers' subscriptions.

``GET /api/push/public-key/`` gives what ``PushManager.subscribe()`` needs as its
``applicationServerKey``; ``POST``/``DELETE /api/push/subscriptions/`` store and forget a
browser's ``PushSubscription.toJSON()`` for the signed-in user. Without keys in the
settings, Web Push is off and each of them answers 404, saying so.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.api.serializers import ErrorSerializer
from notifications.api.users import user_id
from notifications.api.views import JSONErrors, SignedIn
from notifications.push import keys, subscriptions

_OFF = OpenApiResponse(ErrorSerializer, description="Web Push is not configured on this site.")
_BAD = OpenApiResponse(ErrorSerializer, description="A malformed subscription.")
_SUBSCRIPTION = inline_serializer(
    "PushSubscription",
    {
        "endpoint": serializers.CharField(help_text="The push service's https:// URL."),
        "keys": inline_serializer(
            "PushSubscriptionKeys",
            {
                "p256dh": serializers.CharField(help_text="The browser's P-256 key, base64url."),
                "auth": serializers.CharField(help_text="Its 16-byte auth secret, base64url."),
            },
        ),
    },
)


def _keys() -> keys.VapidKeys:
    configured = keys.configured()
    if configured is None:
        raise NotFound(_("Web Push is not configured on this site."))
    return configured


class PublicKeyView(JSONErrors, APIView):
    """The site's VAPID public key: public, so a page may fetch it before anyone signs in."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        summary="The VAPID public key for PushManager.subscribe()",
        responses={
            200: inline_serializer("PushPublicKey", {"public_key": serializers.CharField()}),
            404: _OFF,
        },
        tags=["push"],
    )
    def get(self, request: Request) -> Response:
        return Response({"public_key": _keys().public_key})


class SubscriptionsView(SignedIn, APIView):
    """The signed-in user's browsers that receive Web Push."""

    @extend_schema(
        summary="Subscribe this browser to Web Push",
        description="The body is the browser's `PushSubscription.toJSON()`. 201 for a new "
        "subscription; 200 when the endpoint was known (its keys and user are updated).",
        request=_SUBSCRIPTION,
        responses={201: None, 200: None, 400: _BAD, 404: _OFF},
        tags=["push"],
    )
    def post(self, request: Request) -> Response:
        _keys()
        try:
            _, created = subscriptions.subscribe(user_id=user_id(request), info=request.data)
        except subscriptions.InvalidSubscription as e:
            raise ValidationError({"detail": str(e)}) from e
        return Response(status=201 if created else 200)

    @extend_schema(
        summary="Unsubscribe a browser from Web Push",
        request=inline_serializer("PushEndpoint", {"endpoint": serializers.CharField()}),
        responses={204: None, 400: _BAD, 404: OpenApiResponse(ErrorSerializer)},
        tags=["push"],
    )
    def delete(self, request: Request) -> Response:
        endpoint = request.data.get("endpoint") if isinstance(request.data, dict) else None
        try:
            found = subscriptions.unsubscribe(user_id=user_id(request), endpoint=endpoint)
        except subscriptions.InvalidSubscription as e:
            raise ValidationError({"detail": str(e)}) from e
        if not found:
            raise NotFound(_("No such subscription of yours."))
        return Response(status=204)
