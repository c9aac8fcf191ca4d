"""The API's JSON shapes. A notification is rendered by ``payloads``, as on the stream."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications.delivery.payloads import notification_payload
from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    """One notification, exactly as the stream's `notification` event carries it."""

    # The fields describe the shape for the schema; the JSON itself comes from
    # notification_payload(), so the API and the stream cannot drift apart.
    read = serializers.BooleanField(
        read_only=True, help_text="Whether the recipient has marked it read."
    )

    class Meta:
        model = Notification
        fields = ["id", "seq", "kind", "title", "body", "url", "data", "created_at", "read"]
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


class InboxQuerySerializer(serializers.Serializer):
    unread = serializers.ChoiceField(
        choices=["true", "false"],
        required=False,
        error_messages={"invalid_choice": 'Must be "true" or "false", not "{input}".'},
    )


class UnreadCountSerializer(serializers.Serializer):
    unread_count = serializers.IntegerField(min_value=0)


class ReadResultSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="The notifications this request marked read."
    )
    unread_count = serializers.IntegerField(min_value=0, help_text="Unread notifications left.")


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for people.")

    def get_fields(self) -> dict[str, serializers.Field]:
        errors = _object("For invalid input: each field's messages.", required=False)
        return {**super().get_fields(), "errors": errors}
