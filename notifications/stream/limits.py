"""Per-user connection slots: how many streams one user may hold open at once.

With Redis, a user's slots are a sorted set (member: slot id, score: lease expiry in Redis
time), taken and renewed by Lua scripts, so the limit holds across processes. A slot id
names the process holding it, and each process keeps a liveness key of its own with a short
TTL: the slots of a process that died without cleaning up (SIGKILL, a crash) stop counting
as soon as that key expires, whatever the heartbeat; each slot's lease (three heartbeats) is
the backstop. A process that stops (SIGTERM) frees its slots and deletes its key at once.

Renewing re-adds a process's slots even where Redis forgot them (a restart): the oldest
streams keep their places and the newest over the limit are evicted, so established streams
are never the ones closed. Without Redis, slots are counted in this process only, which is
all the in-memory channel layer can serve anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from notifications.conf import conf
from notifications.stream.coalesce import Coalescer

if TYPE_CHECKING:
    import redis.asyncio as redis

logger = logging.getLogger(__name__)

# A process's liveness key lives this long unless renewed; the hub renews it every
# LIVENESS_SECONDS while the process has streams.
PROCESS_TTL_SECONDS = 10
LIVENESS_SECONDS = 3.0

# Shared by the scripts: drop expired members, and members of processes that are gone.
# A slot id is "<opening time in ns>:<process id>:<random>".
_PRUNE = """
local function prune(key, now, prefix)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local process = string.match(member, '^%d+:([^:]+):')
    if process and redis.call('EXISTS', prefix .. process) == 0 then
      redis.call('ZREM', key, member)
    end
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: the user's set, this process's liveness key. ARGV: slot id, lease seconds, limit,
# evict ("1" or "0"), process TTL, liveness key prefix. Returns {admitted (1/0), evicted id
# or "", whether this process's liveness key was still there (1/0)}.
_TAKE_SLOT = (
    _PRUNE
    + """
local known = redis.call('SET', KEYS[2], '1', 'EX', ARGV[5], 'GET') and 1 or 0
prune(KEYS[1], now, ARGV[6])
local evicted = ''
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    if ARGV[4] ~= '1' then return {0, '', known} end
    local members = redis.call('ZRANGE', KEYS[1], 0, -1)
    table.sort(members)
    evicted = members[1]
    redis.call('ZREM', KEYS[1], evicted)
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return {1, evicted, known}
"""
)
_TAKE_SLOT_SHA = hashlib.sha1(_TAKE_SLOT.encode()).hexdigest()
# Slots at most taken in one pipeline.
TAKE_BATCH = 200

# KEYS: users' sets, then this process's liveness key. ARGV: lease seconds, limit, process
# TTL, liveness key prefix, then one slot id per set. Re-adds each slot (present or not),
# then evicts the newest members over the limit; returns {set's position, evicted id}...
_RENEW_SLOTS = (
    _PRUNE
    + """
local lease = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('SET', KEYS[#KEYS], '1', 'EX', ARGV[3])
local evicted = {}
for i = 1, #KEYS - 1 do
  local key = KEYS[i]
  redis.call('ZADD', key, now + lease, ARGV[i + 4])
  prune(key, now, ARGV[4])
  local members = redis.call('ZRANGE', key, 0, -1)
  if #members > limit then
    table.sort(members)
    for j = limit + 1, #members do
      redis.call('ZREM', key, members[j])
      table.insert(evicted, i)
      table.insert(evicted, members[j])
    end
  end
  redis.call('EXPIRE', key, math.ceil(lease) + 1)
end
return evicted
"""
)
# Slots renewed per script call: one call per heartbeat for a process's streams, in chunks.
_RENEW_BATCH = 500

_process = ("", 0)


def process_id() -> str:
    """Return this process's id, the middle part of its slot ids (new in a forked child)."""
    global _process
    if _process[1] != os.getpid():
        _process = (uuid.uuid4().hex[:12], os.getpid())
    return _process[0]


@dataclass(frozen=True)
class Slot:
    """One stream's place in its user's limit."""

    user_id: int
    id: str

    @property
    def local(self) -> bool:
        """Whether this process holds the slot."""
        return process_of(self.id) == process_id()


@dataclass(frozen=True)
class Admission:
    """The answer to a request for a slot: refused, or a slot and maybe one evicted peer.

    ``process_known`` is false when the slot store had forgotten this process (Redis was
    restarted): its other streams are not counted until they are renewed.
    """

    slot: Slot | None
    evicted: str | None = None
    process_known: bool = True


def new_slot(user_id: int) -> Slot:
    """Return a slot whose id sorts by opening time, so "oldest" is the smallest id."""
    return Slot(user_id=user_id, id=f"{time.time_ns():020d}:{process_id()}:{uuid.uuid4().hex[:8]}")


def process_of(slot_id: str) -> str:
    """Return the id of the process holding ``slot_id`` ("" for an id without one)."""
    parts = slot_id.split(":")
    return parts[1] if len(parts) == 3 else ""


