"""The tokens the app accepts, and the one check of their claims.

A signature proves who issued a token, not that its claims are of a shape the code reading
them expects: a token signed with the site's key (leaked, or minted by a careless service)
may name its user ``2.5`` or ``[2]``, or expire in the year 10**12. simplejwt passes such
claims on, to ``int()`` (which reads ``2.5`` as user 2), to the database (which fails) or to
``datetime`` (which overflows). Every token class of the app checks them first, so a claim
of any other shape than the site issues is a refused token (401), on the stream and the API.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Field
from django.utils.translation import gettext_lazy
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

# The NumericDate claims (RFC 7519): when present, a time a ``datetime`` can hold.
TIME_CLAIMS = ("exp", "iat", "nbf")
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()

# simplejwt's own messages (and translations).
INVALID = gettext_lazy("Token is invalid")
NO_USER_ID = gettext_lazy("Token contained no recognizable user identification")


class CheckedClaims(tokens.Token):
    """A token whose time and user claims are of the shape the site issues, or refused with
    ``TokenError`` as it is built, before anything reads them."""

    def verify(self) -> None:
        for claim in TIME_CLAIMS:
            if claim in self.payload and not is_time(self.payload[claim]):
                raise TokenError(INVALID)
        super().verify()
        user_id(self)


def is_time(value: Any) -> bool:
    """Tell whether ``value`` is a time in seconds since 1970 that a ``datetime`` can hold."""
    # type(), not isinstance(): True is an int too. NaN and infinities are out of range.
    return type(value) in (int, float) and 0 <= value <= LATEST


def user_id(token: tokens.Token) -> Any:
    """Return the value of ``USER_ID_FIELD`` that ``token`` names, or raise ``TokenError``.

    Exactly the shape simplejwt's ``for_user`` issues is accepted: the field's value as a
    string, written as the field writes it (``"2"``; not ``"2.0"``, ``"02"``, ``" 2"``,
    ``2.5`` or ``2``), and within the field's range, so the database is asked nothing it
    cannot answer.
    """
    claim = token.get(jwt_settings.USER_ID_CLAIM)
    if not isinstance(claim, str) or "\x00" in claim:
        raise TokenError(NO_USER_ID)
    field = user_id_field()
    try:
        value = field.to_python(claim)
        field.run_validators(value)
    except ValidationError as e:
        raise TokenError(NO_USER_ID) from e
    if str(value) != claim:
        raise TokenError(NO_USER_ID)
    return value


def user_id_field() -> Field[Any, Any]:
    """The user model's field that tokens name their user by (``USER_ID_FIELD``)."""
    opts = get_user_model()._meta
    name = jwt_settings.USER_ID_FIELD
    field = opts.pk if name == "pk" else opts.get_field(name)
    assert isinstance(field, Field)
    return field


class AccessToken(CheckedClaims, tokens.AccessToken):
    pass


class TokenAuthentication(JWTAuthentication):
    """simplejwt's authentication (``Authorization: Bearer``, the user's checks), accepting
    the app's access tokens, whose claims are checked, whatever ``AUTH_TOKEN_CLASSES`` says."""

    def get_validated_token(self, raw_token: bytes) -> tokens.Token:
        try:
            # simplejwt annotates the encoded token as a Token.
            return AccessToken(raw_token)  # type: ignore[arg-type]
        except TokenError as e:
            raise InvalidToken(e.args[0]) from e
