"""The JSON error every refusal of the app answers with, and the database-down answer.

The stream and the API share the body (``{"detail": ...}``) and the answer to a database
that cannot be reached: a 503 with ``Retry-After``, a passing outage that clients retry.
"""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.utils.translation import gettext, gettext_noop

logger = logging.getLogger(__name__)

# In English; answers translate it in the language of the request.
DATABASE_UNAVAILABLE = gettext_noop("The database is unavailable; try again shortly.")
# Seconds a client waits before it retries a request that found the database unreachable.
RETRY_AFTER_OUTAGE = "5"


def error(status: int, detail: str, **headers: str) -> JsonResponse:
    """Return ``{"detail": detail}`` with ``status``; ``Retry_After`` names ``Retry-After``."""
    response = JsonResponse({"detail": detail}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def database_unavailable(e: Exception) -> JsonResponse:
    """Answer a request that found the database unreachable: a 503 that says when to retry."""
    logger.warning("The database is unavailable: %r", e)
    return error(503, gettext(DATABASE_UNAVAILABLE), Retry_After=RETRY_AFTER_OUTAGE)
