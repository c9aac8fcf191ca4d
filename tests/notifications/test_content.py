"""What a notification may hold, and what every renderer does with a link stored around the
rules: the API, the stream and the email show no link that leads off-site."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from notifications import services
from notifications.content import is_safe_link, safe_link
from notifications.models import Notification
from notifications.stream import frames

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

# Links that may be stored: a path on this site, or an absolute http(s) URL.
SAFE_LINKS = [
    "/",
    "/orders/7/",
    "/search?q=a%20b#results",
    "/café/",
    "https://shop.example.com/orders/7/?tab=tracking",
    "HTTP://EXAMPLE.COM/",
    "http://localhost:8000/x",
]

# Each one a browser would follow off-site or into script, or that reads differently to a
# browser and to the server.
HOSTILE_LINKS = [
    pytest.param("//evil.example/x", id="protocol-relative"),
    pytest.param("///evil.example/x", id="three slashes"),
    pytest.param("/\\evil.example/x", id="slash backslash"),
    pytest.param("\\\\evil.example/x", id="two backslashes"),
    pytest.param("\\/evil.example/x", id="backslash slash"),
    pytest.param(" //evil.example/x", id="space first"),
    pytest.param("\t//evil.example/x", id="tab first"),
    pytest.param("/\t/evil.example/x", id="tab between the slashes"),
    pytest.param("/\n/evil.example/x", id="newline between the slashes"),
    pytest.param("\u200b//evil.example/x", id="zero-width space first"),
    pytest.param("\u3000//evil.example/x", id="ideographic space first"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("JaVaScRiPt:alert(1)", id="javascript in mixed case"),
    pytest.param("\x00javascript:alert(1)", id="NUL then javascript"),
    pytest.param("data:text/html,<script>alert(1)</script>", id="data"),
    pytest.param("vbscript:msgbox(1)", id="vbscript"),
    pytest.param("ftp://evil.example/x", id="ftp"),
    pytest.param("https:evil.example/x", id="https without slashes"),
    pytest.param("https:/evil.example/x", id="https with one slash"),
    pytest.param("https://", id="https without a host"),
    pytest.param("https://shop.example.com\\@evil.example/", id="backslash in an absolute URL"),
    pytest.param("evil.example/x", id="no scheme"),
]

EVIL = "//evil.example/x"


@pytest.mark.parametrize("url", SAFE_LINKS)
def test_paths_on_the_site_and_absolute_http_urls_are_links(url: str) -> None:
    assert is_safe_link(url)
    assert safe_link(url) == url


@pytest.mark.parametrize("url", HOSTILE_LINKS)
def test_anything_else_is_no_link(url: str) -> None:
    assert not is_safe_link(url)
    assert safe_link(url) == ""


# --- links stored before the rules, or written around notify() ---------------------------


@pytest.fixture
def stored_evil_link(user: Any) -> Notification:
    """A notification whose url was written straight to the database: ``//evil.example/x``."""
    (notification,) = services.notify(user, kind="order.shipped", title="Order #7 shipped")
    Notification.objects.filter(pk=notification.pk).update(url=EVIL)
    notification.refresh_from_db()
    assert notification.url == EVIL
    return notification


def test_the_api_serves_a_stored_off_site_link_as_no_link(
    client: Client, user: Any, stored_evil_link: Notification
) -> None:
    client.force_login(user)

    response = client.get("/api/notifications/")

    assert response.status_code == 200
    (item,) = response.json()["results"]
    assert item["id"] == stored_evil_link.pk
    assert item["url"] == ""
    assert "evil.example" not in response.content.decode()


def test_the_stream_replays_a_stored_off_site_link_as_no_link(
    stored_evil_link: Notification,
) -> None:
    frame = frames.notification(stored_evil_link).decode()

    data = next(line for line in frame.splitlines() if line.startswith("data: "))
    assert json.loads(data.removeprefix("data: "))["url"] == ""
    assert "evil.example" not in frame


def test_the_email_links_a_stored_off_site_link_to_the_inbox(
    settings: Any, stored_evil_link: Notification
) -> None:
    settings.SITE_URL = "https://shop.example.com"
    call_command("send_notification_emails", "--min-age", "0", stdout=StringIO())

    (message,) = mail.outbox
    (html, _), *_ = message.alternatives
    for body in (message.body, str(html)):
        assert "Order #7 shipped" in body
        assert "evil.example" not in body
    assert 'href="https://shop.example.com/"' in str(html)
