"""Pages in the reader's language: the signed-in user's choice, else the browser's."""

from __future__ import annotations

from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

from notifications.i18n import languages


class UserLanguageMiddleware:
    """Activate the language of :func:`languages.for_request` for the request's view.

    Put it after ``AuthenticationMiddleware``, which tells it who is signed in; it replaces
    Django's ``LocaleMiddleware``, which knows the browser only. The language is restored
    afterwards, so a thread serving the next request starts from the site's default.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            language = languages.for_request(request)
        except (OperationalError, InterfaceError):
            # The database is down: the view says so (a 503 to retry), in the browser's words.
            language = languages.negotiated(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", language)
        return response
