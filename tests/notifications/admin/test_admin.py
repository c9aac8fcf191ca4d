"""The notification admin, driven through the test client as staff would use it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone

from notifications.delivery import messages
from notifications.models import Notification
from notifications.services import archive, mark_read, notify, snooze
from tests.notifications.test_content import HOSTILE_LINKS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

CHANGELIST = reverse("admin:notifications_notification_changelist")
SEND = reverse("admin:notifications_notification_send")


@pytest.fixture
def staff_client(client: Client, staff_user: Any) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def inbox(user: Any, other_user: Any) -> dict[str, Notification]:
    """Alice has read "Order #7 shipped"; Bob has not read "Spring sale"."""
    [shipped] = notify(user, kind="order", title="Order #7 shipped", body="Tracking: XY123")
    [sale] = notify(other_user, kind="promo", title="Spring sale", body="Everything half off")
    mark_read(notifications=Notification.objects.filter(pk__in=[shipped.pk]))
    return {"shipped": shipped, "sale": sale}


def listed(client: Client, **params: str) -> list[str]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return sorted(n.title for n in response.context["cl"].result_list)


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# --- the changelist ------------------------------------------------------------------------


def test_the_changelist_lists_notifications_with_their_read_state(staff_client, inbox):
    response = staff_client.get(CHANGELIST)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Order #7 shipped" in content
    assert "Spring sale" in content
    assert 'alt="True"' in content and 'alt="False"' in content


@pytest.mark.parametrize(
    ("params", "titles"),
    [
        ({"read": "yes"}, ["Order #7 shipped"]),
        ({"read": "no"}, ["Spring sale"]),
        ({"kind": "promo"}, ["Spring sale"]),
        ({"q": "shipped"}, ["Order #7 shipped"]),
        ({"q": "half off"}, ["Spring sale"]),
        ({"q": "alice"}, ["Order #7 shipped"]),
        ({"q": "bob@example.com"}, ["Spring sale"]),
        ({"q": "nothing like it"}, []),
    ],
)
def test_the_changelist_filters_and_searches(staff_client, inbox, params, titles):
    assert listed(staff_client, **params) == titles


def test_the_changelist_offers_sending_rather_than_adding(staff_client, inbox):
    content = staff_client.get(CHANGELIST).content.decode()

    assert f'href="{SEND}"' in content
    assert "Add notification" not in content


def test_adding_leads_to_the_send_page(staff_client):
    response = staff_client.get(reverse("admin:notifications_notification_add"))

    assert response.status_code == 302
    assert response.url == SEND


def test_a_stored_notification_is_shown_read_only(staff_client, inbox):
    url = reverse("admin:notifications_notification_change", args=[inbox["sale"].pk])

    response = staff_client.get(url)
    assert response.status_code == 200
    assert "Spring sale" in response.content.decode()
    assert 'name="_save"' not in response.content.decode()

    assert staff_client.post(url, {"title": "Changed"}).status_code == 403
    assert Notification.objects.get(pk=inbox["sale"].pk).title == "Spring sale"


# --- actions -------------------------------------------------------------------------------


def act(client: Client, action: str, notifications: list[Notification], **extra: str) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, ACTION_CHECKBOX_NAME: [n.pk for n in notifications], **extra},
        follow=True,
    )


def test_mark_as_read_marks_each_owners_notifications_and_tells_their_streams(
    staff_client, user, other_user, inbox, published, django_capture_on_commit_callbacks
):
    [unread_of_alice] = notify(user, kind="info", title="Welcome")

    with django_capture_on_commit_callbacks(execute=True):
        response = act(
            staff_client, "mark_as_read", [inbox["shipped"], unread_of_alice, inbox["sale"]]
        )

    assert messages_of(response) == ["Marked 2 notifications as read."]
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert sorted(published, key=lambda sent: sent[0]) == [
        (user.pk, {"type": messages.READ_STATE, "ids": [unread_of_alice.pk], "unread_count": 0}),
        (
            other_user.pk,
            {"type": messages.READ_STATE, "ids": [inbox["sale"].pk], "unread_count": 0},
        ),
    ]


def test_mark_as_unread_marks_them_unread_and_tells_the_owners_streams(
    staff_client, user, inbox, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff_client, "mark_as_unread", [inbox["shipped"], inbox["sale"]])

    assert messages_of(response) == ["Marked 1 notification as unread."]
    assert Notification.objects.filter(read_at__isnull=True).count() == 2
    assert [(user_id, message["unread_ids"]) for user_id, message in published] == [
        (user.pk, [inbox["shipped"].pk])
    ]


def test_deleting_an_unread_notification_corrects_the_owners_badge(
    staff_client, other_user, inbox, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        act(staff_client, "delete_selected", [inbox["shipped"], inbox["sale"]], post="yes")

    assert not Notification.objects.exists()
    assert published == [
        (other_user.pk, {"type": messages.READ_STATE, "ids": [], "unread_count": 0})
    ]


# --- the send page -------------------------------------------------------------------------


def message_fields(**fields: str) -> dict[str, str]:
    return {"kind": "info", "title": "Spring sale", "body": "", "url": "", **fields}


def test_the_send_page_shows_the_form(staff_client):
    response = staff_client.get(SEND)

    assert response.status_code == 200
    content = response.content.decode()
    for name in ("users", "group", "everyone", "kind", "title", "body", "url"):
        assert f'name="{name}"' in content
    assert 'value="info"' in content, "the kind does not default to info"
    assert "admin/js/autocomplete.js" in content, "the user picker's script is missing"


def test_send_to_a_group_notifies_its_active_members(
    staff_client, user, other_user, make_user, published, django_capture_on_commit_callbacks
):
    make_user("carol")
    customers = Group.objects.create(name="customers")
    customers.user_set.add(user, other_user, make_user("dormant", is_active=False))

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            SEND,
            {
                "group": customers.pk,
                **message_fields(kind="promo", body="Half off", url="/sale/"),
            },
            follow=True,
        )

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert messages_of(response) == ["Sent 2 notifications."]
    for member in (user, other_user):
        notification = Notification.objects.get(recipient=member)
        assert (notification.kind, notification.title, notification.body, notification.url) == (
            "promo",
            "Spring sale",
            "Half off",
            "/sale/",
        )
        assert notification.seq == 1
    assert Notification.objects.count() == 2
    assert {user_id for user_id, _ in published} == {user.pk, other_user.pk}


def test_send_to_chosen_users(staff_client, user, other_user, make_user):
    make_user("carol")

    response = staff_client.post(
        SEND, {"users": [user.pk, other_user.pk], **message_fields()}, follow=True
    )

    assert messages_of(response) == ["Sent 2 notifications."]
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {
        "alice",
        "bob",
    }


def test_send_to_everyone_reaches_every_active_user(
    staff_client, staff_user, user, other_user, make_user
):
    make_user("dormant", is_active=False)

    response = staff_client.post(SEND, {"everyone": "on", **message_fields()}, follow=True)

    assert messages_of(response) == ["Sent 3 notifications."]
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {
        "alice",
        "bob",
        "staff",
    }


def test_send_to_a_group_without_active_members_warns(staff_client):
    empty = Group.objects.create(name="empty")

    response = staff_client.post(SEND, {"group": empty.pk, **message_fields()}, follow=True)

    assert messages_of(response) == ["Nobody was notified: there is no active user to send to."]


@pytest.fixture
def customers(user: Any) -> Group:
    group = Group.objects.create(name="customers")
    group.user_set.add(user)
    return group


@pytest.mark.parametrize(
    ("audience", "fields", "error"),
    [
        pytest.param({}, {}, "Choose who receives it", id="no audience"),
        pytest.param(
            {"group": True, "everyone": "on"}, {}, "Choose only one of", id="two audiences"
        ),
        pytest.param({"group": True}, {"title": ""}, "This field is required.", id="no title"),
        pytest.param({"group": True}, {"title": "   "}, "This field is required.", id="blank"),
        pytest.param(
            {"group": True}, {"title": "x" * 201}, "at most 200 characters", id="long title"
        ),
        pytest.param({"inactive": True}, {}, "dormant is inactive", id="inactive user"),
    ],
)
def test_an_invalid_send_stores_nothing(
    staff_client, customers, make_user, audience, fields, error
):
    if audience.pop("group", False):
        audience["group"] = customers.pk
    if audience.pop("inactive", False):
        audience["users"] = [make_user("dormant", is_active=False).pk]

    response = staff_client.post(SEND, {**audience, **message_fields(**fields)})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Notification.objects.exists()


def form_errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200
    return dict(response.context["adminform"].form.errors)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"body": "x" * 5001}, "The body is longer than 5000", id="body"),
        pytest.param({"url": "/" + "x" * 500}, "at most 500 characters", id="url"),
    ],
)
def test_a_field_over_its_limit_is_a_form_error(staff_client, customers, fields, message):
    response = staff_client.post(SEND, {"group": customers.pk, **message_fields(**fields)})

    [name] = fields
    assert message in " ".join(form_errors(response)[name])
    assert not Notification.objects.exists()


def test_the_limits_set_in_settings_are_form_errors(staff_client, customers, settings):
    settings.NOTIFICATIONS = {**settings.NOTIFICATIONS, "MAX_TITLE_LENGTH": 5}

    response = staff_client.post(SEND, {"group": customers.pk, **message_fields(title="Sixsix")})

    assert form_errors(response)["title"] == ["The title is longer than 5 characters (6)."]
    assert not Notification.objects.exists()


@pytest.mark.parametrize("url", HOSTILE_LINKS)
def test_a_link_off_the_site_is_a_form_error(staff_client, customers, url):
    response = staff_client.post(SEND, {"group": customers.pk, **message_fields(url=url)})

    assert form_errors(response)["url"]
    assert not Notification.objects.exists()


@pytest.mark.parametrize("value", ["²", "1.5", "0x1", "99999999999999999999"])
def test_users_that_cannot_be_keys_are_a_form_error(staff_client, user, value):
    """``²`` passes ``isdigit()`` and fails ``int()``; the last is past SQLite's integers."""
    response = staff_client.post(SEND, {"users": [user.pk, value], **message_fields()})

    assert form_errors(response)["users"] == [f"“{value}” is not a valid value."]
    assert 'name="users"' in response.content.decode()
    assert not Notification.objects.exists()


