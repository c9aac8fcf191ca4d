"""Stream tickets and access tokens minted from ``(user id, password hash)``, without the
database."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _user_model() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model()


def mint(user_id: int, password_hash: str) -> str:
    """Return a fresh stream ticket of ``user_id``, as ``POST /api/events/ticket/`` would."""
    from notifications.stream.tickets import StreamTicket

    user = _user_model()(pk=user_id, password=password_hash, is_active=True)
    return str(StreamTicket.for_user(user))


def mint_access(user_id: int, password_hash: str) -> str:
    """Return a fresh access token of ``user_id``, as ``POST /api/token/`` would."""
    from rest_framework_simplejwt.tokens import AccessToken

    user = _user_model()(pk=user_id, password=password_hash, is_active=True)
    return str(AccessToken.for_user(user))


Credentials = tuple[dict[str, str], dict[str, str]]


def credentials(auth: str, user_id: int, password_hash: str) -> Credentials:
    """Return the query parameters and headers a stream of ``user_id`` opens with."""
    if auth == "bearer":
        return {}, {"Authorization": f"Bearer {mint_access(user_id, password_hash)}"}
    return {"token": mint(user_id, password_hash)}, {}
