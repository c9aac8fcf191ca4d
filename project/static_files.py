"""Serve ``/static/`` as Django's ``ASGIStaticFilesHandler`` does, with a 404 for any path
that tries to leave the static directories.

Django's handler turns a missing file into a 404 but lets ``SuspiciousFileOperation`` (from
``/static/../manage.py``) through as a 500. Such a path names no static file, so it is a 404
like any other; Django's ``safe_join`` has already refused to open it.
"""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import FileResponse, Http404, HttpRequest


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Django's ASGI static files handler; a path outside the static files is not found."""

    def serve(self, request: HttpRequest) -> FileResponse:
        try:
            return super().serve(request)
        except SuspiciousOperation as e:
            raise Http404("No such static file.") from e
