"""End every stream and free its connection slot before daphne shuts down (a deploy).

On SIGTERM, daphne cancels every request and stops its reactor, and the event loop stops
with it: a stream's own clean-up may not get to Redis in time, and its slot would count
against its user on every other process until the crash path frees it. Twisted runs its
"before shutdown" triggers while the loop still runs, and waits for the Deferred each
returns: this one tells every stream to end and frees all their slots in one round trip
(``Upkeep.stop``), then closes the open's PostgreSQL pool.

The app installs it as Django loads it (``NotificationsConfig.ready``) in a process whose
reactor daphne installed first (its own command line, ``python -m notifications.serve``),
whatever the site's ASGI application is; the trigger runs before daphne's own, which it
adds as it starts serving.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from twisted.internet import defer

from notifications.stream import hub, pg

_installed = False


def install() -> None:
    """Have the Twisted reactor of this process, if there is one, stop the streams before
    it shuts down. Once per process; never imports the reactor (importing it installs one).
    """
    global _installed
    reactor: Any = sys.modules.get("twisted.internet.reactor")
    if _installed or reactor is None:
        return
    reactor.addSystemEventTrigger("before", "shutdown", _stop_streams)
    _installed = True


def _stop_streams() -> defer.Deferred[None]:
    return defer.Deferred.fromFuture(asyncio.ensure_future(_stop()))


async def _stop() -> None:
    await hub.stop()
    # Closed before the loop ends: see ``pg.close``.
    await pg.close()