def test_the_user_picker_searches_users(staff_client, user, other_user):
    response = staff_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "notifications",
            "model_name": "notification",
            "field_name": "recipient",
            "term": "ali",
        },
    )

    assert response.status_code == 200
    assert [result["text"] for result in response.json()["results"]] == ["alice"]


# --- who may send --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "site user"])
def test_only_staff_reach_the_send_page(client, user, who):
    if who == "site user":
        client.force_login(user)

    for response in (client.get(SEND), client.post(SEND, {"everyone": "on", **message_fields()})):
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))
    assert not Notification.objects.exists()


def test_staff_without_the_add_permission_cannot_send(client, make_user):
    clerk = make_user("clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_notification"))
    client.force_login(clerk)

    assert client.get(SEND).status_code == 403
    assert client.post(SEND, {"everyone": "on", **message_fields()}).status_code == 403
    assert f'href="{SEND}"' not in client.get(CHANGELIST).content.decode()
    assert not Notification.objects.exists()


def test_the_admin_configuration_passes_djangos_checks():
    assert admin.site.get_model_admin(Notification).check() == []


# --- archive, snooze and categories ------------------------------------------------------


@pytest.fixture
def until() -> datetime:
    """When the snoozed notification of :func:`triage` comes back."""
    return (timezone.now() + timedelta(days=1)).replace(microsecond=0)


