"""``ALLOWED_HOSTS`` for the stream, which skips the middleware that checks it elsewhere.

The lean stream path (:mod:`notifications.asgi`) runs without ``CommonMiddleware``, whose
``request.get_host()`` is what enforces ``ALLOWED_HOSTS`` for every other view. The check
is a string comparison against a short list: nothing the lean path notices.
"""

from __future__ import annotations

import logging

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.translation import gettext_noop

DISALLOWED = gettext_noop("Invalid Host header.")

# Django's own logger for this, so that sites which silence it silence both.
security_logger = logging.getLogger("django.security.DisallowedHost")


def allowed(request: HttpRequest) -> bool:
    """Tell whether ``request``'s ``Host`` is in ``ALLOWED_HOSTS``, logging it when not."""
    try:
        request.get_host()
    except DisallowedHost as e:
        security_logger.warning("%s", e)
        return False
    return True
