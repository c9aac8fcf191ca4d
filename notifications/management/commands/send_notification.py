"""``manage.py send_notification``: notify some users, a group or everyone from a shell."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from notifications import selectors, services


class Command(BaseCommand):
    help = (
        "Store a notification for each recipient and push it to their open browsers. "
        "--all and --group reach active users only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--user",
            dest="users",
            action="extend",
            nargs="+",
            metavar="USERNAME",
            help="A recipient; repeat the option for several.",
        )
        target.add_argument("--group", metavar="NAME", help="Every active member of a group.")
        target.add_argument(
            "--all", dest="everyone", action="store_true", help="Every active user."
        )
        # Their sizes are limited by settings (MAX_TITLE_LENGTH...); a refusal says the limit.
        parser.add_argument(
            "--title",
            default="",
            help="The headline; leave it out for a kind whose title is a template (--param).",
        )
        parser.add_argument("--body", default="", help="The text under the title.")
        parser.add_argument(
            "--kind", default="info", help='A label clients style by (default: "info").'
        )
        parser.add_argument(
            "--url",
            default="",
            help="Where clicking it leads: a path on this site (/orders/7/) or an http(s) URL.",
        )
        parser.add_argument(
            "--data", metavar="JSON", help="Extra fields for clients, a JSON object: '{\"id\": 7}'."
        )
        parser.add_argument(
            "--param",
            dest="params",
            action="append",
            metavar="NAME=VALUE",
            help="A parameter of the kind's title and body templates; repeat for several. "
            "A VALUE that reads as JSON (1042, 12.5, true) is taken as such, else as text.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data = self._data(options["data"])
        params = _params(options["params"])
        recipients: services.Recipients
        if options["users"]:
            recipients = self._named_users(options["users"])
        elif options["group"] is not None:
            recipients = self._group_members(options["group"])
        else:
            recipients = selectors.active_users()
        try:
            stored = services.notify(
                recipients,
                kind=options["kind"],
                title=options["title"],
                body=options["body"],
                url=options["url"],
                data=data,
                params=params,
            )
        except services.InvalidNotification as e:
            raise CommandError(str(e)) from e
        count = len(stored)
        self.stdout.write(
            self.style.SUCCESS(f"Stored {count} notification{'' if count == 1 else 's'}.")
        )

    def _data(self, value: str | None) -> dict[str, Any]:
        if value is None:
            return {}
        try:
            data = json.loads(value, parse_constant=_refuse_constant)
        except ValueError as e:
            raise CommandError(f"--data is not valid JSON: {e}.") from e
        if not isinstance(data, dict):
            raise CommandError("--data must be a JSON object, such as '{\"order\": 42}'.")
        return data

    def _named_users(self, names: list[str]) -> list[Any]:
        # Naming someone who cannot receive it is a mistake worth stopping for, unlike a
        # broadcast that quietly skips inactive accounts.
        user_model = get_user_model()
        field = user_model.USERNAME_FIELD
        users = {
            getattr(user, field): user
            for user in user_model._default_manager.filter(**{f"{field}__in": names})
        }
        unknown = sorted(set(names) - set(users))
        if unknown:
            raise CommandError(f"Unknown user(s): {', '.join(unknown)}.")
        inactive = sorted(name for name, user in users.items() if not user.is_active)
        if inactive:
            raise CommandError(f"Inactive user(s), who cannot read it: {', '.join(inactive)}.")
        return list(users.values())

    def _group_members(self, name: str) -> QuerySet[Any]:
        try:
            group = Group.objects.get(name=name)
        except Group.DoesNotExist as e:
            raise CommandError(f"Unknown group: {name}.") from e
        return selectors.active_members(group)


def _params(pairs: list[str] | None) -> dict[str, Any] | None:
    """Read ``--param NAME=VALUE`` options; None when there are none (free text)."""
    if pairs is None:
        return None
    params: dict[str, Any] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.isidentifier():
            raise CommandError(f"--param takes NAME=VALUE, such as number=1042, not {pair!r}.")
        if name in params:
            raise CommandError(f"--param {name} is given twice.")
        try:
            params[name] = json.loads(value, parse_constant=_refuse_constant)
        except ValueError:
            params[name] = value
    return params


def _refuse_constant(name: str) -> Any:
    """Refuse ``NaN`` and ``Infinity``: Python reads them, but they are not JSON, and the
    database (or a browser's ``JSON.parse``) would refuse the notification later."""
    raise ValueError(f"{name} is not a JSON value")
