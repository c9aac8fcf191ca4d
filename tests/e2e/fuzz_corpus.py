"""Generated malformed requests for the fuzz test: seeded, so a failure replays exactly.

Each request is built from pieces an attacker reaches for: odd methods, paths with ``..``,
encoded and non-ASCII ids, forged cursors and tokens, bodies nested thousands deep or not
JSON at all, ``Last-Event-ID``s of every shape, foreign ``Host``s and ``X-Forwarded-For``s.
And tokens signed with the site's key whose claims no token of the site carries.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st
from rest_framework_simplejwt.state import token_backend

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND",
           "get", "FOO", "CONNECT"]  # fmt: skip
IDS = ["1", "0", "-1", "%D9%A1", "%EF%BC%91", "1.5", "1e3", "99999999999999999999999999",
       "9" * 300, "%00", "..", "%2e%2e", "abc", "1%20", "%F0%9F%92%A9", "1;2", "%27%20OR%201%3D1--",
       "%C0%AE", "1/../2"]  # fmt: skip
WEIRD_STRINGS = ["", " ", "\u0661\u0662", "-5", "1.5", "9" * 5000, "NaN", "null", "true",
                 "%00", "\u202e", "a" * 3000, "<script>", "1,2", "0x10", "\u00a0"]  # fmt: skip
HOSTS = ["127.0.0.1", "localhost", "evil.example", "127.0.0.1:1", "[::1]", "", "a" * 300,
         "localhost@evil", "127.0.0.1/../"]  # fmt: skip


@dataclass
class Fuzzed:
    method: str
    target: str
    host: str = "127.0.0.1"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def _b64(text: str) -> str:
    return quote(base64.b64encode(text.encode()).decode())


def _nested(rng: random.Random) -> bytes:
    depth = rng.choice([100, 1000, 5000, 50_000, 200_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return (opener * depth + ("1" + closer * depth if rng.random() < 0.5 else "")).encode()


def _body(rng: random.Random) -> tuple[bytes, str]:
    kind = rng.randrange(9)
    if kind == 0:
        return _nested(rng), "application/json"
    if kind == 1:
        return b"{not json", "application/json"
    if kind == 2:
        return json.dumps({"username": rng.choice(WEIRD_STRINGS), "password": "x"}).encode(), (
            "application/json"
        )
    if kind == 3:
        return b'{"refresh": NaN, "x": Infinity}', "application/json"
    if kind == 4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), rng.choice(
            ["application/json", "application/octet-stream", "text/plain"]
        )
    if kind == 5:
        return b"username=alice&password=wrong&%ff=%fe", "application/x-www-form-urlencoded"
    if kind == 6:
        return b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1", (
            "multipart/form-data; boundary=x"
        )
    if kind == 7:
        return json.dumps({"refresh": "eyJ" + "A" * rng.randrange(1, 500)}).encode(), (
            "application/json"
        )
    return json.dumps([rng.choice(WEIRD_STRINGS)] * 3).encode(), "application/json; charset=x"


def _auth(rng: random.Random, tokens: list[str]) -> dict[str, str]:
    choice = rng.randrange(7)
    if choice == 0:
        return {}
    if choice == 1:
        return {"Authorization": "Bearer " + rng.choice(tokens)}
    if choice == 2:
        token = rng.choice(tokens)
        return {"Authorization": "Bearer " + token[:-3] + "abc"}
    if choice == 3:
        return {"Authorization": rng.choice(["Basic Zm9vOmJhcg==", "Bearer", "Bearer  ", "x"])}
    if choice == 4:
        return {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoxfQ."}
    if choice == 5:
        return {"Cookie": "sessionid=" + rng.choice(["x", "%00", "a" * 500])}
    return {"Authorization": "Bearer " + rng.choice(WEIRD_STRINGS[:6])}


def stream_request(rng: random.Random, tokens: list[str]) -> Fuzzed:
    params = []
    if rng.random() < 0.5:
        name = rng.choice(["token", "%74oken", "TOKEN", "x=1;token"])
        params.append(f"{name}={quote(rng.choice(tokens + WEIRD_STRINGS[:4]))}")
    if rng.random() < 0.4:
        params.append(f"last_event_id={quote(rng.choice(WEIRD_STRINGS))}")
    headers = _auth(rng, tokens)
    if rng.random() < 0.5:
        headers["Last-Event-ID"] = quote(rng.choice(WEIRD_STRINGS), safe="")[:6000]
    method = "GET" if rng.random() < 0.7 else rng.choice(METHODS)
    query = ("?" + "&".join(params)) if params else ""
    host = rng.choice(HOSTS) if rng.random() < 0.15 else "127.0.0.1"
    return Fuzzed(method, "/api/events/" + query, host, headers)


def api_request(rng: random.Random, tokens: list[str]) -> Fuzzed:
    pk = rng.choice(IDS)
    path = rng.choice([
        "/api/notifications/", f"/api/notifications/{pk}/", f"/api/notifications/{pk}/read/",
        "/api/notifications/read-all/", "/api/notifications/unread-count/", "/api/token/",
        "/api/token/refresh/", "/api/events/ticket/", "/api/events/metrics/", "/api/schema/",
        "/api/docs/", f"/api/{pk}/", "/api/notifications/../token/", "/api/",
        "/api/notifications//", "/api/notifications/%2e%2e/",
    ])  # fmt: skip
    query = rng.choice([
        "", f"?cursor={_b64(rng.choice(['p=abc', 'p=1e5', 'p=', 'o=-1', 'r=x&p=1', 'p=1' * 99]))}",
        "?cursor=%%%", f"?unread={quote(rng.choice(WEIRD_STRINGS)[:50])}",
        f"?page_size={quote(rng.choice(WEIRD_STRINGS)[:50])}", "?format=xml", "?format=api",
        "?lang=zz", f"?version={rng.randrange(10**6)}", "?unread=true&unread=false",
    ])  # fmt: skip
    headers = _auth(rng, tokens)
    method = rng.choice(METHODS)
    body = b""
    if method.upper() in ("POST", "PUT", "PATCH") or rng.random() < 0.1:
        body, headers["Content-Type"] = _body(rng)
    if rng.random() < 0.2:
        headers["Accept"] = rng.choice(["text/html", "application/xml", "*/*;q=x", "\u00ff"])
    if rng.random() < 0.1:
        headers["X-Forwarded-For"] = rng.choice(["1.2.3.4", "x", "1.2.3.4, , ::1"])
    host = rng.choice(HOSTS) if rng.random() < 0.1 else "127.0.0.1"
    return Fuzzed(method, path + query, host, headers, body)


def page_request(rng: random.Random, tokens: list[str], csrf: str) -> Fuzzed:
    path = rng.choice([
        "/", "/accounts/login/", "/accounts/logout/", "/admin/login/", "/admin/",
        f"/orders/{rng.choice(IDS)}/", "/orders/", "/static/../manage.py",
        "/static/../../etc/passwd", "/static/%2e%2e/manage.py", "/static/..%2fmanage.py",
        "/static/notifications/client.js", "/static/notifications/../../manage.py",
        "/%2e%2e/%2e%2e/etc/passwd", "/admin/../api/token/", f"/{rng.choice(IDS)}",
        "/accounts/password_reset/", "/admin/auth/user/1/change/",
    ])  # fmt: skip
    method = rng.choice(["GET", "GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "XYZ"])
    headers = {}
    body = b""
    if method == "POST":
        username = rng.choice(["alice", "staff", "nobody", *WEIRD_STRINGS[:8]])
        fields = f"username={quote(username)}&password={quote(rng.choice(WEIRD_STRINGS)[:100])}"
        if rng.random() < 0.6:
            fields += f"&csrfmiddlewaretoken={csrf}"
            headers["Cookie"] = f"csrftoken={csrf}"
        body = (fields + rng.choice(["", "&next=//evil.example", "&next=%00", "&%ff=1"])).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Referer"] = "http://127.0.0.1/"
    host = rng.choice(HOSTS) if rng.random() < 0.1 else "127.0.0.1"
    return Fuzzed(method, path, host, headers, body)


def corpus(seed: int, count: int, tokens: list[str], csrf: str) -> Iterator[Fuzzed]:
    """Yield ``count`` malformed requests: about a third each to the stream, the API, pages."""
    rng = random.Random(seed)
    makers: list[Callable[[], Fuzzed]] = [
        lambda: stream_request(rng, tokens),
        lambda: api_request(rng, tokens),
        lambda: api_request(rng, tokens),
        lambda: page_request(rng, tokens, csrf),
    ]
    for _ in range(count):
        yield rng.choice(makers)()


# --- Validly signed tokens with hostile claims ---------------------------------------------

MISSING = object()  # a claim left out
FAR = 10**30
NAN, INFINITY = float("nan"), float("inf")
# The NumericDate claims, and the values of them a token may carry that no token the site
# issues does: each must be refused (401), never crash a server.
TIME_CLAIMS = ("exp", "iat", "nbf")
HOSTILE_TIMES: dict[str, Any] = {
    "1e20": 1e20, "-1e20": -1e20, "huge int": FAR, "negative": -1, "NaN": NAN,
    "Infinity": INFINITY, "string": "1e20", "digit string": "9999999999", "true": True,
    "null": None, "list": [1], "object": {}, "giant int": 10**400,
}  # fmt: skip


def hostile_user_ids(pk: int) -> dict[str, Any]:
    """User id claims naming (or nearly naming) the user ``pk`` in a shape the site never
    issues (it issues ``str(pk)``)."""
    return {
        "missing": MISSING, "float": pk + 0.5, "whole float": float(pk), "int": pk,
        "decimal string": f"{pk}.0", "list": [pk], "empty": "", "NaN string": "NaN",
        "true": True, "object": {}, "null": None, "huge int": FAR, "huge string": str(FAR),
        "negative": -pk, "negative string": f"-{pk}", "leading zero": f"0{pk}",
        "padded": f" {pk}", "superscript": "\u00b2", "Arabic-Indic digit": chr(0x660 + pk % 10),
        "NUL": f"{pk}\x00", "giant string": "9" * 5000,
    }  # fmt: skip


def signed(claims: dict[str, Any]) -> str:
    """Sign ``claims`` with the site's key, as its own tokens are (``MISSING`` values left
    out); NaN and Infinity are written as Python's JSON writes them."""
    return token_backend.encode({k: v for k, v in claims.items() if v is not MISSING})


