"""Notifications rendered in their reader's language: what ``notify()`` stores and refuses,
and the API, the stream and the admin reading one stored notification in several languages.

The demo site's kinds (``project/settings.py``) are the templates; the expected words come
from the same catalogs the site ships, and each is checked to differ from the English, so a
test cannot pass on an untranslated string.
"""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.test import Client
from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext
from rest_framework_simplejwt.tokens import AccessToken

from notifications import services
from notifications.checks import check_settings
from notifications.content import ContentTooLarge, InvalidNotification
from notifications.delivery import messages
from notifications.delivery.payloads import stored_payload
from notifications.i18n import rendering
from notifications.models import Notification, UserLanguage
from notifications.stream import frames
from project.asgi import application
from tests.recipes import recipe, shell_commands
from tests.sse_client import AsgiStream

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

LIST = "/api/notifications/"
SHIPPED_TITLE = "Order #{number} shipped"
SHIPPED_BODY = "Your order is on its way."


def words(language: str, template: str, **params: Any) -> str:
    """Return ``template`` as the site's catalog has it in ``language``, rendered."""
    with translation.override(language):
        return gettext(template).format(**params)


def shipped(language: str, number: int = 1042) -> str:
    title = words(language, SHIPPED_TITLE, number=number)
    assert language == "en" or title != words("en", SHIPPED_TITLE, number=number), "untranslated"
    return title


def ship(user: Any, number: int = 1042) -> Notification:
    (stored,) = services.notify(user, kind="order.shipped", params={"number": number})
    return stored


def choose(user: Any, language: str | None) -> None:
    UserLanguage.objects.filter(user=user).delete()
    if language is not None:
        UserLanguage.objects.create(user=user, language=language)


@pytest.fixture
def kinds(settings: Any) -> Any:
    """Register extra kinds for one test, besides the site's."""

    def register(**extra: dict[str, Any]) -> None:
        registered = {**settings.NOTIFICATIONS["KINDS"], **extra}
        settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "KINDS": registered}

    return register


# --- notify() ------------------------------------------------------------------------------


def test_a_templated_notification_stores_its_params_and_the_sites_words(user: Any) -> None:
    stored = ship(user)

    row = Notification.objects.get(pk=stored.pk)
    assert row.params == {"number": 1042}
    assert (row.title, row.body) == ("Order #1042 shipped", SHIPPED_BODY)


def test_a_kind_without_parameters_needs_no_params(user: Any) -> None:
    (stored,) = services.notify(user, kind="account.security")

    row = Notification.objects.get(pk=stored.pk)
    assert row.params == {}
    assert row.title == "Your password was changed"


def test_free_text_is_stored_and_read_as_written(user: Any, client: Client) -> None:
    services.notify(user, kind="order.shipped", title="Packed by hand", body="Thanks!")
    choose(user, "de")
    client.force_login(user)

    (item,) = client.get(LIST).json()["results"]
    assert (item["title"], item["body"]) == ("Packed by hand", "Thanks!")
    assert Notification.objects.get().params is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"kind": "order.placed", "params": {"number": 7}}, "'total' is missing"),
        pytest.param({"kind": "order.shipped", "params": {"number": object()}}, "not JSON"),
        pytest.param({"kind": "order.shipped", "params": {"number": float("nan")}}, "not JSON"),
        pytest.param({"kind": "order.shipped", "params": [1042]}, "must be a JSON object"),
        pytest.param({"kind": "info", "params": {"number": 7}}, "has no title template"),
        pytest.param(
            {"kind": "order.shipped", "title": "Shipped", "params": {"number": 7}},
            "not a title or body",
        ),
    ],
)
def test_params_that_cannot_be_rendered_are_refused_and_nothing_is_stored(
    user: Any, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidNotification, match=message):
        services.notify(user, **fields)

    assert not Notification.objects.exists()


def test_a_field_that_is_not_a_plain_name_is_refused(user: Any, kinds: Any) -> None:
    kinds(**{"x.leak": {"label": "Leak", "title": "{number.__class__}"}})

    with pytest.raises(InvalidNotification, match="template fields are plain names"):
        services.notify(user, kind="x.leak", params={"number": 7})
    assert not Notification.objects.exists()


