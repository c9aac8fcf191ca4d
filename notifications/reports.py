"""Error reports (Django's 500 page with ``DEBUG``, the emails to ``ADMINS``) without tokens.

Django's own filter hides settings and headers whose names look secret (``Authorization``,
``Cookie``), but shows the query string, the URL, ``Referer`` and every ``GET`` parameter
as they came: ``?token=<jwt>`` in full. Point Django at these two classes::

    DEFAULT_EXCEPTION_REPORTER = "notifications.reports.ScrubbingExceptionReporter"
    DEFAULT_EXCEPTION_REPORTER_FILTER = "notifications.reports.ScrubbingExceptionReporterFilter"
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from notifications.scrub import SCRUBBED, is_secret_name, scrub


class ScrubbingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, and every request header, form field and local string scrubbed."""

    def get_safe_request_meta(self, request: HttpRequest) -> dict[str, Any]:
        meta = super().get_safe_request_meta(request)
        return {name: _scrubbed(value) for name, value in meta.items()}

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        parameters = super().get_post_parameters(request)
        if not parameters:
            return parameters
        cleansed = parameters.copy()
        for name in cleansed:
            cleansed[name] = SCRUBBED if is_secret_name(name) else _scrubbed(cleansed[name])
        return cleansed

    def cleanse_special_types(self, request: HttpRequest | None, value: Any) -> Any:
        return _scrubbed(super().cleanse_special_types(request, value))


class ScrubbingExceptionReporter(ExceptionReporter):
    """Django's reporter, with the URL and the ``GET`` parameters scrubbed."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if "request_GET_items" in data:
            data["request_GET_items"] = [
                (name, SCRUBBED if is_secret_name(name) else _scrubbed(value))
                for name, value in data["request_GET_items"]
            ]
        if "request_insecure_uri" in data:
            data["request_insecure_uri"] = scrub(data["request_insecure_uri"])
        return data


def _scrubbed(value: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value
