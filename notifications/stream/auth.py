"""Who is opening a stream: a session cookie, a Bearer access token, or ``?token=``."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from notifications.scrub import take_query_token
from notifications.stream.tickets import StreamTicket
from notifications.stream.tokens import (
    NO_USER_ID,
    AccessToken,
    TokenAuthentication,
    user_id,
    user_id_field,
)


class NotAuthenticated(Exception):
    """The request carries no usable credentials; ``str(e)`` says why, safe to show.

    The reason is a message of the catalogs in English, whichever thread refused: the
    answer translates it (:meth:`translated`) in the language of the request.
    """

    def translated(self) -> str:
        """Return the reason in the active language."""
        return gettext(str(self))


def stream_user(request: HttpRequest) -> Any:
    """Return the active user a stream request authenticates as, or raise ``NotAuthenticated``.

    Explicit credentials win over the session, and bad explicit credentials are refused
    rather than ignored. Runs the ORM: call it from sync code.
    """
    token = stream_token(request)
    if token is not None:
        return token_user(token)
    return session_user(request)


def stream_token(request: HttpRequest) -> Token | None:
    """Return the verified token of a ``Bearer`` header or ``?token=``; None without either.

    Checks signatures, expiry, types and the shape of claims only: no database, no ORM.
    """
    query_token = take_query_token(request)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise NotAuthenticated(BAD_HEADER)
        return _verified(raw.strip(), (AccessToken,))
    if query_token is not None:
        # Tickets first: they are what ``?token=`` is meant for, and each class tried costs
        # a signature check.
        return _verified(query_token, (StreamTicket, AccessToken))
    return None


def session_user(request: HttpRequest) -> Any:
    """Return the user of the request's session cookie, or raise ``NotAuthenticated``."""
    if not hasattr(request, "session"):
        # Served without SessionMiddleware (see notifications.asgi): read the cookie here.
        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    user = get_user(request)
    if not user.is_authenticated:
        raise NotAuthenticated(NO_CREDENTIALS)
    return user


def _verified(raw: str, token_classes: tuple[type[Token], ...]) -> Token:
    for token_class in token_classes:
        try:
            return token_class(raw)  # type: ignore[arg-type]  # simplejwt annotates str as Token
        except TokenError:
            continue
    raise NotAuthenticated(BAD_TOKEN)


def token_user(token: Token) -> Any:
    """Return the user ``token`` names, checked by simplejwt's rules. Runs the ORM."""
    try:
        return TokenAuthentication().get_user(token)
    except (AuthenticationFailed, InvalidToken) as e:
        # simplejwt's own AuthenticationFailed details are {"detail": ..., "code": ...}.
        detail = e.detail.get("detail", e.detail) if isinstance(e.detail, dict) else e.detail
        raise NotAuthenticated(str(detail)) from e


def token_user_pk(token: Token) -> Any | None:
    """Return the primary key ``token`` names, when its user id claim is the primary key
    (simplejwt's default); None otherwise, and then only :func:`token_user` can tell."""
    if not user_id_field().primary_key:
        return None
    try:
        return user_id(token)
    except TokenError as e:
        raise NotAuthenticated(str(NO_USER_ID)) from e


def check_token_user(token: Token, *, is_active: bool, password: str) -> None:
    """Apply simplejwt's checks of ``JWTAuthentication.get_user`` to a user row read elsewhere
    (without the ORM): active, and the password unchanged since the token was issued."""
    if jwt_settings.CHECK_USER_IS_ACTIVE and not is_active:
        raise NotAuthenticated(str(INACTIVE))
    if jwt_settings.CHECK_REVOKE_TOKEN and token.get(
        jwt_settings.REVOKE_TOKEN_CLAIM
    ) != get_md5_hash_password(password):
        raise NotAuthenticated(str(PASSWORD_CHANGED))


BAD_HEADER = gettext_noop("The Authorization header must be 'Bearer <access token>'.")
# DRF's own message, for the same refusal.
NO_CREDENTIALS = gettext_noop("Authentication credentials were not provided.")
BAD_TOKEN = gettext_noop("The token is invalid, expired or not valid for this stream.")
# simplejwt's own messages (and translations) for the same refusals.
NOT_FOUND = gettext_lazy("User not found")
INACTIVE = gettext_lazy("User is inactive")
PASSWORD_CHANGED = gettext_lazy("The user's password has been changed.")
