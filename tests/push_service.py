"""A local Web Push service for tests, doing what a browser vendor's push service does.

It takes push messages over plain HTTP (RFC 8030), checks them the way a real service does
(RFC 8292 VAPID: an ES256 token for this origin, signed by the key it names) and refuses the
rest with a real service's status codes, so the server's sending is proven against the
protocol rather than against itself. What it accepts it decrypts (RFC 8291 ``aes128gcm``)
with the subscription's private key, as only the user's browser could: a test reads the very
payload the browser would show.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

PUSH_PATH = "/push/"
# RFC 8030 section 7.2: a service must accept 4096 bytes of payload; the big ones take no more.
MAX_BODY_BYTES = 4096
# RFC 8292 section 2: a token expiring more than 24 hours ahead is refused.
MAX_TOKEN_SECONDS = 24 * 60 * 60
URGENCIES = ("very-low", "low", "normal", "high")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; a stray character is an error, not skipped."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def public_key_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """Return ``key`` as the uncompressed point that Web Push puts in ``p256dh`` and ``k``."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


class Refused(Exception):
    """A push message the service answers with an error ``status``, saying why."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass(frozen=True)
class _Answer:
    """What the service answers to one push message."""

    status: int
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """A push message the service accepted (201), decrypted. ``headers`` have lower-case
    names; ``claims`` are the VAPID token's, ``vapid_key`` its ``k``."""

    subscription_id: str
    headers: dict[str, str]
    claims: dict[str, Any]
    vapid_key: str
    plaintext: bytes
    ttl: int
    urgency: str

    def json(self) -> Any:
        return json.loads(self.plaintext)


@dataclass(frozen=True)
class Refusal:
    """A push message answered with an error, programmed or found wrong (``reason``)."""

    subscription_id: str
    status: int
    reason: str
    headers: dict[str, str]


@dataclass
class _Plan:
    """What a subscription answers instead of checking: a ``status``, or hang when None."""

    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    remaining: int | None = None


class Subscription:
    """One browser's subscription: its key pair and auth secret, as the browser keeps them
    to decrypt, and what the service is told to answer for it."""

    def __init__(self, subscription_id: str, endpoint: str) -> None:
        self.id = subscription_id
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = secrets.token_bytes(16)
        self._plan: _Plan | None = None
        self._lock = threading.Lock()

    @property
    def info(self) -> dict[str, Any]:
        """The browser's ``PushSubscription.toJSON()``: what a page posts to the server."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {
                "p256dh": b64url_encode(public_key_bytes(self.private_key.public_key())),
                "auth": b64url_encode(self.auth_secret),
            },
        }

    def respond_with(
        self, status: int, *, times: int | None = None, retry_after: int | None = None
    ) -> None:
        """Answer the next ``times`` push messages (every one when None) with ``status``
        unchecked, as a service does for a gone subscription (404, 410) or under load (429
        with ``Retry-After``, 5xx). Replaces any earlier ``respond_with`` or ``hang``."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        with self._lock:
            self._plan = _Plan(status, headers, times)

    def hang(self, *, times: int | None = None) -> None:
        """Accept the next ``times`` push messages (every one when None) and never answer
        until the service stops, to prove a hung service holds nothing else up. Replaces any
        earlier ``respond_with`` or ``hang``."""
        with self._lock:
            self._plan = _Plan(None, remaining=times)

    def _take_plan(self) -> _Plan | None:
        """Return what to answer to one push message instead of checking it, if anything."""
        with self._lock:
            plan = self._plan
            if plan is not None and plan.remaining is not None:
                plan.remaining -= 1
                if plan.remaining <= 0:
                    self._plan = None
            return plan


def parse_authorization(value: str) -> tuple[str, str]:
    """Return the token ``t`` and key ``k`` of ``Authorization: vapid t=..., k=...``."""
    scheme, _, params = value.strip().partition(" ")
    if scheme.lower() != "vapid":
        raise Refused(401, "Authorization is not a vapid token (RFC 8292)")
    fields = dict(part.strip().partition("=")[::2] for part in params.split(","))
    if not fields.get("t") or not fields.get("k"):
        raise Refused(401, "vapid Authorization needs both t and k")
    return fields["t"], fields["k"]