def opened_at(slot_id: str) -> datetime | None:
    """Return when the stream holding ``slot_id`` opened (its id begins with the time)."""
    head = slot_id.partition(":")[0]
    if not (head.isascii() and head.isdigit()):
        return None
    return datetime.fromtimestamp(int(head) / 1e9, tz=UTC)


def lease_seconds() -> float:
    """Slots live three heartbeats unless renewed: a stalled or dead process frees them."""
    return conf.HEARTBEAT_SECONDS * 3


class RedisSlots:
    """Slots in Redis, shared by every server process."""

    def __init__(self, url: str) -> None:
        self.url = url
        # One client (and bounded pool) per event loop: a burst of opens waits for a
        # connection instead of failing, and no stream holds a connection of its own.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._takes: Coalescer[tuple[Slot, bool], Any] = Coalescer(
            self._take_many, limit=TAKE_BATCH
        )

    def _client(self) -> redis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Imported here: Redis is optional (the ``[redis]`` extra), needed only with a URL.
            import redis.asyncio as redis
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff

            pool = redis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=64,
                timeout=10,
                socket_timeout=5,
                socket_connect_timeout=2,
                # A pooled connection that a Redis restart broke is replaced, not reported:
                # otherwise the first opens after a restart would go uncounted.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            )
            client = self._clients[loop] = redis.Redis(connection_pool=pool)
        return client

    async def aclose(self) -> None:
        """Close this event loop's connections: for a loop made for one call, then dropped."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose(close_connection_pool=True)

    async def _take_many(self, takes: list[tuple[Slot, bool]]) -> list[Any]:
        """Run the take script once per ``(slot, evict)``, in one pipeline; return the
        replies, or the error of each take that failed."""
        from redis.exceptions import NoScriptError

        client = self._client()
        replies: list[Any] = [None] * len(takes)
        todo = list(range(len(takes)))
        for _attempt in range(2):
            async with client.pipeline(transaction=False) as pipe:
                for i in todo:
                    slot, evict = takes[i]
                    pipe.evalsha(_TAKE_SLOT_SHA, 2, *self._take_arguments(slot, evict=evict))
                results = await pipe.execute(raise_on_error=False)
            for i, result in zip(todo, results, strict=True):
                replies[i] = result
            # A script Redis does not know (it was restarted) did not run: load it, retry.
            todo = [i for i in todo if isinstance(replies[i], NoScriptError)]
            if not todo:
                break
            await client.script_load(_TAKE_SLOT)
        return replies

    def _take_arguments(self, slot: Slot, *, evict: bool) -> list[Any]:
        return [
            self._key(slot.user_id),
            self._process_key(),
            slot.id,
            lease_seconds(),
            conf.MAX_CONNECTIONS_PER_USER,
            "1" if evict else "0",
            PROCESS_TTL_SECONDS,
            self._process_prefix(),
        ]

    def _slots_prefix(self) -> str:
        return f"{conf.REDIS_PREFIX}:slots:"

    def _key(self, user_id: int) -> str:
        return f"{self._slots_prefix()}{user_id}"

    def _process_prefix(self) -> str:
        return f"{conf.REDIS_PREFIX}:process:"

    def _process_key(self) -> str:
        return self._process_prefix() + process_id()

    async def take(self, slot: Slot, *, evict: bool) -> Admission:
        # The takes of one turn of the loop share a round trip (see notifications.stream.coalesce).
        admitted, evicted, known = await self._takes((slot, evict))
        if not admitted:
            return Admission(None, process_known=bool(known))
        return Admission(slot, evicted.decode() if evicted else None, bool(known))

    async def renew(self, renewing: Sequence[Slot]) -> set[Slot]:
        """Renew (or re-add) many slots in few round trips; return the slots evicted as the
        newest over their user's limit, this process's or another's."""
        evicted: set[Slot] = set()
        for start in range(0, len(renewing), _RENEW_BATCH):
            batch = renewing[start : start + _RENEW_BATCH]
            keys = [self._key(slot.user_id) for slot in batch]
            flat = await self._client().eval(
                _RENEW_SLOTS,
                len(keys) + 1,
                *keys,
                self._process_key(),
                lease_seconds(),
                conf.MAX_CONNECTIONS_PER_USER,
                PROCESS_TTL_SECONDS,
                self._process_prefix(),
                *(slot.id for slot in batch),
            )
            for position, member in zip(flat[::2], flat[1::2], strict=True):
                evicted.add(Slot(batch[int(position) - 1].user_id, member.decode()))
        return evicted

    async def keep_alive(self) -> bool:
        """Renew this process's liveness key; tell whether Redis still had it."""
        previous = await self._client().set(
            self._process_key(), "1", ex=PROCESS_TTL_SECONDS, get=True
        )
        return previous is not None

    async def take_turn(self, job: str, seconds: float) -> bool:
        """Tell whether this process takes the cluster's turn at ``job`` (a key of the
        processes' own, beside their liveness keys): the first to ask once the last turn's
        ``seconds`` are over does, so the job runs about once per ``seconds`` in all, however
        many processes ask."""
        key = f"{self._process_prefix()}turn:{job}"
        return bool(await self._client().set(key, process_id(), nx=True, px=int(seconds * 1000)))

    async def release(self, slot: Slot) -> None:
        await self._client().zrem(self._key(slot.user_id), slot.id)

    async def release_all(self, releasing: Sequence[Slot]) -> None:
        """Free every slot of a stopping process, and its liveness key, in one round trip."""
        async with self._client().pipeline(transaction=False) as pipe:
            for slot in releasing:
                pipe.zrem(self._key(slot.user_id), slot.id)
            pipe.delete(self._process_key())
            await pipe.execute()

    async def by_user(self) -> dict[int, list[str]]:
        """Return the live slot ids of each user holding any, across every process."""
        client = self._client()
        prefix = self._slots_prefix()
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        now = time.time()
        found: dict[int, list[str]] = {}
        for start in range(0, len(keys), _RENEW_BATCH):
            batch = keys[start : start + _RENEW_BATCH]
            async with client.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.zrangebyscore(key, now, "+inf")
                answers = await pipe.execute()
            for key, members in zip(batch, answers, strict=True):
                user_id = key.decode()[len(prefix) :]
                if members and user_id.isdigit():
                    found[int(user_id)] = sorted(member.decode() for member in members)
        return await self._of_live_processes(found)

    async def watching(self, user_ids: Sequence[int]) -> set[int]:
        """Return those of ``user_ids`` holding a live slot (an open stream) anywhere."""
        now = time.time()
        async with self._client().pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zrangebyscore(self._key(user_id), now, "+inf")
            answers = await pipe.execute()
        found = {
            user_id: [member.decode() for member in members]
            for user_id, members in zip(user_ids, answers, strict=True)
            if members
        }
        return set(await self._of_live_processes(found))

    async def _of_live_processes(self, found: dict[int, list[str]]) -> dict[int, list[str]]:
        """Leave out the slots of processes whose liveness key expired: they count no more."""
        processes = sorted({process_of(slot_id) for ids in found.values() for slot_id in ids})
        if not processes:
            return found
        alive_flags = await self._client().mget(
            [self._process_prefix() + process for process in processes]
        )
        alive = {p for p, flag in zip(processes, alive_flags, strict=True) if flag is not None}
        live = {user: [i for i in ids if process_of(i) in alive] for user, ids in found.items()}
        return {user: ids for user, ids in live.items() if ids}


