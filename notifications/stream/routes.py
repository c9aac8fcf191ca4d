"""This process's per-user routes: one channel-layer subscription per user with a stream here.

A publish to a few users goes on each user's route (``messages.route``), so it reaches only
the processes holding a stream of that user, and a cluster's cost per notification does not
grow with its number of processes (``docs/PERFORMANCE.md``). The process joins a user's route
with the user's first stream here and leaves it with the last.

An open must not cost a Redis round trip of its own: the joins and leaves asked for during
one turn of the event loop are made together (``stream.groups``: one ``SUBSCRIBE`` per Redis
server), then one probe per Redis server, sent through
one of the routes just joined there, proves them all (a server runs a connection's commands
in order, so once the probe comes back, every route joined before it is subscribed). An open
waits for that proof before it reads the database, so a notification is either committed
before the read, and read, or published after the route is live, and heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from channels.layers import BaseChannelLayer

from notifications.conf import conf
from notifications.delivery import messages
from notifications.stream.groups import Groups
from notifications.stream.inboxes import Inboxes

logger = logging.getLogger(__name__)

# Seconds before a route probe that has not come back is sent again (then twice as long,
# up to POLL_SECONDS): a probe can overtake the subscription it proves when the two travel on
# different connections to the same Redis, and is then lost.
PROBE_RETRY = 0.05
# The longest one join or leave may take before the batch is tried again.
CALL_TIMEOUT = 5.0


@dataclass
class _Proof:
    """Routes joined together, and for each server whose probe has not come back yet, the
    user whose route carries it."""

    users: set[int]
    waiting: dict[int, int]
    retry: float = PROBE_RETRY


class Routes:
    """Join and leave the routes of the users with streams in this process.

    ``wanted``: users with a stream here; ``joined``: their routes the layer subscribed;
    ``proven``: those a probe came back through. A user whose stream stopped waiting for the
    proof (the hub's ``STARTUP_WAIT``) is told when it comes (``messages.route_ready``).
    With ``ROUTED_FANOUT`` 0 nothing is routed, and nothing is joined.
    """

    def __init__(self, layer: BaseChannelLayer, inboxes: Inboxes) -> None:
        self.layer = layer
        self.inboxes = inboxes
        self.enabled = conf.ROUTED_FANOUT > 0
        self.groups = Groups(layer)
        self.channel: str | None = None
        self.wanted: set[int] = set()
        self.joined: set[int] = set()
        self.proven: set[int] = set()
        self.late: set[int] = set()
        # Users wanted or dropped since the last sync.
        self.changed: set[int] = set()
        self.waiters: dict[int, list[asyncio.Future[None]]] = {}
        self.proofs: dict[int, _Proof] = {}
        self.probes_sent = 0
        self._sync: asyncio.Task[None] | None = None
        self._scheduled = False
        # Probe sends under way, kept referenced until they are done.
        self._sending: set[asyncio.Task[None]] = set()

    def attach(self, channel: str) -> None:
        """Deliver routes to the hub's ``channel`` from now on (a new one: join them again)."""
        if channel != self.channel:
            self.channel = channel
            self.joined.clear()
            self.proven.clear()
            self.changed |= self.wanted
            self._schedule()

    def want(self, user_id: int) -> None:
        if self.enabled:
            self.wanted.add(user_id)
            self.changed.add(user_id)
            self._schedule()

    def drop(self, user_id: int) -> None:
        if self.enabled:
            self.wanted.discard(user_id)
            self.late.discard(user_id)
            self.changed.add(user_id)
            self._schedule()

    def is_proven(self, user_id: int) -> bool:
        return not self.enabled or user_id in self.proven

    async def wait(self, user_id: int) -> None:
        """Wait until ``user_id``'s route is proven. Cancelled first (the hub's wait is
        bounded), the user's streams are told when it is."""
        if self.is_proven(user_id):
            return
        future = asyncio.get_running_loop().create_future()
        waiters = self.waiters.setdefault(user_id, [])
        waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            self.late.add(user_id)
            raise
        finally:
            if future in waiters:
                waiters.remove(future)
            if not waiters and self.waiters.get(user_id) is waiters:
                del self.waiters[user_id]

    def on_probe(self, message: messages.Message) -> None:
        """A route probe came back: once every server's has, the batch's routes are proven."""
        proof = self.proofs.get(message["n"])
        if proof is None:
            return
        proof.waiting.pop(message["shard"], None)
        if proof.waiting:
            return
        del self.proofs[message["n"]]
        for user_id in proof.users & self.joined:
            self.proven.add(user_id)
            for future in self.waiters.pop(user_id, ()):
                if not future.done():
                    future.set_result(None)
            if user_id in self.late:
                self.late.discard(user_id)
                # Its streams read the database before the route was live: once more.
                self.inboxes.tell(user_id, messages.route_ready())

    def _schedule(self) -> None:
        """Sync the routes on the next turn of the loop, once for all changes of this one."""
        if self._scheduled or self.channel is None or not self.changed:
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._start_sync)

    def _start_sync(self) -> None:
        self._scheduled = False
        # A sync under way goes on until nothing is left to change, this turn's changes too.
        if self._sync is None or self._sync.done():
            self._sync = asyncio.ensure_future(self._run_sync())

    async def _run_sync(self) -> None:
        """Join and leave until the joined routes are the wanted ones; on a failure (the
        hub reports outages), try again every ``POLL_SECONDS``."""
        while self.changed:
            changed, self.changed = self.changed, set()
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    await self._leave({u for u in changed if u not in self.wanted} & self.joined)
                    await self._join({u for u in changed if u in self.wanted} - self.joined)
            except Exception as e:
                self.changed |= changed
                logger.debug("Could not update this process's routes (%r): trying again.", e)
                await asyncio.sleep(conf.POLL_SECONDS)

    async def _leave(self, users: set[int]) -> None:
        if not users:
            return
        assert self.channel is not None
        await self.groups.leave([messages.route(user_id) for user_id in users], self.channel)
        self.joined -= users
        self.proven -= users
        # A probe of an earlier join must not prove a later one.
        for proof in self.proofs.values():
            proof.users -= users

    async def _join(self, users: set[int]) -> None:
        if not users:
            return
        assert self.channel is not None
        await self.groups.join([messages.route(user_id) for user_id in users], self.channel)
        self.joined |= users
        self._prove(users)

    def _prove(self, users: set[int]) -> None:
        """Send a probe through a route of ``users`` on each server that carries one."""
        self.probes_sent += 1
        waiting: dict[int, int] = {}
        for user_id in users:
            waiting.setdefault(self.groups.shard_of(messages.route(user_id)), user_id)
        self.proofs[self.probes_sent] = _Proof(users, waiting)
        self._send_probes(self.probes_sent)

    def _send_probes(self, n: int) -> None:
        """Send proof ``n``'s probes now, and again later unless they came back."""
        proof = self.proofs.get(n)
        if proof is not None and not proof.users:
            del self.proofs[n]  # Every user of it left.
            proof = None
        if proof is None:
            return
        task = asyncio.ensure_future(self._probe(n, dict(proof.waiting)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)
        asyncio.get_running_loop().call_later(proof.retry, self._send_probes, n)
        proof.retry = min(proof.retry * 2, conf.POLL_SECONDS)

    async def _probe(self, n: int, waiting: dict[int, int]) -> None:
        for shard, user_id in waiting.items():
            try:
                async with asyncio.timeout(CALL_TIMEOUT):
                    await self.layer.group_send(
                        messages.route(user_id), messages.route_probe(n, shard)
                    )
            except Exception as e:
                logger.debug("A route probe failed (%r): it is sent again.", e)

    async def close(self) -> None:
        """Leave every route (a layer that outlives the hub, in memory, would keep them);
        ``attach`` joins the wanted ones again."""
        if self._sync is not None:
            self._sync.cancel()
        self.changed.clear()
        if self.channel is not None and self.joined:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._leave(set(self.joined))
