"""The project's settings as an operator meets them: every check in a process of its own,
with nothing but the environment it is given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECRET = "a-long-random-secret-key-for-these-tests-only-7f3k9q2x8v1m4n6b5c0z"
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": SECRET,
    "ALLOWED_HOSTS": "shop.example.com",
    "HTTPS": "1",
    "NUM_PROXIES": "1",
}


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python`` with ``args`` in the project, with only ``env`` set beyond the basics."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_reports_no_issue_for_the_documented_production_environment() -> None:
    result = run("manage.py", "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_names_what_is_missing_without_https() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k not in ("HTTPS", "NUM_PROXIES")}
    result = run("manage.py", "check", "--deploy", **env)
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr


@pytest.mark.parametrize("command", [["manage.py", "check"], ["manage.py", "migrate"]])
def test_without_a_secret_key_every_command_refuses_to_start_and_says_why(
    command: list[str],
) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run(*command, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_the_server_refuses_to_start_without_a_secret_key() -> None:
    result = run("-c", "import project.asgi", DEBUG="0", DJANGO_SETTINGS_MODULE="project.settings")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_bad_number_of_proxies_is_refused_by_name() -> None:
    result = run("manage.py", "check", NUM_PROXIES="one")
    assert result.returncode != 0
    assert "NUM_PROXIES must be a whole number" in result.stderr


PRINT_SETTINGS = """
import os, json
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
from django.conf import settings
print(json.dumps({
    name: getattr(settings, name, None)
    for name in ("CSRF_TRUSTED_ORIGINS", "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT",
                 "SECURE_REDIRECT_EXEMPT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                 "SECURE_HSTS_SECONDS")
} | {"METRICS_TOKEN": settings.NOTIFICATIONS["METRICS_TOKEN"]}))
"""


def settings_with(**env: str) -> dict[str, object]:
    result = run("-c", PRINT_SETTINGS, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_by_default_no_proxy_header_is_trusted_and_nothing_is_forced_to_https() -> None:
    values = settings_with()
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    assert not values["SECURE_SSL_REDIRECT"]
    assert not values["SESSION_COOKIE_SECURE"]
    assert values["CSRF_TRUSTED_ORIGINS"] == []
    assert values["METRICS_TOKEN"] is None


def test_behind_a_tls_proxy() -> None:
    values = settings_with(
        **PRODUCTION,
        CSRF_TRUSTED_ORIGINS="https://shop.example.com, https://admin.example.com",
        METRICS_TOKEN="scrape-me",
    )
    assert values["CSRF_TRUSTED_ORIGINS"] == [
        "https://shop.example.com",
        "https://admin.example.com",
    ]
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_REDIRECT_EXEMPT"] == ["^healthz$", "^metrics$"]
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["METRICS_TOKEN"] == "scrape-me"


PRINT_REDIS = """
import os, json
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
from django.conf import settings
layer, cache = settings.CHANNEL_LAYERS["default"], settings.CACHES["default"]
print(json.dumps({
    "layer": layer["BACKEND"].rsplit(".", 1)[-1],
    "hosts": layer.get("CONFIG", {}).get("hosts"),
    "slots": settings.NOTIFICATIONS["REDIS_URL"],
    "cache": cache.get("LOCATION"),
}))
"""
FIRST, SECOND = "redis://10.0.0.1:6379/0", "redis://10.0.0.2:6380/0"


@pytest.mark.parametrize(
    ("redis_url", "hosts"),
    [
        (f"{FIRST},{SECOND}", [FIRST, SECOND]),
        (f" {FIRST} , {SECOND} ", [FIRST, SECOND]),
        (FIRST, [FIRST]),
    ],
    ids=["two", "two with spaces", "one"],
)
def test_redis_url_names_the_layer_s_servers_and_the_first_keeps_slots_and_throttles(
    redis_url: str, hosts: list[str]
) -> None:
    """Several URLs shard the live routes (the layer's ``hosts``); connection slots and
    throttle counts need one place every process agrees on: the first server (the cache in
    its next database)."""
    result = run("-c", PRINT_REDIS, REDIS_URL=redis_url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "layer": "RedisPubSubChannelLayer",
        "hosts": hosts,
        "slots": FIRST,
        "cache": "redis://10.0.0.1:6379/1",
    }


def test_without_redis_url_one_process_keeps_everything_in_memory() -> None:
    result = run("-c", PRINT_REDIS)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "layer": "InMemoryChannelLayer",
        "hosts": None,
        "slots": None,
        "cache": None,
    }