def verify_token(token: str, key: str) -> dict[str, Any]:
    """Return the claims of the ES256 JWT ``token`` once its signature checks out with ``key``
    (base64url, uncompressed P-256 point)."""
    try:
        point = b64url_decode(key)
        if len(point) != 65 or point[0] != 4:
            raise ValueError("k is not an uncompressed P-256 point")
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(b64url_decode(header_part))
        claims = json.loads(b64url_decode(claims_part))
        signature = b64url_decode(signature_part)
    except ValueError as e:
        raise Refused(401, f"malformed vapid credentials: {e}") from e
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        raise Refused(401, "the vapid token must be signed with ES256")
    if not isinstance(claims, dict) or len(signature) != 64:
        raise Refused(401, "the vapid token is not a JWT with claims and an ES256 signature")
    # A JWT carries r||s (RFC 7518 section 3.4); cryptography verifies DER.
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    signed = f"{header_part}.{claims_part}".encode("ascii")
    try:
        public_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as e:
        raise Refused(401, "the vapid token's signature does not match k") from e
    return claims


def check_claims(claims: dict[str, Any], audience: str) -> None:
    """Refuse a token meant for another push service, expired, too long-lived, or without
    a contact (RFC 8292 section 2)."""
    if claims.get("aud") != audience:
        raise Refused(401, f"vapid aud must be {audience}, not {claims.get('aud')!r}")
    exp = claims.get("exp")
    now = time.time()
    if not isinstance(exp, int) or not now < exp <= now + MAX_TOKEN_SECONDS:
        raise Refused(401, "vapid exp must be an integer in the next 24 hours")
    sub = claims.get("sub")
    if not isinstance(sub, str) or urlsplit(sub).scheme not in ("mailto", "https"):
        raise Refused(401, "vapid sub must be a mailto: or https: URL")


def check_message(headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """Return the message's TTL and urgency, refusing what RFC 8030 and 8291 do not allow."""
    ttl = headers.get("ttl", "")
    if not (ttl.isascii() and ttl.isdigit()):
        raise Refused(400, "TTL must be a non-negative integer (RFC 8030 section 5.2)")
    urgency = headers.get("urgency", "normal")
    if urgency not in URGENCIES:
        raise Refused(400, f"Urgency must be one of {', '.join(URGENCIES)}")
    if body and headers.get("content-encoding") != "aes128gcm":
        raise Refused(400, "Content-Encoding must be aes128gcm (RFC 8291)")
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, f"the payload is over {MAX_BODY_BYTES} bytes")
    return int(ttl), urgency


def decrypt(body: bytes, subscription: Subscription) -> bytes:
    """Decrypt as the subscribed browser does; a message it cannot read is refused."""
    if not body:
        return b""  # RFC 8030 allows a push message without payload.
    try:
        return bytes(
            http_ece.decrypt(
                body,
                private_key=subscription.private_key,
                auth_secret=subscription.auth_secret,
                version="aes128gcm",
            )
        )
    except (http_ece.ECEException, ValueError) as e:
        raise Refused(400, f"the payload does not decrypt for this subscription: {e}") from e


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # A hung request's thread must not keep the test process alive.

    def __init__(self, service: PushService) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service


class _Handler(BaseHTTPRequestHandler):
    """HTTP only: reading the request and writing the answer the service decides."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        # Past the limit the rest is left unread, so the connection cannot be reused.
        body = self.rfile.read(min(length, MAX_BODY_BYTES + 1))
        self.close_connection = length > MAX_BODY_BYTES
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.service._receive(self.path, headers, body)
        if answer is None:
            self.close_connection = True
            self.server.service._hold(self.path.removeprefix(PUSH_PATH))
            return
        self.send_response(answer.status)
        reason = answer.reason.encode()
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(reason)))
        self.end_headers()
        self.wfile.write(reason)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: every answer is recorded as a delivery or a refusal."""


