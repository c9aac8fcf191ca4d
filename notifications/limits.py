"""Per-user connection slots: how many streams one user may hold open at once.

With Redis, a user's slots are a sorted set (member: connection id, score: lease expiry in
Redis time), taken and refreshed by one Lua script, so the limit holds across processes and
a crashed process's slots expire by themselves. Without Redis, slots are counted in this
process only, which is all the in-memory channel layer can serve anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as redis

from notifications.conf import conf

logger = logging.getLogger(__name__)

# KEYS[1] the user's set; ARGV: member, lease seconds, limit, evict ("1" or "0").
# Returns {admitted (1/0), evicted member or ""}. A member already present is refreshed.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local evicted = ''
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    if ARGV[4] ~= '1' then return {0, ''} end
    local members = redis.call('ZRANGE', KEYS[1], 0, -1)
    table.sort(members)
    evicted = members[1]
    redis.call('ZREM', KEYS[1], evicted)
  end
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(lease) + 1)
return {1, evicted}
"""


# KEYS: users' sets; ARGV: lease seconds, limit, then one member per key. Renews each
# member's lease, or re-takes it if it expired and there is room; returns the members that
# lost their place (their set filled up while they were away).
_RENEW_SLOTS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local lost = {}
for i, key in ipairs(KEYS) do
  local member = ARGV[i + 2]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZSCORE', key, member) or redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now + lease, member)
    redis.call('EXPIRE', key, math.ceil(lease) + 1)
  else
    table.insert(lost, member)
  end
end
return lost
"""
# Slots renewed per script call: one call per heartbeat for a process's streams, in chunks.
_RENEW_BATCH = 500


@dataclass(frozen=True)
class Slot:
    """One stream's place in its user's limit."""

    user_id: int
    id: str


@dataclass(frozen=True)
class Admission:
    """The answer to a request for a slot: refused, or a slot and maybe one evicted peer."""

    slot: Slot | None
    evicted: str | None = None


def new_slot(user_id: int) -> Slot:
    """Return a slot whose id sorts by opening time, so "oldest" is the smallest id."""
    return Slot(user_id=user_id, id=f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}")


def opened_at(slot_id: str) -> datetime | None:
    """Return when the stream holding ``slot_id`` opened (its id begins with the time)."""
    head = slot_id.partition("-")[0]
    if not (head.isascii() and head.isdigit()):
        return None
    return datetime.fromtimestamp(int(head) / 1e9, tz=UTC)


def lease_seconds() -> float:
    """Slots live three heartbeats unless refreshed: a stalled or dead process frees them."""
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

    def _client(self) -> redis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            pool = redis.BlockingConnectionPool.from_url(
                self.url, max_connections=64, timeout=10, socket_timeout=5, socket_connect_timeout=2
            )
            client = self._clients[loop] = redis.Redis(connection_pool=pool)
        return client

    async def aclose(self) -> None:
        """Close this event loop's connections: for a loop made for one call, then dropped."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose(close_connection_pool=True)

    def _key(self, user_id: int) -> str:
        return f"{conf.REDIS_PREFIX}:slots:{user_id}"

    async def take(self, slot: Slot, *, evict: bool) -> Admission:
        admitted, evicted = await self._client().eval(
            _TAKE_SLOT,
            1,
            self._key(slot.user_id),
            slot.id,
            lease_seconds(),
            conf.MAX_CONNECTIONS_PER_USER,
            "1" if evict else "0",
        )
        if not admitted:
            return Admission(None)
        return Admission(slot, evicted.decode() if evicted else None)

    async def renew(self, renewing: Sequence[Slot]) -> set[str]:
        """Renew many slots' leases in few round trips; return the ids of slots lost."""
        lost: set[str] = set()
        for start in range(0, len(renewing), _RENEW_BATCH):
            batch = renewing[start : start + _RENEW_BATCH]
            keys = [self._key(slot.user_id) for slot in batch]
            lost.update(
                member.decode()
                for member in await self._client().eval(
                    _RENEW_SLOTS,
                    len(keys),
                    *keys,
                    lease_seconds(),
                    conf.MAX_CONNECTIONS_PER_USER,
                    *(slot.id for slot in batch),
                )
            )
        return lost

    async def release(self, slot: Slot) -> None:
        await self._client().zrem(self._key(slot.user_id), slot.id)

    async def count(self, user_id: int) -> int:
        """Return the live slots of ``user_id`` (for tests and metrics)."""
        key = self._key(user_id)
        now = time.time()
        return int(await self._client().zcount(key, now, "+inf"))

    async def by_user(self) -> dict[int, list[str]]:
        """Return the live slot ids of each user holding any, across every process."""
        client = self._client()
        prefix = f"{conf.REDIS_PREFIX}:slots:"
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
        return found


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

    async def renew(self, renewing: Sequence[Slot]) -> set[str]:
        lost = set()
        for slot in renewing:
            if (await self.take(slot, evict=False)).slot is None:
                lost.add(slot.id)
        return lost

    async def release(self, slot: Slot) -> None:
        leases = self._leases.get(slot.user_id, {})
        leases.pop(slot.id, None)
        if not leases:
            self._leases.pop(slot.user_id, None)

    async def count(self, user_id: int) -> int:
        return len(self._live(user_id))

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
