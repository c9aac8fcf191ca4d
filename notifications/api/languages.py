"""The API's answers in the reader's language, whoever authenticates them and however.

The app's views authenticate requests themselves (a JWT is read by the view, not by a
middleware), so only a view knows who a token's user is: it switches to their language once
authentication is done. Refusals before that speak the browser's language.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBase
from django.template.response import SimpleTemplateResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from rest_framework.request import Request
from rest_framework.views import APIView

from notifications.i18n import languages


class InUsersLanguage(APIView):
    """Answer in the language of the request's user (:func:`languages.for_request`).

    The language is restored when the view returns, rendered: a site without the app's
    middleware does not serve its next request on this thread in this user's language.
    """

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with translation.override(languages.negotiated(request)):
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
            return response

    def perform_authentication(self, request: Request) -> None:
        try:
            super().perform_authentication(request)
        finally:
            self.activate_language(languages.for_request(request._request))

    def activate_language(self, language: str) -> None:
        """Answer in ``language`` from here on."""
        translation.activate(language)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers["Content-Language"] = translation.get_language()
        return response