class LocalSlots:
    """Slots in this process, for the in-memory channel layer."""

    def __init__(self) -> None:
        self._leases: dict[int, dict[str, float]] = {}

    def _live(self, user_id: int) -> dict[str, float]:
        now = time.monotonic()
        leases = self._leases.setdefault(user_id, {})
        for member in [m for m, expiry in leases.items() if expiry <= now]:
            del leases[member]
        return leases

    async def take(self, slot: Slot, *, evict: bool) -> Admission:
        leases = self._live(slot.user_id)
        evicted = None
        if slot.id not in leases and len(leases) >= conf.MAX_CONNECTIONS_PER_USER:
            if not evict:
                return Admission(None)
            evicted = min(leases)
            del leases[evicted]
        leases[slot.id] = time.monotonic() + lease_seconds()
        return Admission(slot, evicted)

    async def renew(self, renewing: Sequence[Slot]) -> set[Slot]:
        evicted: set[Slot] = set()
        for slot in renewing:
            leases = self._live(slot.user_id)
            leases[slot.id] = time.monotonic() + lease_seconds()
            for member in sorted(leases)[conf.MAX_CONNECTIONS_PER_USER :]:
                del leases[member]
                evicted.add(Slot(slot.user_id, member))
        return evicted

    async def keep_alive(self) -> bool:
        return True  # nothing outside this process can forget it

    async def take_turn(self, job: str, seconds: float) -> bool:
        return True  # no other process to share the job with

    async def release(self, slot: Slot) -> None:
        leases = self._leases.get(slot.user_id, {})
        leases.pop(slot.id, None)
        if not leases:
            self._leases.pop(slot.user_id, None)

    async def release_all(self, releasing: Sequence[Slot]) -> None:
        for slot in releasing:
            await self.release(slot)

    async def watching(self, user_ids: Sequence[int]) -> set[int]:
        """Return those of ``user_ids`` holding a live slot in this process."""
        return {
            user_id for user_id in user_ids if self._leases.get(user_id) and self._live(user_id)
        }

    async def by_user(self) -> dict[int, list[str]]:
        """Return the live slot ids of each user holding any, in this process."""
        found = {user_id: sorted(self._live(user_id)) for user_id in list(self._leases)}
        return {user_id: ids for user_id, ids in found.items() if ids}


_backends: dict[str | None, RedisSlots | LocalSlots] = {}


def slots() -> RedisSlots | LocalSlots:
    """Return the slot store for the configured ``REDIS_URL``."""
    url = conf.REDIS_URL
    if url not in _backends:
        _backends[url] = RedisSlots(url) if url else LocalSlots()
    return _backends[url]
