"""Refresh tokens that follow their user: ``POST /api/token/`` and ``POST /api/token/refresh/``.

simplejwt's refresh looks at the user only to see that they are active, and fails with a 500
when they were deleted. Here a refresh token carries, besides the user, two claims of the
moment it was issued: the user's password (as simplejwt's ``CHECK_REVOKE_TOKEN`` puts it in
access tokens) and their revocation count (``StreamCounter.revocations``, counted when the
user logs out, changes their password, is deactivated or has their streams closed by
staff). A refresh is refused (401) once the user is gone or inactive, or either claim no
longer matches; else it answers an access token and a new refresh token with the same claims
(rotation).

Claims rather than simplejwt's blacklist app: they need no extra app, table or migration in a
site that embeds this one, log-out already counts revocations for the streams, and one
revocation ends every refresh token of the user at once, which a blacklist can only do for the
tokens it was told about. The price: a refresh token replaced by rotation stays valid until it
expires or its user's count changes.
"""

from __future__ import annotations

from typing import Any, Self, cast

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy
from drf_spectacular.contrib import rest_framework_simplejwt as jwt_schema
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import serializers, tokens
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.utils import get_md5_hash_password

from notifications import selectors
from notifications.stream.auth import NOT_FOUND, PASSWORD_CHANGED
from notifications.stream.tokens import AccessToken, CheckedClaims, user_id

# The user's revocation count when the token was issued.
REVOCATIONS_CLAIM = "revocations"

REVOKED = gettext_lazy("The token has been revoked: its user signed out after it was issued.")


class RefreshToken(CheckedClaims, tokens.RefreshToken):
    """simplejwt's refresh token, with checked claims, the password and revocation claims,
    and the app's access tokens."""

    access_token_class = AccessToken

    @classmethod
    def for_user(cls, user: Any) -> Self:
        token = cast(Self, super().for_user(user))
        token[jwt_settings.REVOKE_TOKEN_CLAIM] = get_md5_hash_password(user.password)
        token[REVOCATIONS_CLAIM] = selectors.revocations_of(user.pk)
        return token


class TokenObtainPairSerializer(serializers.TokenObtainPairSerializer):
    token_class = RefreshToken


class TokenRefreshSerializer(serializers.TokenRefreshSerializer):
    """Refresh only for the user the token was issued to, as they were then; rotate always,
    whatever ``ROTATE_REFRESH_TOKENS`` says, so that a site gets this without settings."""

    token_class = RefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        # A token simplejwt refuses raises TokenError, which its view answers with a 401.
        refresh = self.token_class(attrs["refresh"])
        self.check_holder(refresh)
        data = {"access": str(refresh.access_token)}
        refresh.set_jti()
        refresh.set_exp()
        refresh.set_iat()
        data["refresh"] = str(refresh)
        return data

    def check_holder(self, refresh: tokens.Token) -> None:
        """Raise ``AuthenticationFailed`` unless the user ``refresh`` names still exists, may
        sign in, and has neither changed their password nor been revoked since it was issued."""
        user = (
            get_user_model()
            ._default_manager.filter(**{jwt_settings.USER_ID_FIELD: user_id(refresh)})
            .first()
        )
        if user is None:
            raise AuthenticationFailed(NOT_FOUND, "user_not_found")
        if not jwt_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            )
        if refresh.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(PASSWORD_CHANGED, "password_changed")
        if refresh.get(REVOCATIONS_CLAIM) != selectors.revocations_of(user.pk):
            raise AuthenticationFailed(REVOKED, "token_revoked")


# The schema of the app's token classes: drf-spectacular describes simplejwt's own classes,
# not subclasses of them.
class TokenAuthenticationScheme(jwt_schema.SimpleJWTScheme):
    target_class = "notifications.stream.tokens.TokenAuthentication"


class TokenObtainPairSerializerExtension(jwt_schema.TokenObtainPairSerializerExtension):
    target_class = "notifications.api.tokens.TokenObtainPairSerializer"
