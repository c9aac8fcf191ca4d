"""The open's PostgreSQL pool on the event loop: one per loop, and an unreachable database
raised as Django's own error, after Django's pool timeout."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError, connection

from notifications.stream import pg
from tests.conftest import free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the pool serves PostgreSQL only"),
]


async def test_statements_run_on_one_pool_per_loop(user: Any) -> None:
    rows = await pg.fetchall("default", "SELECT id FROM auth_user WHERE id = %s", [user.pk])
    assert rows == [(user.pk,)]
    pool = await pg._pool("default")
    await pg.fetchall("default", "SELECT 1", [])
    assert await pg._pool("default") is pool


async def test_an_unreachable_database_is_djangos_operational_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings_dict = connection.settings_dict
    monkeypatch.setitem(settings_dict, "PORT", str(free_port()))
    options = {**settings_dict.get("OPTIONS", {}), "pool": {"timeout": 0.5}}
    monkeypatch.setitem(settings_dict, "OPTIONS", options)
    with pytest.raises(OperationalError):
        await pg.fetchall("default", "SELECT 1", [])


def test_the_pool_waits_as_long_as_djangos(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_dict = connection.settings_dict
    monkeypatch.setitem(settings_dict, "OPTIONS", {"pool": {"timeout": 3}})
    assert pg._timeout("default") == 3.0
    monkeypatch.setitem(settings_dict, "OPTIONS", {})
    assert pg._timeout("default") == pg.TIMEOUT_SECONDS
