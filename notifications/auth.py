"""Who is opening a stream: a session cookie, a Bearer access token, or ``?token=``."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken, Token

from notifications.scrub import take_query_token
from notifications.tickets import StreamTicket


class NotAuthenticated(Exception):
    """The request carries no usable credentials; ``str(e)`` says why, safe to show."""


def stream_user(request: HttpRequest) -> Any:
    """Return the active user a stream request authenticates as, or raise ``NotAuthenticated``.

    Explicit credentials win over the session, and bad explicit credentials are refused
    rather than ignored. Runs the ORM: call it from sync code.
    """
    query_token = take_query_token(request)
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise NotAuthenticated("The Authorization header must be 'Bearer <access token>'.")
        return _token_user(raw.strip(), (AccessToken,))
    if query_token is not None:
        # Tickets first: they are what ``?token=`` is meant for, and each class tried costs
        # a signature check.
        return _token_user(query_token, (StreamTicket, AccessToken))
    if not hasattr(request, "session"):
        # Served without SessionMiddleware (see notifications.asgi): read the cookie here.
        engine = import_module(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    user = get_user(request)
    if not user.is_authenticated:
        raise NotAuthenticated("Authentication credentials were not provided.")
    return user


def _token_user(raw: str, token_classes: tuple[type[Token], ...]) -> Any:
    token = None
    for token_class in token_classes:
        try:
            token = token_class(raw)  # type: ignore[arg-type]  # simplejwt annotates str as Token
            break
        except TokenError:
            continue
    if token is None:
        raise NotAuthenticated("The token is invalid, expired or not valid for this stream.")
    try:
        return JWTAuthentication().get_user(token)
    except (AuthenticationFailed, InvalidToken) as e:
        raise NotAuthenticated(str(e.detail)) from e