@pytest.fixture
def triage(user: Any, other_user: Any, until: datetime) -> dict[str, Notification]:
    """Alice archived "Order #8 shipped" and snoozed "Password changed"; Bob's "Welcome" (of
    no category) is in his inbox, unread."""
    [shipped] = notify(user, kind="order.shipped", title="Order #8 shipped", data={"order": 8})
    [password] = notify(user, kind="account.security", title="Password changed")
    [welcome] = notify(other_user, kind="info", title="Welcome")
    archive(notifications=Notification.objects.filter(pk=shipped.pk))
    snooze(notifications=Notification.objects.filter(pk=password.pk), until=until)
    return {"shipped": shipped, "password": password, "welcome": welcome}


def shown(moment: datetime) -> str:
    """``moment`` as the admin shows a date and time."""
    return formats.localize(timezone.template_localtime(moment))


def cells(content: str, column: str) -> list[str]:
    """The ``column`` cells of the changelist's rows, in order, tags stripped (an icon shown
    as its alt text)."""
    pattern = rf'<t[dh] class="field-{column}(?: [^"]*)?">(.*?)</t[dh]>'
    found = re.findall(pattern, content, flags=re.S)
    return [re.sub(r'<img [^>]*alt="([^"]*)"[^>]*>|<[^>]+>', r"\1", cell).strip() for cell in found]


def test_the_changelist_shows_category_archive_and_snooze(staff_client, triage, until):
    content = staff_client.get(CHANGELIST, {"o": "4"}).content.decode()  # by title

    assert cells(content, "shown_title") == ["Order #8 shipped", "Password changed", "Welcome"]
    assert cells(content, "category") == ["Orders", "Account", "-"]
    assert cells(content, "archived") == ["True", "False", "False"]
    assert cells(content, "snoozed") == ["-", shown(until), "-"]


