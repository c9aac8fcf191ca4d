"""The site's pages without a browser: who may see the inbox, and what the page hands its
script. (tests/browser/ drives the same pages in Chromium.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_the_inbox_hands_its_script_the_user_and_endpoints(client: Client, user: Any) -> None:
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    script = page.split('<script id="inbox-config" type="application/json">', 1)[1]
    assert json.loads(script.split("</script>", 1)[0]) == {
        "userId": user.pk,
        "eventsPath": "/api/events/",
        "apiPath": "/api/notifications/",
        "preferencesPath": "/api/preferences/",
    }
    assert "notifications/client.js" in page
    assert 'aria-live="polite"' in page
    # The page's script reads the CSRF cookie to mark read and delete.
    assert "csrftoken" in response.cookies
    assert "/admin/" not in page


def test_staff_get_a_link_to_the_admin(client: Client, staff_user: Any) -> None:
    client.force_login(staff_user)
    assert 'href="/admin/"' in client.get("/").content.decode()


def test_log_out_is_a_post_form_that_works(client: Client, user: Any) -> None:
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'action="/accounts/logout/"' in page
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_the_log_in_page_renders(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'autocomplete="current-password"' in response.content


@pytest.mark.django_db
def test_unknown_api_paths_answer_json_404(client: Any) -> None:
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert client.get("/no-such-page/").status_code == 404
