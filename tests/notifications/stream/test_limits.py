"""Connection slots on their own, in Redis and in-process: the same rules for both."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from notifications.stream.limits import LocalSlots, RedisSlots, new_slot

LIMIT = 2


@pytest.fixture(params=["local", "redis"])
async def store(
    request: pytest.FixtureRequest, settings: Any, redis_url: str
) -> AsyncIterator[LocalSlots | RedisSlots]:
    settings.NOTIFICATIONS = {
        **settings.NOTIFICATIONS,
        "MAX_CONNECTIONS_PER_USER": LIMIT,
        "HEARTBEAT_SECONDS": 0.1,  # leases of 0.3 s
        "REDIS_PREFIX": f"test-limits-{uuid.uuid4().hex[:8]}",
    }
    slots = LocalSlots() if request.param == "local" else RedisSlots(redis_url)
    yield slots
    if isinstance(slots, RedisSlots):
        client = slots._client()
        await client.aclose()
        await client.connection_pool.disconnect()


async def test_a_user_gets_slots_up_to_the_limit_and_then_none(store: Any) -> None:
    first, second, third = (new_slot(1) for _ in range(3))
    assert (await store.take(first, evict=False)).slot == first
    assert (await store.take(second, evict=False)).slot == second
    assert (await store.take(third, evict=False)).slot is None
    # Another user's limit is their own.
    assert (await store.take(new_slot(2), evict=False)).slot is not None
    await store.release(first)
    assert (await store.take(third, evict=False)).slot == third


async def test_evicting_frees_the_oldest_slot_for_the_newest(store: Any) -> None:
    oldest, newer, newest = (new_slot(1) for _ in range(3))
    for slot in (oldest, newer):
        await store.take(slot, evict=False)
    admission = await store.take(newest, evict=True)
    assert (admission.slot, admission.evicted) == (newest, oldest.id)
    assert await store.renew([newer, newest]) == set()


async def test_a_slot_not_renewed_expires_and_its_place_can_be_taken(store: Any) -> None:
    kept, abandoned = new_slot(1), new_slot(1)
    for slot in (kept, abandoned):
        await store.take(slot, evict=False)
    newcomer = new_slot(1)
    async with asyncio.timeout(5):
        while (await store.take(newcomer, evict=False)).slot is None:
            assert await store.renew([kept]) == set()
            await asyncio.sleep(0.05)
    # Renewed again (its process was only slow), the older stream keeps its place: the
    # newest over the limit is the one evicted, never an established one.
    assert await store.renew([kept, abandoned]) == {newcomer}


async def test_renewing_what_the_store_forgot_evicts_the_newest_over_the_limit(
    store: Any,
) -> None:
    established = [new_slot(1) for _ in range(LIMIT)]
    for slot in established:
        await store.take(slot, evict=False)
    # The store forgets them (a restarted Redis): newcomers get the places...
    for slot in established:
        await store.release(slot)
    newcomers = [new_slot(1) for _ in range(LIMIT)]
    for slot in newcomers:
        assert (await store.take(slot, evict=False)).slot == slot
    # ...until the established streams are counted again: the newest over the limit go.
    assert await store.renew(established) == set(newcomers)
    assert await store.renew(established) == set()


def test_slot_ids_sort_by_opening_time() -> None:
    ids = [new_slot(1).id for _ in range(50)]
    assert ids == sorted(ids)


async def test_a_job_s_turn_goes_to_one_asker_per_period(store: Any) -> None:
    """With Redis the first to ask takes the turn and every other asker, in any process,
    waits for its end; a process alone (no Redis) always takes it."""
    assert await store.take_turn("job", 0.3)
    assert await store.take_turn("job", 0.3) is isinstance(store, LocalSlots)
    assert await store.take_turn("another job", 0.3)
    await asyncio.sleep(0.4)
    assert await store.take_turn("job", 0.3)
