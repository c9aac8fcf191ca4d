"""``manage.py create_demo_data``: the demo's log-ins, created once, printed every time."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from notifications import services

# (username, password, staff superuser?): published passwords, so development only.
DEMO_USERS = (
    ("admin", "admin-password", True),
    ("alice", "alice-password", False),
    ("bob", "bob-password", False),
)
DEMO_GROUP = "customers"


class Command(BaseCommand):
    help = (
        "Create the demo log-ins once: a superuser 'admin' and the users 'alice' and 'bob' "
        f"in the group '{DEMO_GROUP}'. Their passwords are public, so this refuses to run "
        "with DEBUG off unless forced."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Create the accounts even with DEBUG off."
        )

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: not creating accounts whose passwords are published. "
                "Pass --force to create them anyway."
            )
        with transaction.atomic():
            accounts = [self._user(*demo_user) for demo_user in DEMO_USERS]
            group, group_created = Group.objects.get_or_create(name=DEMO_GROUP)
            group.user_set.add(*(user for user, _ in accounts if not user.is_staff))
            services.notify(
                [user for user, created in accounts if created and not user.is_staff],
                kind="info",
                title="Welcome to the demo",
                body="New notifications appear here live, without reloading the page.",
            )
        if group_created or any(created for _, created in accounts):
            self.stdout.write(self.style.SUCCESS("Created the demo data."))
        else:
            self.stdout.write("Demo data already present.")
        self.stdout.write("Demo log-ins (username / password):")
        for name, password, staff in DEMO_USERS:
            where = "  staff, can use /admin/" if staff else ""
            self.stdout.write(f"  {name:<6} / {password}{where}")

    def _user(self, name: str, password: str, staff: bool) -> tuple[Any, bool]:
        user_model = get_user_model()
        try:
            return user_model._default_manager.get_by_natural_key(name), False
        except user_model.DoesNotExist:
            pass
        # create_user() sets the password without the validators: a demo password is meant
        # to be easy to type, and it is published anyway.
        manager = user_model._default_manager
        create = manager.create_superuser if staff else manager.create_user
        return create(name, f"{name}@example.com", password), True
