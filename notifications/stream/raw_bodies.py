"""Leave request bodies to the application under daphne, so a malformed form gets its 400.

Twisted's ``Request.requestReceived`` parses a ``POST``'s ``multipart/form-data`` body into
``request.args`` before daphne sees the request, and answers one it cannot parse (no
boundary, a boundary that is not ASCII, a body that does not match it) with a bare
``400 Bad Request`` and no body of its own, cutting the connection. daphne never reads
those ``args``: it hands the raw body to the application, where Django and DRF parse it and
refuse it their way (under ``/api/``, a JSON ``detail``). Parsing it twice also costs
memory for every large upload.

:class:`RawBodyRequest` is daphne's request with Twisted's own switch for that parsing
turned off (``parsePOSTFormSubmission``, a public constructor argument of
``twisted.web.http.Request`` since Twisted 25.5). :func:`install` makes daphne build every
request of the process with it: daphne's HTTP factory reads its request class from
``daphne.http_protocol.WebRequest`` each time it builds a connection's protocol, and that
name is the one thing set here, before the first connection, by ``python -m
notifications.serve`` as it starts and by ``notifications.asgi.with_lean_stream`` as
daphne's own command line loads the site. Nothing of Twisted's request handling is copied
or patched; a later daphne could only move where it reads that class from, which
``tests/e2e/test_malformed_forms.py`` would notice under either command.
"""

from __future__ import annotations

from typing import Any

from daphne import http_protocol


class RawBodyRequest(http_protocol.WebRequest):
    """daphne's request, without Twisted's parsing of form bodies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)


def install() -> None:
    """Have daphne build its requests as :class:`RawBodyRequest` from now on; idempotent."""
    if not issubclass(http_protocol.WebRequest, RawBodyRequest):
        http_protocol.WebRequest = RawBodyRequest
