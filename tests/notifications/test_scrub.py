"""Tokens never reach a log or an error report, however the query string spells them."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from django.core import mail
from django.test import RequestFactory
from django.utils.log import AdminEmailHandler
from django.views.debug import technical_500_response
from rest_framework_simplejwt.tokens import AccessToken

from notifications.scrub import SCRUBBED, ScrubTokensFilter, scrub
from notifications.serve import scrubbing

SECRET = "s3cret-Value_42"


@pytest.mark.parametrize(
    "spelling",
    [
        "token",
        "%74oken",
        "%74%6F%6B%65%6E",
        "TOKEN",
        "Token",
        "to%6Ben",
        "%2574oken",  # encoded twice, for a proxy that decodes once more
        "token+",
    ],
)
@pytest.mark.parametrize("separator", ["?", "?a=1&", "?a=1;", "?a=1&b=2;"])
def test_scrub_hides_the_value_however_the_name_is_spelt(spelling: str, separator: str) -> None:
    line = f'127.0.0.1 - - "GET /api/events/{separator}{spelling}={SECRET}&last=1 HTTP/1.1" 200'
    scrubbed = scrub(line)
    assert SECRET not in scrubbed
    assert f"{spelling}={SCRUBBED}" in scrubbed
    assert scrubbed.endswith('&last=1 HTTP/1.1" 200')


@pytest.mark.parametrize(
    "text", ["/x?tokens=a&notoken=b&token_type=c", "token count=3", "a=b", "no query at all"]
)
def test_scrub_leaves_other_parameters_alone(text: str) -> None:
    assert scrub(text) == text


def test_scrub_hides_a_jwt_wherever_it_stands() -> None:
    jwt = str(AccessToken())
    assert jwt not in scrub(f"Authorization: Bearer {jwt}")
    assert jwt not in scrub(f"/api/events/?t={jwt}")


def test_the_logging_filter_scrubs_formatted_messages() -> None:
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Bad: %s", (f"/x?%74oken={SECRET}",), None
    )
    assert ScrubTokensFilter().filter(record)
    assert SECRET not in record.getMessage()


def test_the_access_log_wrapper_scrubs_paths() -> None:
    logged: list[dict[str, Any]] = []
    log = scrubbing(lambda protocol, action, details: logged.append(details))
    log("http", "complete", {"path": f"/api/events/?x=1;TOKEN={SECRET}", "status": 200})
    assert SECRET not in logged[0]["path"]
    assert logged[0]["status"] == 200


def _raise_with_token_in_scope(raw: str) -> None:
    header = f"Bearer {raw}"  # noqa: F841 - a local the report shows
    raise RuntimeError("boom")


def failing_request(jwt: str) -> Any:
    return RequestFactory().get(
        f"/api/notifications/?%74oken={SECRET}&x=1;token={SECRET}&TOKEN={SECRET}",
        HTTP_REFERER=f"https://example.com/?token={SECRET}",
        HTTP_AUTHORIZATION=f"Bearer {jwt}",
        HTTP_X_TOKEN_COPY=f"?token={SECRET}",
        HTTP_HOST="localhost",
    )


def exc_info(jwt: str) -> Any:
    try:
        _raise_with_token_in_scope(jwt)
    except RuntimeError:
        return sys.exc_info()


def test_the_debug_500_page_shows_no_token() -> None:
    jwt = str(AccessToken())
    request = failing_request(jwt)
    page = technical_500_response(request, *exc_info(jwt)).content.decode()
    assert "boom" in page and "_raise_with_token_in_scope" in page
    assert SECRET not in page
    assert jwt not in page


def test_the_500_email_to_admins_shows_no_token(settings: Any) -> None:
    settings.ADMINS = [("Ops", "ops@example.com")]
    jwt = str(AccessToken())
    request = failing_request(jwt)
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s",
        (request.path,), exc_info(jwt),
    )  # fmt: skip
    record.request = request
    AdminEmailHandler(include_html=True).emit(record)
    [email] = mail.outbox
    html = email.alternatives[0][0]
    for text in (email.subject, email.body, html):
        assert SECRET not in text
        assert jwt not in text
    assert "RuntimeError" in email.body
