"""The local push service answers pywebpush, a real Web Push client, as a browser vendor's
push service would: so a test of the server's sending that passes against it means the
server speaks the protocol, not merely that it agrees with the harness."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import requests
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from tests.push_service import PushService, b64url_encode, parse_authorization, public_key_bytes

CONTACT = "mailto:ops@example.com"


class VapidKeys(NamedTuple):
    """A VAPID key pair as the server's settings hold it: base64url raw private key and
    uncompressed public point."""

    private: str
    public: str


def vapid_keys() -> VapidKeys:
    vapid = Vapid()
    vapid.generate_keys()
    private = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeys(b64url_encode(private), b64url_encode(public_key_bytes(vapid.public_key)))


@pytest.fixture
def keys() -> VapidKeys:
    return vapid_keys()


@pytest.fixture
def service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


def push(info: dict[str, Any], keys: VapidKeys, **options: Any) -> requests.Response:
    """Send one notification-like payload the way the server does, ``options`` overriding."""
    arguments: dict[str, Any] = {
        "data": json.dumps({"id": 7, "title": "Order shipped"}),
        "vapid_private_key": keys.private,
        "vapid_claims": {"sub": CONTACT},
        "ttl": 60,
        "headers": {"Urgency": "high"},
        **options,
    }
    if arguments["vapid_claims"] is not None:  # pywebpush fills in the dict it is given.
        arguments["vapid_claims"] = dict(arguments["vapid_claims"])
    return webpush(subscription_info=info, **arguments)


def test_a_push_is_verified_decrypted_and_recorded(service: PushService, keys: VapidKeys) -> None:
    subscription = service.subscribe()

    response = push(subscription.info, keys)

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{service.origin}/message/")
    [delivery] = service.wait_for(1, subscription=subscription)
    assert delivery.json() == {"id": 7, "title": "Order shipped"}
    assert (delivery.ttl, delivery.urgency) == (60, "high")
    assert delivery.claims["sub"] == CONTACT
    assert delivery.claims["aud"] == service.origin
    assert delivery.vapid_key == keys.public
    assert service.refusals() == []


def test_the_subscription_has_the_browsers_shape(service: PushService) -> None:
    info = service.subscribe().info

    assert info["endpoint"].startswith(f"{service.origin}/push/")
    assert info["expirationTime"] is None
    assert len(info["keys"]["p256dh"]) == 87  # 65 bytes, unpadded base64url
    assert len(info["keys"]["auth"]) == 22  # 16 bytes
    assert service.subscribe().info["endpoint"] != info["endpoint"]


def test_only_the_expected_vapid_key_is_accepted(keys: VapidKeys) -> None:
    with PushService(expected_public_key=keys.public) as service:
        subscription = service.subscribe()

        assert push(subscription.info, keys).status_code == 201
        with pytest.raises(WebPushException) as refused:
            push(subscription.info, vapid_keys())

        assert refused.value.status_code == 403
        assert len(service.deliveries(subscription)) == 1
        assert [r.status for r in service.refusals(subscription)] == [403]


def test_a_tampered_token_is_refused(service: PushService, keys: VapidKeys) -> None:
    subscription = service.subscribe()
    claims = {"sub": CONTACT, "aud": service.origin, "exp": int(time.time()) + 3600}
    token, key = parse_authorization(Vapid.from_string(keys.private).sign(claims)["Authorization"])
    header, _, signature = token.split(".")
    forged = b64url_encode(json.dumps({**claims, "sub": "mailto:mallory@example.com"}).encode())

    def push_signed(authorization: str) -> requests.Response:
        headers = {"Authorization": authorization, "Urgency": "high"}
        return push(subscription.info, keys, vapid_claims=None, headers=headers)

    assert push_signed(f"vapid t={token}, k={key}").status_code == 201
    with pytest.raises(WebPushException) as refused:
        push_signed(f"vapid t={header}.{forged}.{signature}, k={key}")

    assert refused.value.status_code == 401
    assert "signature" in service.refusals(subscription)[0].reason


@pytest.mark.parametrize(
    ("options", "status"),
    [
        ({"ttl": 0, "headers": {"TTL": "soon"}}, 400),
        ({"headers": {"Urgency": "urgent"}}, 400),
        ({"content_encoding": "aesgcm"}, 400),
        ({"data": "x" * 5000}, 413),
        ({"vapid_claims": {"sub": CONTACT, "aud": "https://push.example.com"}}, 401),
        ({"vapid_claims": {"sub": CONTACT, "exp": int(time.time()) + 25 * 3600}}, 401),
        ({"vapid_claims": None}, 401),
    ],
    ids=["ttl", "urgency", "encoding", "size", "aud", "exp", "no-vapid"],
)
def test_refuses_what_a_real_push_service_refuses(
    service: PushService, keys: VapidKeys, options: dict[str, Any], status: int
) -> None:
    subscription = service.subscribe()

    with pytest.raises(WebPushException) as refused:
        push(subscription.info, keys, **options)

    assert refused.value.status_code == status
    assert [r.status for r in service.refusals(subscription)] == [status]
    assert service.deliveries() == []


def test_an_unknown_subscription_is_not_found(service: PushService, keys: VapidKeys) -> None:
    info = {**service.subscribe().info, "endpoint": f"{service.origin}/push/expired"}

    with pytest.raises(WebPushException) as refused:
        push(info, keys)

    assert refused.value.status_code == 404
    assert [r.subscription_id for r in service.refusals()] == ["expired"]


@pytest.mark.parametrize(("status", "retry_after"), [(410, None), (429, 30), (500, None)])
def test_a_programmed_answer_is_given_the_number_of_times_asked(
    service: PushService, keys: VapidKeys, status: int, retry_after: int | None
) -> None:
    subscription = service.subscribe()
    subscription.respond_with(status, times=2, retry_after=retry_after)

    for _ in range(2):
        with pytest.raises(WebPushException) as refused:
            push(subscription.info, keys)
        assert refused.value.status_code == status
        assert refused.value.retry_after == (None if retry_after is None else str(retry_after))

    assert push(subscription.info, keys).status_code == 201
    assert [r.status for r in service.refusals(subscription)] == [status, status]


def test_a_hung_subscription_holds_up_no_other(service: PushService, keys: VapidKeys) -> None:
    hung, other = service.subscribe(), service.subscribe()
    hung.hang()

    # The client gives up; the service keeps holding the request all the same.
    with pytest.raises(requests.exceptions.Timeout):
        push(hung.info, keys, timeout=0.5)
    service.wait_for(hanging=1)

    assert push(other.info, keys).status_code == 201
    assert len(service.deliveries(other)) == 1
    assert service.hanging(hung) == 1
    assert service.deliveries(hung) == []
