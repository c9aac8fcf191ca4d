"""Users' choices per kind in the Django admin: staff see and change them for a user.

The form offers only registered kinds and refuses what a user could not choose either
(turning a critical kind off), with the same check as the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from notifications import preferences
from notifications.conf import conf
from notifications.models import Preference


class PreferenceForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=())

    class Meta:
        model = Preference
        fields = ("user", "kind", "in_app", "email", "push")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(kind.name, f"{kind.label} ({kind.name})") for kind in conf.KINDS.values()]
        if self.instance.pk and self.instance.kind not in conf.KINDS:
            choices.append((self.instance.kind, f"{self.instance.kind} (no longer registered)"))
        kind_field = self.fields["kind"]
        assert isinstance(kind_field, forms.ChoiceField)
        kind_field.choices = choices

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "kind" in cleaned:
            try:
                preferences.check_choice(
                    cleaned["kind"],
                    in_app=cleaned.get("in_app", True),
                    email=cleaned.get("email", False),
                )
            except preferences.InvalidPreferences as e:
                raise ValidationError(str(e), code="locked") from e
        return cleaned


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    """One row per choice a user made; kinds without a row follow their defaults."""

    form = PreferenceForm
    list_display = ("user", "kind", "label", "in_app", "email", "push", "updated_at")
    list_filter = ("kind", "in_app", "email", "push")
    list_select_related = ("user",)
    search_fields = ("user__username", "user__email", "kind")
    autocomplete_fields = ("user",)

    @admin.display(description="label")
    def label(self, preference: Preference) -> str:
        kind = conf.KINDS.get(preference.kind)
        return kind.label if kind else "(not registered)"
