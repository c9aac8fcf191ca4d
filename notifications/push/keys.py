"""The site's VAPID keys (RFC 8292): made by ``generate_vapid_keys``, checked at start-up.

Both keys are written as browsers and ``PushManager.subscribe()`` take them: base64url
without padding, the private key as its 32-byte scalar and the public key as its 65-byte
uncompressed P-256 point. A pair that does not parse, or whose halves do not belong
together, is refused by a system check (``notifications.E009``): pushes signed with the
wrong key would be refused by every push service, one by one, long after the deploy.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.checks import Error, register

from notifications.conf import conf

# cryptography comes with the ``[push]`` extra: imported where keys are made or checked, so
# a site without Web Push needs none of it.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

KEYS = ("PRIVATE_KEY", "PUBLIC_KEY", "SUBJECT")


class InvalidKeys(ValueError):
    """VAPID settings that cannot sign a push."""


@dataclass(frozen=True)
class VapidKeys:
    private_key: str
    public_key: str
    subject: str


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding; raise ``ValueError`` otherwise."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError("not base64url text")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def generate() -> VapidKeys:
    """Make a new key pair (the subject is the operator's to give)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    private = ec.generate_private_key(ec.SECP256R1())
    return VapidKeys(_private_raw(private), _public_raw(private.public_key()), "")


def configured() -> VapidKeys | None:
    """Return the site's keys, or None when Web Push is off (no ``WEBPUSH``)."""
    spec = conf.WEBPUSH
    if spec is None or not all(spec.get(key) for key in KEYS):
        return None  # an incomplete setting: the check says so at start-up
    return VapidKeys(spec["PRIVATE_KEY"], spec["PUBLIC_KEY"], spec["SUBJECT"])


def validate(spec: Any) -> VapidKeys:
    """Return the keys of a ``WEBPUSH`` setting; raise ``InvalidKeys`` saying what is wrong."""
    if not isinstance(spec, dict) or set(spec) != set(KEYS):
        raise InvalidKeys(f"must be a dict with exactly {', '.join(KEYS)}.")
    if not all(isinstance(spec[key], str) for key in KEYS):
        raise InvalidKeys("each of its values must be a string.")
    keys = VapidKeys(spec["PRIVATE_KEY"], spec["PUBLIC_KEY"], spec["SUBJECT"])
    if not keys.subject.startswith(("mailto:", "https://")):
        raise InvalidKeys("SUBJECT must be a mailto: or https: URL (RFC 8292).")
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        private = ec.derive_private_key(int.from_bytes(_raw(keys.private_key, 32)), ec.SECP256R1())
    except ValueError as e:
        raise InvalidKeys(f"PRIVATE_KEY is not a P-256 private key in base64url: {e}") from e
    if _public_raw(private.public_key()) != keys.public_key.rstrip("="):
        raise InvalidKeys("PUBLIC_KEY is not the public half of PRIVATE_KEY.")
    return keys


def _raw(text: str, length: int) -> bytes:
    raw = unb64url(text)
    if len(raw) != length:
        raise ValueError(f"{len(raw)} bytes, not {length}")
    return raw


def _private_raw(private: ec.EllipticCurvePrivateKey) -> str:
    return b64url(private.private_numbers().private_value.to_bytes(32, "big"))


def _public_raw(public: ec.EllipticCurvePublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


@register()
def check_keys(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[Error]:
    """Refuse a ``WEBPUSH`` setting whose keys could not sign a push."""
    user_settings = getattr(settings, "NOTIFICATIONS", {})
    spec = user_settings.get("WEBPUSH") if isinstance(user_settings, dict) else None
    if not spec:
        return []
    try:
        validate(spec)
    except InvalidKeys as e:
        return [
            Error(
                f"NOTIFICATIONS['WEBPUSH'] {e}",
                hint="Make a pair with `manage.py generate_vapid_keys`.",
                id="notifications.E009",
            )
        ]
    return []
