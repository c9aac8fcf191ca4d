"""Serve ``/static/`` as Django's ``ASGIStaticFilesHandler`` does, with a 404 for any path
that tries to leave the static directories.

Django's handler turns a missing file into a 404 but lets ``SuspiciousFileOperation`` (from
``/static/../manage.py``) through as a 500. Such a path names no static file, so it is a 404
like any other; Django's ``safe_join`` has already refused to open it. The handler skips the
site's middleware, so its files get the headers of Django's ``SecurityMiddleware`` here
(``X-Content-Type-Options``, ``Referrer-Policy``...), as every other response does.
"""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import FileResponse, Http404, HttpRequest, HttpResponseBase
from django.middleware.security import SecurityMiddleware


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's ASGI static files handler; a path outside the static files is not found."""

    def __init__(self, application: Any) -> None:
        super().__init__(application)
        # Reads its settings once, as it does in the site's middleware.
        self.security = SecurityMiddleware(_unused)

    def serve(self, request: HttpRequest) -> FileResponse:
        try:
            response = super().serve(request)
        except SuspiciousOperation as e:
            raise Http404("No such static file.") from e
        # It sets the headers on the response it is given, streaming or not (the stubs
        # name HttpResponse only).
        self.security.process_response(request, response)  # type: ignore[arg-type]
        return response


def _unused(request: HttpRequest) -> HttpResponseBase:
    raise AssertionError("SecurityMiddleware only adds headers here: it calls no view.")
