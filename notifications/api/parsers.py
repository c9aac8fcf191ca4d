"""A JSON parser that refuses absurdly nested bodies with a 400 instead of crashing.

Python's ``json`` module recurses once per level of nesting, so a body of 50,000 ``[``
raises ``RecursionError``, which DRF's parser lets through as a 500. No body this API
accepts is nested more than a few levels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from django.utils.translation import gettext
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested beyond Python's recursion limit is a ``ParseError``."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as e:
            raise ParseError(gettext("JSON parse error - the body is nested too deeply.")) from e


# What the API views parse: DRF's defaults, with the JSON parser above.
DEFAULT_PARSER_CLASSES: Sequence[type[parsers.BaseParser]] = [
    JSONParser,
    parsers.FormParser,
    parsers.MultiPartParser,
]
