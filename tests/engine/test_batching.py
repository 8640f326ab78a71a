"""Batcher: one flush at a time; what arrives during a flush goes out together in the next."""

from __future__ import annotations

import asyncio

import pytest

from lamina.engine.batching import Batcher


def test_items_arriving_during_a_flush_share_the_next_one() -> None:
    asyncio.run(_items_arriving_during_a_flush_share_the_next_one())


async def _items_arriving_during_a_flush_share_the_next_one() -> None:
    flushed: list[list[int]] = []
    gate = asyncio.Event()

    async def flush(items: list[int]) -> None:
        flushed.append(list(items))
        if len(flushed) == 1:
            await gate.wait()

    batcher = Batcher[int](flush)
    first = asyncio.create_task(batcher.submit(0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first flush is running and held at the gate
    later = [asyncio.create_task(batcher.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    assert flushed == [[0]]
    gate.set()
    await asyncio.gather(first, *later)
    assert flushed == [[0], [1, 2, 3, 4, 5]]


def test_a_failed_flush_fails_its_own_submitters_only() -> None:
    asyncio.run(_a_failed_flush_fails_its_own_submitters_only())


async def _a_failed_flush_fails_its_own_submitters_only() -> None:
    calls = 0

    async def flush(items: list[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")

    batcher = Batcher[int](flush)
    with pytest.raises(OSError, match="disk full"):
        await batcher.submit(1)
    await batcher.submit(2)
    await batcher.close()
    assert calls == 2


def test_close_waits_for_queued_flushes() -> None:
    asyncio.run(_close_waits_for_queued_flushes())


async def _close_waits_for_queued_flushes() -> None:
    flushed: list[int] = []

    async def flush(items: list[int]) -> None:
        await asyncio.sleep(0.001)
        flushed.extend(items)

    batcher = Batcher[int](flush)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    await asyncio.sleep(0)
    await batcher.close()
    assert sorted(flushed) == [0, 1, 2]
    await asyncio.gather(*tasks)