def test_the_change_page_shows_category_archive_and_snooze(staff_client, triage, until):
    url = reverse("admin:notifications_notification_change", args=[triage["password"].pk])

    content = staff_client.get(url).content.decode()

    for label in ("Category", "Archived at", "Snoozed until"):
        assert f"<label>{label}:</label>" in content
    assert shown(until) in content


@pytest.mark.parametrize(
    ("params", "titles"),
    [
        ({"archived": "yes"}, ["Order #8 shipped"]),
        ({"archived": "no"}, ["Password changed", "Welcome"]),
        ({"snoozed": "yes"}, ["Password changed"]),
        ({"snoozed": "no"}, ["Order #8 shipped", "Welcome"]),
        ({"category": "orders"}, ["Order #8 shipped"]),
        ({"category": "account"}, ["Password changed"]),
        ({"category": "nonesuch"}, []),
        ({"category": "account", "snoozed": "no"}, []),
        ({"archived": "no", "read": "no"}, ["Welcome"]),
    ],
)
def test_the_changelist_filters_by_archive_snooze_and_category(
    staff_client, triage, params, titles
):
    assert listed(staff_client, **params) == titles


def test_the_category_filter_offers_each_category_by_its_label(staff_client, triage):
    content = staff_client.get(CHANGELIST).content.decode()

    for name, label in (("orders", "Orders"), ("account", "Account")):
        assert f'href="?category={name}">{label}</a>' in content


def state_messages(published: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, str, list]]:
    return [(user_id, sent["event"], sent["ids"]) for user_id, sent in published]


def test_archive_puts_the_selection_away_read_and_tells_the_owners_streams(
    staff_client, user, other_user, triage, published, django_capture_on_commit_callbacks
):
    chosen = [triage["shipped"], triage["password"], triage["welcome"]]  # one archived already

    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff_client, "archive", chosen)

    assert messages_of(response) == ["Archived 2 notifications."]
    for notification in Notification.objects.all():
        assert notification.archived_at is not None
        assert notification.read_at is not None
        assert notification.snoozed_until is None
    assert state_messages(published) == [
        (user.pk, "archived", [triage["password"].pk]),
        (other_user.pk, "archived", [triage["welcome"].pk]),
    ]
    assert [sent["unread_count"] for _, sent in published] == [0, 0]


def test_unarchive_brings_the_archived_back_and_sends_them_to_the_streams(
    staff_client, user, triage, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff_client, "unarchive", [triage["shipped"], triage["welcome"]])

    assert messages_of(response) == ["Brought 1 notification back from the archive."]
    shipped = Notification.objects.get(pk=triage["shipped"].pk)
    assert shipped.archived_at is None
    assert shipped.read_at is not None, "it comes back as read as it was"
    [(user_id, sent)] = published
    assert (user_id, sent["event"], sent["ids"]) == (user.pk, "unarchived", [shipped.pk])
    assert [payload["title"] for payload, _params in sent["notifications"]] == ["Order #8 shipped"]


def test_unsnooze_brings_the_snoozed_back_unread_now(
    staff_client, user, triage, published, django_capture_on_commit_callbacks
):
    chosen = [triage["password"], triage["shipped"], triage["welcome"]]

    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff_client, "unsnooze", chosen)

    assert messages_of(response) == ["Brought 1 notification back from snooze."]
    password = Notification.objects.get(pk=triage["password"].pk)
    assert (password.snoozed_until, password.read_at) == (None, None)
    [(user_id, sent)] = published
    assert (user_id, sent["event"], sent["ids"]) == (user.pk, "unsnoozed", [password.pk])
    assert sent["unread_count"] == 1
    assert [payload["id"] for payload, _params in sent["notifications"]] == [password.pk]


def test_an_action_that_changes_nothing_says_so_and_tells_nobody(
    staff_client, triage, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = act(staff_client, "unsnooze", [triage["welcome"]])

    assert messages_of(response) == ["Brought 0 notifications back from snooze."]
    assert published == []


def test_the_new_columns_filters_and_actions_speak_the_staff_members_language(staff_client, triage):
    content = staff_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="de").content.decode()

    for german in ("Archivieren", "Aus dem Archiv zurückholen", "Nicht zurückgestellt"):
        assert german in content
    assert "Bestellungen" in cells(content, "category")
    response = staff_client.post(
        CHANGELIST,
        {"action": "archive", ACTION_CHECKBOX_NAME: [triage["welcome"].pk]},
        HTTP_ACCEPT_LANGUAGE="de",
        follow=True,
    )
    assert messages_of(response) == ["1 Benachrichtigung archiviert."]