def test_a_translation_that_fails_in_one_language_is_refused_at_notify(
    user: Any, kinds: Any
) -> None:
    """A German translation that names a field the sender does not give is refused when it
    is sent, though English renders: no German reader ever meets it."""
    mistranslated = lazy(
        lambda: "Bestellung {nummer}" if translation.get_language() == "de" else "Order {number}",
        str,
    )()
    kinds(**{"x.order": {"label": "Order", "title": mistranslated}})

    with pytest.raises(InvalidNotification, match="'de'.*'nummer' is missing"):
        services.notify(user, kind="x.order", params={"number": 7})
    assert not Notification.objects.exists()


def test_the_size_limits_apply_to_the_renderings(user: Any) -> None:
    with pytest.raises(ContentTooLarge, match="title is longer than 200"):
        services.notify(user, kind="order.shipped", params={"number": "9" * 200})
    assert not Notification.objects.exists()


def test_a_live_message_carries_params_only_for_a_templated_notification(
    user: Any, published: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ship(user)
        services.notify(user, kind="info", title="Plain")

    templated, plain = (message for _, message in published)
    assert templated["type"] == plain["type"] == messages.NOTIFICATION
    assert templated["params"] == {"number": 1042}
    assert "params" not in plain


def test_the_checks_refuse_a_template_that_could_never_render(kinds: Any) -> None:
    kinds(
        **{
            "x.index": {"label": "Index", "title": "Order {0}"},
            "x.attribute": {"label": "Attribute", "title": "{order.number}"},
            "x.nested": {"label": "Nested", "title": "Order {number:{width}}"},
            "x.broken": {"label": "Broken", "title": "Order {number"},
            "x.body_only": {"label": "Body", "body": "Text"},
        }
    )

    errors = [e.msg for e in check_settings() if e.id == "notifications.E005"]
    assert len(errors) == 5
    for shown in ("{0}", "{order.number}", "{number}", "not a template", "without a title"):
        assert any(shown in e for e in errors), shown


# --- reading: the API, the admin -----------------------------------------------------------


def test_the_api_reads_one_notification_in_each_readers_language(user: Any, client: Client) -> None:
    ship(user)
    client.force_login(user)

    def title(**headers: str) -> str:
        (item,) = client.get(LIST, **headers).json()["results"]
        return str(item["title"])

    assert title() == shipped("en")
    choose(user, "de")
    assert title() == shipped("de")
    choose(user, "ar")
    assert title() == shipped("ar")
    # The user's choice wins over the browser's; without one, the browser's language.
    assert title(HTTP_ACCEPT_LANGUAGE="de") == shipped("ar")
    choose(user, None)
    assert title(HTTP_ACCEPT_LANGUAGE="de") == shipped("de")
    assert title(HTTP_ACCEPT_LANGUAGE="fr") == shipped("en")


def test_the_api_renders_the_body_too_and_for_a_token(user: Any, client: Client) -> None:
    ship(user)
    choose(user, "de")

    response = client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")

    (item,) = response.json()["results"]
    assert item["title"] == shipped("de")
    assert item["body"] == words("de", SHIPPED_BODY) != SHIPPED_BODY


def test_a_row_whose_kind_lost_its_templates_is_read_as_stored(
    user: Any, client: Client, settings: Any
) -> None:
    ship(user)
    kinds = {**settings.NOTIFICATIONS["KINDS"], "order.shipped": {"label": "Order shipped"}}
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "KINDS": kinds}
    choose(user, "de")
    client.force_login(user)

    (item,) = client.get(LIST).json()["results"]
    assert item["title"] == "Order #1042 shipped"


def test_the_admin_shows_each_notification_in_the_staff_members_language(
    user: Any, staff_user: Any, client: Client
) -> None:
    stored = ship(user)
    choose(staff_user, "de")
    client.force_login(staff_user)

    changelist = client.get("/admin/notifications/notification/").content.decode()
    change = client.get(f"/admin/notifications/notification/{stored.pk}/change/")

    assert shipped("de") in changelist
    assert shipped("de") in change.content.decode()
    assert words("de", SHIPPED_BODY) in change.content.decode()