def hostile_times() -> st.SearchStrategy[Any]:
    """Times no token of the site carries: not numbers, or outside year 1970 to 9999."""
    latest = 253_402_300_799
    return st.one_of(
        st.sampled_from(list(HOSTILE_TIMES.values())),
        st.integers().filter(lambda n: not 0 <= n <= latest),
        st.floats().filter(lambda x: not 0 <= x <= latest),
        st.text(max_size=20),
        st.lists(st.integers(), max_size=2),
    )


def hostile_user_id_values(pk: int, taken: set[str]) -> st.SearchStrategy[Any]:
    """User ids of any JSON shape, never the ``str(pk)`` of an existing user (``taken``)."""
    json = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=4,
    )
    return st.one_of(st.sampled_from(list(hostile_user_ids(pk).values())), json).filter(
        lambda value: not (isinstance(value, str) and value in taken)
    )


@st.composite
def hostile_claims(draw: st.DrawFn, base: dict[str, Any], taken: set[str]) -> dict[str, Any]:
    """``base`` (a valid token's claims) with one or more of its user id and time claims
    made hostile."""
    pk = int(base["user_id"])
    names = draw(st.sets(st.sampled_from(["user_id", *TIME_CLAIMS]), min_size=1))
    claims = dict(base)
    for name in sorted(names):
        strategy = hostile_user_id_values(pk, taken) if name == "user_id" else hostile_times()
        claims[name] = draw(strategy)
    return claims
