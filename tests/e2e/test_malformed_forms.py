"""Malformed ``multipart/form-data`` under ``/api/`` gets the API's JSON refusal from real
daphne, not the bare ``400`` Twisted answers when it cannot parse a form itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from tests.e2e.conftest import DAPHNE, SERVE, Server
from tests.e2e.raw_http import RawResponse, request_bytes, send

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PART = b'--xx\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice\r\n--xx--\r\n'
# (Content-Type, body): all but the truncated one Twisted refused with a bare 400 when it
# parsed forms itself.
MALFORMED = {
    "no boundary": ("multipart/form-data", PART),
    "an unterminated quoted boundary": ('multipart/form-data; boundary="', PART),
    "a boundary the body does not use": ("multipart/form-data; boundary=yy", PART),
    "a boundary that is not ASCII": ("multipart/form-data; boundary=\u00e9", PART),
    "a body that is no form at all": ("multipart/form-data; boundary=xx", b"\x00\xff\xfe"),
    "a truncated body": ("multipart/form-data; boundary=xx", PART[:30]),
}
CSRF_SECRET = "a" * 32


@pytest.fixture(params=["serve", "daphne"])
def api_server(request: pytest.FixtureRequest, start_server: Callable[..., Server]) -> Server:
    """``python -m notifications.serve``, and daphne's own command line as a site runs it."""
    return start_server(command=SERVE if request.param == "serve" else DAPHNE)


async def post(server: Server, path: str, content_type: str, body: bytes, **headers: str) -> Any:
    raw = request_bytes("POST", path, headers={"Content-Type": content_type, **headers}, body=body)
    return await send(server.port, raw)


def detail(response: RawResponse) -> str:
    assert response.headers.get("content-type") == "application/json", response
    found = json.loads(response.body)["detail"]
    assert isinstance(found, str) and found
    return found


async def test_malformed_forms_get_json_refusals(api_server: Server) -> None:
    for case, (content_type, body) in MALFORMED.items():
        token = await post(api_server, "/api/token/", content_type, body)
        assert token.status == 400, case
        detail(token)
        # Authentication comes first.
        anonymous = await post(api_server, "/api/notifications/read-all/", content_type, body)
        assert anonymous.status == 401, case
        detail(anonymous)


async def test_a_signed_in_users_unparsable_form_is_a_json_400(
    api_server: Server, user: Any
) -> None:
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    session = {
        "Cookie": f"sessionid={browser.cookies['sessionid'].value}; csrftoken={CSRF_SECRET}",
        "X-CSRFToken": CSRF_SECRET,
    }
    # The session's CSRF check reads the form; these two Django's parser refuses as well.
    for case in ("no boundary", "a boundary that is not ASCII"):
        content_type, body = MALFORMED[case]
        response = await post(
            api_server, "/api/notifications/read-all/", content_type, body, **session
        )
        assert response.status == 400, case
        assert "parse error" in detail(response), case


async def test_a_well_formed_form_still_reaches_the_api(api_server: Server, user: Any) -> None:
    body = PART.replace(b"--xx--\r\n", b"") + (
        b'--xx\r\nContent-Disposition: form-data; name="password"\r\n\r\nwrong\r\n--xx--\r\n'
    )
    response = await post(api_server, "/api/token/", "multipart/form-data; boundary=xx", body)
    assert response.status == 401
    detail(response)
