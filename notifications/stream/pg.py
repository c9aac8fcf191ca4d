"""Native async PostgreSQL for the reads of an open: no thread hop, no ORM.

Django's ORM is sync: from async code every query is handed to a thread and back, and a
storm of opens after a deploy pays that hand-off (and Django's connection handling around
it) once per stream. The open's one read instead goes through a small psycopg
``AsyncConnectionPool`` on the event loop itself, connected with the very parameters of
Django's connection (so tests reach the test database).

The pool is small on purpose (``MAX_CONNECTIONS``): the read is one short statement, and
it comes on top of Django's own pool. One pool per event loop, as psycopg binds a pool to
the loop it was opened on; a process serving streams has one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from django.db import InterfaceError, OperationalError, connections
from django.db.utils import load_backend

try:
    import psycopg
    from psycopg_pool import AsyncConnectionPool
except ImportError:  # The postgres extra is not installed: the ORM path serves every database.
    AsyncConnectionPool = None  # type: ignore[assignment,misc]

logger = logging.getLogger(__name__)

MIN_CONNECTIONS = 1
MAX_CONNECTIONS = 2
# Seconds an open waits for a connection of the pool before it fails (503, retried by its
# client), unless Django's own pool of the database sets its ``timeout``: one wait for both.
TIMEOUT_SECONDS = 10.0

_pools: dict[asyncio.AbstractEventLoop, Any] = {}
_opening: dict[asyncio.AbstractEventLoop, asyncio.Future[Any]] = {}


def available(alias: str) -> bool:
    """Tell whether the database ``alias`` can be read here without the ORM.

    Asked of the backend's class: ``connections[alias]`` in a stream's task would make a
    connection object of the task's own (Django keeps them per async context) and keep it,
    about 3 KB, for as long as the stream lives.
    """
    if AsyncConnectionPool is None:
        return False
    backend = load_backend(connections.settings[alias]["ENGINE"])
    return bool(backend.DatabaseWrapper.vendor == "postgresql")


async def fetchall(alias: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run one statement on ``alias`` through this loop's pool; return its rows.

    The driver's errors of an unreachable database (a pool that cannot connect in time
    included) are raised as Django's, which every caller already answers.
    """
    pool = await _pool(alias)
    try:
        async with pool.connection() as connection:
            cursor = await connection.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cursor.fetchall()
            return rows
    except psycopg.OperationalError as e:
        raise OperationalError(str(e)) from e
    except psycopg.InterfaceError as e:
        raise InterfaceError(str(e)) from e


async def _pool(alias: str) -> Any:
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is not None:
        return pool
    opening = _opening.get(loop)
    if opening is None:
        _forget_closed_loops()
        opening = _opening[loop] = asyncio.ensure_future(_open(alias))
        opening.add_done_callback(lambda _: _opening.pop(loop, None))
    pool = await asyncio.shield(opening)
    _pools[loop] = pool
    return pool


async def _open(alias: str) -> Any:
    assert AsyncConnectionPool is not None
    params = dict(connections[alias].get_connection_params())
    # Django's own adapters and cursor class are for its sync connections.
    for name in ("context", "cursor_factory"):
        params.pop(name, None)
    pool = AsyncConnectionPool(
        "",
        kwargs={**params, "autocommit": True},
        min_size=MIN_CONNECTIONS,
        max_size=MAX_CONNECTIONS,
        timeout=_timeout(alias),
        name="notifications-open",
        open=False,
    )
    await pool.open()
    return pool


def _timeout(alias: str) -> float:
    pool = connections[alias].settings_dict.get("OPTIONS", {}).get("pool")
    timeout = pool.get("timeout") if isinstance(pool, dict) else None
    return TIMEOUT_SECONDS if timeout is None else float(timeout)


def _forget_closed_loops() -> None:
    """Drop the pools of loops that are gone (tests run a loop each), closing their
    connections: a closed loop can no longer close them the usual way."""
    for loop in [loop for loop in _pools if loop.is_closed()]:
        _finish(_pools.pop(loop))


def close_now() -> None:
    """Close the idle connections of every pool at once, from sync code, whatever became of
    their loops: for a process that ends, or a test run before it drops its database."""
    while _pools:
        _finish(_pools.popitem()[1])


def _finish(pool: Any) -> None:
    # The pool's idle connections (psycopg_pool keeps them in ``_pool``), closed by libpq.
    for connection in list(getattr(pool, "_pool", ())):
        with contextlib.suppress(Exception):
            connection.pgconn.finish()


async def close() -> None:
    """Close this loop's pool, if it has one: a server stopping, a test's loop ending.

    Before the loop ends, not after: a psycopg pool worker that is cancelled while it runs
    a task (opening a connection, say) catches the cancellation and goes back to waiting for
    work, so a loop that cancels its tasks on the way out would wait for it forever.
    """
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.close()
