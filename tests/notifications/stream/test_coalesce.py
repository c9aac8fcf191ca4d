"""The coalescer: the calls of one turn of the event loop served by one run."""

from __future__ import annotations

import asyncio

from notifications.stream.coalesce import Coalescer


async def test_calls_of_one_turn_of_the_loop_share_one_batch() -> None:
    batches: list[list[int]] = []

    async def run(keys: list[int]) -> list[int | BaseException]:
        batches.append(keys)
        return [ValueError(key) if key == 3 else key * 10 for key in keys]

    double = Coalescer(run, limit=100)
    async with asyncio.timeout(5):
        results = await asyncio.gather(*(double(k) for k in range(5)), return_exceptions=True)
    assert batches == [[0, 1, 2, 3, 4]]
    assert results[:3] == [0, 10, 20] and results[4] == 40
    assert isinstance(results[3], ValueError)


async def test_a_cancelled_caller_leaves_its_batch_to_the_others() -> None:
    release = asyncio.Event()

    async def run(keys: list[int]) -> list[int | BaseException]:
        await release.wait()
        return keys

    echo = Coalescer(run, limit=2)
    async with asyncio.timeout(5):
        first, second, third = (asyncio.ensure_future(echo(k)) for k in (1, 2, 3))
        await asyncio.sleep(0)  # every call is in, the first two as a full batch
        first.cancel()
        release.set()
        assert await asyncio.gather(second, third) == [2, 3]
    assert first.cancelled()


async def test_a_full_batch_goes_at_once_and_the_rest_in_the_next() -> None:
    batches: list[list[int]] = []

    async def run(keys: list[int]) -> list[int]:
        batches.append(keys)
        return keys

    echo = Coalescer(run, limit=2)
    async with asyncio.timeout(5):
        assert await asyncio.gather(*(echo(k) for k in range(5))) == [0, 1, 2, 3, 4]
    assert batches == [[0, 1], [2, 3], [4]]


async def test_a_run_that_fails_fails_every_caller_of_its_batch_only() -> None:
    async def run(keys: list[int]) -> list[int]:
        if 0 in keys:
            raise ConnectionError("down")
        return keys

    echo = Coalescer(run, limit=100)
    async with asyncio.timeout(5):
        failed = await asyncio.gather(echo(0), echo(1), return_exceptions=True)
        assert all(isinstance(outcome, ConnectionError) for outcome in failed)
        # The next turn is a batch of its own.
        assert await echo(2) == 2


async def test_calls_of_later_turns_make_batches_of_their_own() -> None:
    batches: list[list[str]] = []

    async def run(keys: list[str]) -> list[str]:
        batches.append(keys)
        return keys

    echo = Coalescer(run, limit=100)
    async with asyncio.timeout(5):
        assert await echo("a") == "a"
        assert await echo("b") == "b"
    assert batches == [["a"], ["b"]]
