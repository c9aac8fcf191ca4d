"""The notification log in the Django admin, and the page staff send notifications from.

Every write goes through ``notifications.services``, so what staff do here reaches the
users' open streams exactly as a ``notify()`` call from code would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import display_for_value
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext, ngettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from notifications import selectors, services

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise
    from django_stubs_ext import StrOrPromise
from notifications.admin.connections import connection_urls
from notifications.conf import conf
from notifications.i18n import rendering
from notifications.models import Notification

User = get_user_model()

# What each action reports; plural on the "count" they are formatted with.
MARKED_READ = ngettext_lazy(
    "Marked %(count)d notification as read.", "Marked %(count)d notifications as read.", "count"
)
MARKED_UNREAD = ngettext_lazy(
    "Marked %(count)d notification as unread.",
    "Marked %(count)d notifications as unread.",
    "count",
)
ARCHIVED = ngettext_lazy(
    "Archived %(count)d notification.", "Archived %(count)d notifications.", "count"
)
UNARCHIVED = ngettext_lazy(
    "Brought %(count)d notification back from the archive.",
    "Brought %(count)d notifications back from the archive.",
    "count",
)
UNSNOOZED = ngettext_lazy(
    "Brought %(count)d notification back from snooze.",
    "Brought %(count)d notifications back from snooze.",
    "count",
)

AUDIENCES = ("users", "group", "everyone")
MESSAGE_FIELDS = ("kind", "title", "body", "url")


class StateFilter(admin.SimpleListFilter):
    """Filter on a state the model stores as a nullable timestamp: set ("yes") or not."""

    field: str
    labels: tuple[StrOrPromise, StrOrPromise]  # of "yes" and "no"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return list(zip(("yes", "no"), self.labels, strict=True))

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> QuerySet[Notification]:
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class ReadFilter(StateFilter):
    title = _("read")
    parameter_name = "read"
    field = "read_at"
    labels = (_("Read"), _("Unread"))


class ArchivedFilter(StateFilter):
    title = _("archived")
    parameter_name = "archived"
    field = "archived_at"
    labels = (_("Archived"), _("Not archived"))


class SnoozedFilter(StateFilter):
    """Snoozed: until a time, including one that has come and the upkeep has yet to wake."""

    title = _("snoozed")
    parameter_name = "snoozed"
    field = "snoozed_until"
    labels = (_("Snoozed"), _("Not snoozed"))


class CategoryFilter(admin.SimpleListFilter):
    """Filter on the category of the kind: the model stores kinds, the settings group them."""

    title = _("category")
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, StrOrPromise]]:
        return list(conf.CATEGORIES.items())

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> QuerySet[Notification]:
        category = self.value()
        if category is None:
            return queryset
        return queryset.filter(kind__in=conf.kinds_of(category))


def _is_user_key(value: object) -> bool:
    """Return whether ``value`` can be a user's primary key, before the database compares it:
    ``"²"`` passes ``isdigit()`` but not ``int()``, and SQLite cannot hold a number past 64 bits.
    """
    key = User._meta.pk
    assert key is not None
    try:
        key.run_validators(key.to_python(value))
    except ValidationError:
        return False
    return True


class UserPicker(AutocompleteSelectMultiple):
    """The admin's user autocomplete, showing a refused form again without the values that
    cannot be users' keys, which Django's widget would look up (and fail on) to label them."""

    def optgroups(self, name: str, value: Sequence[str], attr: dict[str, Any] | None = None) -> Any:
        return super().optgroups(name, [key for key in value if _is_user_key(key)], attr)


class UsersField(forms.ModelMultipleChoiceField):
    """Users chosen by primary key, refusing a value that cannot be one as not a choice."""

    def clean(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            for key in value:
                if not _is_user_key(key):
                    raise ValidationError(
                        self.error_messages["invalid_pk_value"],
                        code="invalid_pk_value",
                        params={"pk": key},
                    )
        return super().clean(value)


class SendNotificationForm(forms.Form):
    """Choose exactly one audience (some users, a group or everyone) and write the message.

    The message fields are the model's own form fields, so their limits cannot drift apart.
    """

    group = forms.ModelChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        help_text=_("Its active members."),
    )
    everyone = forms.BooleanField(
        required=False, label=_("Everyone"), help_text=_("Every active user.")
    )

    def __init__(
        self, *args: Any, model_admin: admin.ModelAdmin, request: HttpRequest, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["users"] = UsersField(
            queryset=User._default_manager.order_by(User.USERNAME_FIELD),
            required=False,
            widget=UserPicker(Notification._meta.get_field("recipient"), model_admin.admin_site),
        )
        self.fields.update(
            forms.fields_for_model(
                Notification,
                fields=MESSAGE_FIELDS,
                # Built per request, so plain gettext translates to the request's language.
                labels={"url": gettext("URL")},
                help_texts={
                    "kind": gettext("A label the page styles it by, such as info or warning."),
                    "url": gettext("Where clicking it leads, such as /orders/7/."),
                },
                formfield_callback=partial(_form_field, model_admin, request),
            )
        )

    def clean_users(self) -> QuerySet[Any]:
        users = self.cleaned_data["users"]
        inactive = [str(user) for user in users if not user.is_active]
        if inactive:
            raise ValidationError(
                ngettext(
                    "%(names)s is inactive and cannot read notifications.",
                    "%(names)s are inactive and cannot read notifications.",
                    len(inactive),
                ),
                params={"names": ", ".join(inactive)},
                code="inactive",
            )
        return users

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not all(name in cleaned for name in AUDIENCES):
            return cleaned  # That field's own error already says what is wrong.
        chosen = [name for name in AUDIENCES if cleaned[name]]
        if not chosen:
            raise ValidationError(
                _("Choose who receives it: some users, a group, or everyone."), code="no_audience"
            )
        if len(chosen) > 1:
            raise ValidationError(
                _("Choose only one of: some users, a group, or everyone."), code="audiences"
            )
        return cleaned

    def recipients(self) -> QuerySet[Any]:
        """Return the users the valid form addresses."""
        if self.cleaned_data["users"]:
            return self.cleaned_data["users"]
        if self.cleaned_data["group"]:
            return selectors.active_members(self.cleaned_data["group"])
        return selectors.active_users()


def _form_field(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    db_field: models.Field,
    **options: Any,
) -> forms.Field:
    """Return the admin's form field for ``db_field``, with the admin's widgets."""
    field = model_admin.formfield_for_dbfield(db_field, request=request, **options)
    assert field is not None, f"{db_field.name} has no form field"
    return field


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Browse and search the log; change read state and send through the services.

    A stored notification is a record of what a user was shown, so its page is read-only:
    read state changes through the actions, which tell the user's open streams, and new
    notifications are sent from the send page, which numbers and publishes them. A templated
    one is shown rendered in the staff member's language, as its recipient would read it in
    theirs; the search finds the site's language, which the rows hold.
    """

    list_display = (
        "recipient",
        "kind",
        "category",
        "shown_title",
        "created_at",
        "read",
        "archived",
        "snoozed",
    )
    list_display_links = ("shown_title",)
    list_filter = (
        "kind",
        CategoryFilter,
        ReadFilter,
        ArchivedFilter,
        SnoozedFilter,
        "created_at",
    )
    list_select_related = ("recipient",)
    search_fields = (
        "title",
        "body",
        f"recipient__{User.USERNAME_FIELD}",
        f"recipient__{User.get_email_field_name()}",
    )
    fields = (
        "recipient",
        "seq",
        "kind",
        "category",
        "shown_title",
        "shown_body",
        "params",
        "url",
        "data",
        "created_at",
        "read_at",
        "archived_on",
        "snoozed",
        "dedupe_key",
    )
    readonly_fields = (
        "seq",
        "category",
        "shown_title",
        "shown_body",
        "params",
        "archived_on",
        "snoozed",
        "dedupe_key",
    )
    # The send page picks users with this field's autocomplete; declaring it here makes
    # Django's system checks require a user admin with search_fields, which that needs.
    autocomplete_fields = ("recipient",)
    actions = ("mark_as_read", "mark_as_unread", "archive", "unarchive", "unsnooze")
    change_list_template = "admin/notifications/notification/change_list.html"
    send_form_template = "admin/notifications/send.html"

    @admin.display(boolean=True, description=_("read"), ordering="read_at")
    def read(self, notification: Notification) -> bool:
        return notification.read

    @admin.display(boolean=True, description=_("archived"), ordering="archived_at")
    def archived(self, notification: Notification) -> bool:
        return notification.archived

    @admin.display(description=_("archived at"))
    def archived_on(self, notification: Notification) -> str:
        return self._shown(notification.archived_at)

    @admin.display(description=_("snoozed until"), ordering="snoozed_until")
    def snoozed(self, notification: Notification) -> str:
        return self._shown(notification.snoozed_until)

    @admin.display(description=_("category"))
    def category(self, notification: Notification) -> str:
        name = conf.category(notification.kind)
        return self._shown(None if name is None else conf.CATEGORIES.get(name, name))

    def _shown(self, value: object) -> str:
        """Return ``value`` as the changelist shows a field's, since the read-only page shows
        what a method returns as it is (a date unlocalised, None as "None")."""
        return str(display_for_value(value, self.get_empty_value_display()))

    @admin.display(description=_("title"), ordering="title")
    def shown_title(self, notification: Notification) -> str:
        return rendering.title_and_body(notification)[0]

    @admin.display(description=_("body"))
    def shown_body(self, notification: Notification) -> str:
        return rendering.title_and_body(notification)[1]

    def has_change_permission(self, request: HttpRequest, obj: Notification | None = None) -> bool:
        # With no object this guards the changelist actions, which do go through services.
        return obj is None and super().has_change_permission(request)

    def get_urls(self) -> list[URLPattern]:
        send = path(
            "send/", self.admin_site.admin_view(self.send_view), name=self._url_name("send")
        )
        return [send, *connection_urls(self), *super().get_urls()]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Send instead: only ``notify()`` numbers a notification and rings the streams."""
        return HttpResponseRedirect(self._url("send"))

    def send_view(self, request: HttpRequest) -> HttpResponse:
        """Send a notification to some users, a group or everyone, through ``notify()``."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SendNotificationForm(
            request.POST if request.method == "POST" else None,
            model_admin=self,
            request=request,
        )
        if form.is_valid():
            try:
                sent = services.notify(
                    form.recipients(), **{name: form.cleaned_data[name] for name in MESSAGE_FIELDS}
                )
            except services.InvalidNotification as e:
                form.add_error(e.field if e.field in form.fields else None, str(e))
            else:
                self._report_sent(request, len(sent))
                return HttpResponseRedirect(self._url("changelist"))
        # Typed loosely on purpose: the stubs allow only ModelForms and lists of field names
        # here, where the admin's helpers take any form and the options fieldsets take.
        fieldsets: Any = [
            (_("Recipients"), {"fields": AUDIENCES, "description": _("Choose one.")}),
            (_("Message"), {"fields": MESSAGE_FIELDS}),
        ]
        adminform = helpers.AdminForm(
            form,  # type: ignore[arg-type]
            fieldsets,
            prepopulated_fields={},
            model_admin=self,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Send notification"),
            "opts": self.opts,
            "adminform": adminform,
            "errors": helpers.AdminErrorList(form, []),  # type: ignore[arg-type]
            "media": self.media + adminform.media,
        }
        return TemplateResponse(request, self.send_form_template, context)

    def _report_sent(self, request: HttpRequest, count: int) -> None:
        if count:
            message = ngettext(
                "Sent %(count)d notification.", "Sent %(count)d notifications.", count
            )
            self.message_user(request, message % {"count": count}, messages.SUCCESS)
        else:
            self.message_user(
                request,
                _("Nobody was notified: there is no active user to send to."),
                messages.WARNING,
            )

    @admin.action(description=_("Mark as read"), permissions=["change"])
    def mark_as_read(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        self._change(request, queryset, services.mark_read, MARKED_READ)

    @admin.action(description=_("Mark as unread"), permissions=["change"])
    def mark_as_unread(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        self._change(request, queryset, services.mark_unread, MARKED_UNREAD)

    @admin.action(description=_("Archive"), permissions=["change"])
    def archive(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        self._change(request, queryset, services.archive, ARCHIVED)

    @admin.action(description=_("Bring back from the archive"), permissions=["change"])
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        self._change(request, queryset, services.unarchive, UNARCHIVED)

    @admin.action(description=_("Bring back from snooze (now)"), permissions=["change"])
    def unsnooze(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        self._change(request, queryset, services.unsnooze, UNSNOOZED)

    def _change(
        self,
        request: HttpRequest,
        queryset: QuerySet[Notification],
        service: Callable[..., dict[int, services.Change]],
        report: _StrPromise,
    ) -> None:
        """Change the selection through ``service``, which tells the owners' streams, and
        say how many notifications changed (``report`` is plural on ``count``)."""
        changed = _count(service(notifications=queryset))
        self.message_user(request, report % {"count": changed}, messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Notification) -> None:
        # Through the service, so deleting an unread one corrects the owner's badge live.
        services.delete_notification(user_id=obj.recipient_id, notification_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        with transaction.atomic():
            for notification in queryset:
                self.delete_model(request, notification)

    def _url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def _url(self, view: str) -> str:
        return reverse(f"admin:{self._url_name(view)}", current_app=self.admin_site.name)


def _count(changes: dict[int, services.Change]) -> int:
    return sum(len(change.ids) for change in changes.values())


from notifications.admin import preferences, push  # noqa: E402, F401  (register their admins)
