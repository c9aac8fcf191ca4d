"""Who a request comes from, for throttles and log-in lockouts.

A client can write any ``X-Forwarded-For`` it likes, so the header is trusted only as far
as the site says proxies stand in front of it: DRF's own ``REST_FRAMEWORK["NUM_PROXIES"]``.
With 0 (and, unlike DRF, when it is unset) the header is ignored and the address is the
peer's. With ``n`` proxies, each appends the address it saw, so the entry the nearest proxy
added is the ``n``-th from the right: whatever the client wrote stands further left.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from rest_framework.settings import api_settings


def client_address(request: Any) -> str | None:
    """Return the address of the client that sent ``request`` (a Django or DRF request)."""
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = api_settings.NUM_PROXIES or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    # Fewer entries than proxies means a misconfigured NUM_PROXIES: take the leftmost, as DRF
    # does. An entry that is not an address (the client's text) counts as the peer.
    return _address(entries[-min(proxies, len(entries))]) or remote


def _address(text: str) -> str | None:
    """Return ``text`` as a normalised IP address, or None if it is not one."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None