def test_the_command_sends_a_templated_kind(user: Any) -> None:
    call_command(
        "send_notification", "--user", "alice", "--kind", "order.shipped", "--param", "number=7"
    )

    row = Notification.objects.get()
    assert (row.params, row.title) == ({"number": 7}, "Order #7 shipped")


# --- the README's recipes -----------------------------------------------------------------


def test_the_readmes_templated_notify_stores_params_read_in_german(
    user: Any, client: Client
) -> None:
    order = type("Order", (), {"user": user, "number": 1042})()
    exec(recipe("readme-notify-templated"), {"order": order})
    choose(user, "de")
    client.force_login(user)

    (item,) = client.get(LIST).json()["results"]
    assert (item["title"], item["url"]) == (shipped("de"), "/orders/1042/")
    assert Notification.objects.get().params == {"number": 1042}


def test_the_readmes_command_sends_a_templated_kind(user: Any) -> None:
    ((manage, name, *arguments),) = shell_commands(recipe("readme-send-templated"))
    assert manage == "manage.py"

    call_command(name, *arguments, stdout=StringIO())

    assert Notification.objects.get().title == "Order #1042 shipped"


def test_the_readmes_kind_templates_pass_the_checks_and_render(settings: Any, user: Any) -> None:
    example: dict[str, Any] = {}
    exec(recipe("readme-kind-templates"), example)
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, **example["NOTIFICATIONS"]}
    call_command("check", stdout=StringIO())  # raises SystemCheckError on any error

    stored = ship(user)
    with translation.override("de"):
        assert rendering.title_and_body(stored) == (shipped("de"), words("de", SHIPPED_BODY))


# --- the stream ----------------------------------------------------------------------------


notify = sync_to_async(services.notify)


async def open_stream(user: Any, *, query: str = "", **headers: str) -> AsgiStream:
    all_headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}", **headers}
    stream = AsgiStream(application, query=query, headers=all_headers)
    assert await stream.open() == 200
    assert (await stream.next_event()).event == "connected"
    return stream


@pytest.mark.django_db(transaction=True)
async def test_the_stream_replays_and_delivers_live_in_the_users_language(user: Any) -> None:
    await notify(user, kind="order.shipped", params={"number": 1})
    await sync_to_async(choose)(user, "de")
    stream = await open_stream(user, query="last_event_id=0")

    replayed = await stream.next_event()
    await notify(user, kind="order.shipped", params={"number": 2})
    await notify(user, kind="info", title="Free text")
    live, free = await stream.events(2)
    await stream.close()

    assert replayed.json()["title"] == await sync_to_async(shipped)("de", 1)
    assert live.json()["title"] == await sync_to_async(shipped)("de", 2)
    assert live.json()["body"] == await sync_to_async(words)("de", SHIPPED_BODY)
    assert free.json()["title"] == "Free text"
    assert "params" not in live.json()


@pytest.mark.django_db(transaction=True)
async def test_without_a_choice_the_stream_speaks_the_browsers_language(user: Any) -> None:
    stream = await open_stream(user, **{"Accept-Language": "ar,en;q=0.5"})

    await notify(user, kind="order.shipped", params={"number": 3})
    live = await stream.next_event()
    await stream.close()

    assert live.json()["title"] == await sync_to_async(shipped)("ar", 3)


def test_a_notification_brought_back_is_rendered_in_each_streams_language(user: Any) -> None:
    """An ``unsnoozed`` or ``unarchived`` event carries its notifications as published (in
    the publisher's words): each stream renders them, actions' labels too, in its own."""
    (stored,) = services.notify(
        user, kind="order.shipped", params={"number": 1042}, data={"order": 1042}
    )
    pair = (stored_payload(stored), stored.params)
    message = messages.state("unsnoozed", ids=[stored.pk], unread_count=1, notifications=[pair])
    for language in ("en", "de", "ar"):
        event = json.loads(frames.state(message, language=language).split(b"data: ")[1])
        [brought_back] = event["notifications"]
        assert brought_back["title"] == shipped(language)
        view = words(language, "View order")
        assert language == "en" or view != "View order", "untranslated"
        assert brought_back["actions"][0] == {"label": view, "url": "/orders/1042/"}
        assert event["ids"] == [stored.pk] and event["unread_count"] == 1
