"""``GET`` and ``PATCH /api/preferences/``: each registered kind with the user's choices, and
the user's language."""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications import preferences
from notifications.api import parsers, users
from notifications.api.serializers import ErrorSerializer
from notifications.api.views import SignedIn
from notifications.i18n import languages


class PreferencesRefused(APIException):
    status_code = 400
    default_code = "invalid"


# Built with inline_serializer: a serializer class cannot declare a field named ``label``.
_CHOICE = inline_serializer(
    "PreferenceChoice",
    {
        "kind": serializers.CharField(help_text="The kind, as in each notification's `kind`."),
        "label": serializers.CharField(help_text="Its name for people."),
        "in_app": serializers.BooleanField(help_text="Stored and streamed to the user."),
        "email": serializers.BooleanField(help_text="Emailed when left unread."),
        "push": serializers.BooleanField(help_text="Web Push while no stream is open."),
        "critical": serializers.BooleanField(help_text="Locked: the user cannot change it."),
    },
)
PreferencesSerializer = inline_serializer(
    "Preferences",
    {
        "kinds": _CHOICE.__class__(many=True),
        "language": serializers.CharField(
            allow_null=True,
            help_text="The language the user chose (one of the site's `LANGUAGES` codes), or "
            "null: the site's default, then the browser's `Accept-Language`.",
        ),
    },
)


# A JSON object keyed by kind: a shape no serializer has, so the schema is written out.
_CHANGE = {
    "type": "object",
    "description": "Kinds to change (either switch may be left out), and `language`: a code "
    "of the site's `LANGUAGES`, or null to follow the site's default and the browser again.",
    "properties": {"language": {"type": "string", "nullable": True, "example": "de"}},
    "additionalProperties": {
        "type": "object",
        "properties": {
            "in_app": {"type": "boolean"},
            "email": {"type": "boolean"},
            "push": {"type": "boolean"},
        },
        "additionalProperties": False,
        "minProperties": 1,
    },
}


class PreferencesView(SignedIn, APIView):
    """The signed-in user's choices per registered kind."""

    parser_classes = [parsers.JSONParser]  # JSON only: the body is keyed by kind

    @extend_schema(
        summary="Your choices for every registered kind",
        responses={200: PreferencesSerializer, 401: ErrorSerializer},
        tags=["preferences"],
    )
    def get(self, request: Request) -> Response:
        user_id = users.user_id(request)
        return self._choices(preferences.choices_for(user_id), languages.chosen(user_id))

    @extend_schema(
        summary="Change some of your choices",
        description="Everything is checked first: an unknown kind or language, a critical kind "
        "turned off or a malformed body is a 400 and changes nothing. Answers with every "
        "choice, in the language the user reads now.",
        request={"application/json": _CHANGE},
        examples=[
            OpenApiExample(
                "Email for shipped orders, nothing in the app for placed ones",
                value={"order.shipped": {"email": True}, "order.placed": {"in_app": False}},
                request_only=True,
            ),
            OpenApiExample("German", value={"language": "de"}, request_only=True),
        ],
        responses={
            200: PreferencesSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="Unknown kind or language, or not allowed."
            ),
            401: ErrorSerializer,
        },
        tags=["preferences"],
    )
    def patch(self, request: Request) -> Response:
        user_id = users.user_id(request)
        try:
            choices = preferences.change(user_id=user_id, changes=request.data)
        except preferences.InvalidPreferences as e:
            raise PreferencesRefused(str(e)) from e
        language = languages.chosen(user_id)
        # The answer (the kinds' labels) already speaks the language just chosen.
        self.activate_language(languages.negotiated(request._request, language))
        return self._choices(choices, language)

    def _choices(self, choices: list[preferences.Choice], language: str | None) -> Response:
        return Response(
            {"kinds": [dataclasses.asdict(choice) for choice in choices], "language": language}
        )