class PushService:
    """The push service on a free loopback port, serving in a background thread.

    Use it as a context manager, or ``start()`` then ``stop()``. With
    ``expected_public_key`` (base64url, as the server's ``WEBPUSH_PUBLIC_KEY``) it refuses
    with 403 a message signed by any other VAPID key, as a real service does for a
    subscription made with another ``applicationServerKey``.
    """

    def __init__(self, expected_public_key: str | None = None) -> None:
        self.expected_public_key = expected_public_key
        self._server = _Server(self)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._subscriptions: dict[str, Subscription] = {}
        self._deliveries: list[Delivery] = []
        self._refusals: list[Refusal] = []
        self._hanging: list[str] = []
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        # Polling for shutdown every 50 ms keeps ``stop()`` quick between tests.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; hung requests are let go without an answer."""
        self._stopped.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> PushService:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def subscribe(self) -> Subscription:
        """Make a subscription, as a browser's ``pushManager.subscribe()`` does."""
        subscription_id = secrets.token_urlsafe(16)
        subscription = Subscription(subscription_id, f"{self.origin}{PUSH_PATH}{subscription_id}")
        with self._changed:
            self._subscriptions[subscription_id] = subscription
        return subscription

    def deliveries(self, subscription: Subscription | None = None) -> list[Delivery]:
        """The accepted messages, oldest first, of ``subscription`` or of all."""
        with self._changed:
            return [d for d in self._deliveries if _of(d.subscription_id, subscription)]

    def refusals(self, subscription: Subscription | None = None) -> list[Refusal]:
        """The messages answered with an error, oldest first, of ``subscription`` or of all."""
        with self._changed:
            return [r for r in self._refusals if _of(r.subscription_id, subscription)]

    def hanging(self, subscription: Subscription | None = None) -> int:
        """How many messages are being held unanswered now, of ``subscription`` or of all."""
        with self._changed:
            return sum(_of(s, subscription) for s in self._hanging)

    def wait_for(
        self,
        count: int = 0,
        timeout: float = 30,
        *,
        subscription: Subscription | None = None,
        refused: int = 0,
        hanging: int = 0,
    ) -> list[Delivery]:
        """Wait until at least ``count`` messages were delivered, ``refused`` refused and
        ``hanging`` are held (of ``subscription`` or of all); return the deliveries."""

        def reached() -> bool:
            return (
                len(self.deliveries(subscription)) >= count
                and len(self.refusals(subscription)) >= refused
                and self.hanging(subscription) >= hanging
            )

        with self._changed:
            assert self._changed.wait_for(reached, timeout), (
                f"{len(self.deliveries(subscription))} delivered, "
                f"{len(self.refusals(subscription))} refused, "
                f"{self.hanging(subscription)} hanging after {timeout} s"
            )
        return self.deliveries(subscription)

    def _receive(self, path: str, headers: dict[str, str], body: bytes) -> _Answer | None:
        """Decide the answer to one push message and record it; None: hang."""
        subscription_id = path.removeprefix(PUSH_PATH)
        subscription = self._subscriptions.get(subscription_id)
        try:
            if not path.startswith(PUSH_PATH) or subscription is None:
                raise Refused(404, "no such subscription (expired or unsubscribed)")
            plan = subscription._take_plan()
            if plan is not None and plan.status is None:
                return None
            if plan is not None and plan.status is not None:
                raise Refused(plan.status, "programmed", plan.headers)
            delivery = self._check(subscription, headers, body)
        except Refused as refusal:
            self._record(Refusal(subscription_id, refusal.status, refusal.reason, headers))
            return _Answer(refusal.status, refusal.reason, refusal.headers)
        self._record(delivery)
        location = f"{self.origin}/message/{secrets.token_urlsafe(16)}"
        return _Answer(201, "", {"Location": location, "TTL": str(delivery.ttl)})

    def _hold(self, subscription_id: str) -> None:
        """Keep a request unanswered until the service stops, counted as hanging meanwhile."""
        with self._changed:
            self._hanging.append(subscription_id)
            self._changed.notify_all()
        self._stopped.wait()
        with self._changed:
            self._hanging.remove(subscription_id)

    def _check(self, subscription: Subscription, headers: dict[str, str], body: bytes) -> Delivery:
        token, key = parse_authorization(headers.get("authorization", ""))
        claims = verify_token(token, key)
        check_claims(claims, self.origin)
        expected = self.expected_public_key
        if expected is not None and b64url_decode(key) != b64url_decode(expected):
            raise Refused(403, "the vapid key is not the one this subscription was made with")
        ttl, urgency = check_message(headers, body)
        plaintext = decrypt(body, subscription)
        return Delivery(subscription.id, headers, claims, key, plaintext, ttl, urgency)

    def _record(self, outcome: Delivery | Refusal) -> None:
        with self._changed:
            if isinstance(outcome, Delivery):
                self._deliveries.append(outcome)
            else:
                self._refusals.append(outcome)
            self._changed.notify_all()


def _of(subscription_id: str, subscription: Subscription | None) -> bool:
    return subscription is None or subscription.id == subscription_id
