"""The API's JSON shapes. A notification is rendered by ``payloads``, as on the stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from rest_framework import serializers

from notifications.conf import conf
from notifications.delivery.payloads import notification_payload
from notifications.models import Notification


class ActionSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        # "label" names an attribute of every field, so it cannot be declared as one.
        return {
            "label": serializers.CharField(help_text="The button's words, in your language."),
            "url": serializers.CharField(help_text="Where it leads: a path here, or http(s)."),
        }


class NotificationSerializer(serializers.ModelSerializer):
    """One notification, exactly as the stream's `notification` event carries it."""

    # The fields describe the shape for the schema; the JSON itself comes from
    # notification_payload(), so the API and the stream cannot drift apart.
    read = serializers.BooleanField(
        read_only=True, help_text="Whether the recipient has marked it read."
    )
    category = serializers.CharField(
        read_only=True, allow_null=True, help_text="Its kind's category, or null."
    )
    actions = ActionSerializer(
        many=True, read_only=True, help_text="Buttons its kind declares, filled in from data."
    )
    archived = serializers.BooleanField(read_only=True, help_text="Whether it is archived.")

    class Meta:
        model = Notification
        fields = [
            "id",
            "seq",
            "kind",
            "title",
            "body",
            "url",
            "data",
            "created_at",
            "read",
            "category",
            "actions",
            "archived",
            "snoozed_until",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "seq": {"help_text": "Position in the recipient's stream: the SSE event id."},
        }

    def get_fields(self) -> dict[str, serializers.Field]:
        return {**super().get_fields(), "data": _object("A JSON object set by the sender.")}

    def to_representation(self, instance: Notification) -> dict[str, Any]:
        # A templated notification in the request's active language: the reader's.
        return notification_payload(instance)


def _object(help_text: str, **kwargs: Any) -> serializers.Field:
    """A JSON object field, for fields named like a serializer's own ``data`` and ``errors``,
    which cannot be declared as class attributes."""
    return serializers.DictField(read_only=True, help_text=help_text, **kwargs)


def _flag() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=["true", "false"],
        required=False,
        error_messages={"invalid_choice": 'Must be "true" or "false", not "{input}".'},
    )


class InboxQuerySerializer(serializers.Serializer):
    unread = _flag()
    archived = _flag()
    snoozed = _flag()
    category = serializers.CharField(required=False)

    def validate_category(self, value: str) -> str:
        if value not in conf.CATEGORIES:
            known = ", ".join(conf.CATEGORIES) or "-"
            raise serializers.ValidationError(
                gettext("No category %(name)r; known: %(known)s.") % {"name": value, "known": known}
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("archived") == attrs.get("snoozed") == "true":
            raise serializers.ValidationError(
                gettext("A notification is archived or snoozed, not both.")
            )
        return attrs


class UnreadCountSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField(min_value=0)
    by_category = serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        help_text="Unread notifications of each category (kinds without one: in the total).",
    )


class IdsSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=100,
        help_text="Your notifications to change: others' are passed by, never revealed.",
    )


class SnoozeSerializer(serializers.Serializer):
    until = serializers.CharField(
        help_text="ISO 8601 with a zone, in the future, at most 90 days ahead."
    )

    def validate_until(self, value: str) -> datetime:
        try:
            until = parse_datetime(value)
        except ValueError:
            until = None
        if until is None:
            raise serializers.ValidationError(gettext("Not an ISO 8601 date and time."))
        return until


class ReadResultSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="The notifications this request changed."
    )
    unread_count = serializers.IntegerField(min_value=0, help_text="Unread notifications left.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for people.")

    def get_fields(self) -> dict[str, serializers.Field]:
        errors = _object("For invalid input: each field's messages.", required=False)
        return {**super().get_fields(), "errors": errors}
