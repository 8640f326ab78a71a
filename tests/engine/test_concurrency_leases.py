"""Concurrency leases as context managers, on a fake clock: admission, throttles, waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from lamina.clock import FakeClock
from lamina.engine.concurrency import ACCOUNT_LIMIT, RESERVED_LIMIT, Concurrency
from lamina.errors import TooManyRequests


async def _until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until `condition()` holds (bounded: a few hundred loop turns)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_a_lease_holds_a_slot_for_its_block_and_a_full_pool_throttles() -> None:
    async def main() -> None:
        concurrency = Concurrency(10)
        concurrency.set_reserved("paid", 1)
        async with concurrency.lease("paid") as lease:
            assert lease.reserved and concurrency.available("paid") == 0
            with pytest.raises(TooManyRequests) as throttled:
                async with concurrency.lease("paid"):
                    raise AssertionError("admitted over the reservation")
            assert throttled.value.reason == RESERVED_LIMIT
        assert concurrency.available("paid") == 1
        assert concurrency.statistics().throttles == {"paid": 1}
        with pytest.raises(RuntimeError):
            async with concurrency.lease("free"):
                raise RuntimeError("the block failed")
        assert concurrency.statistics().in_use == {}  # released however the block ended

    asyncio.run(main())


def test_a_waiting_lease_is_admitted_when_a_slot_frees_and_is_no_throttle() -> None:
    async def main() -> None:
        clock = FakeClock()
        concurrency = Concurrency(1, clock)
        order: list[str] = []

        async def waiter() -> None:
            async with concurrency.wait_lease("f", timeout_s=60.0):
                order.append("waiter ran")

        async with concurrency.lease("f"):
            task = asyncio.create_task(waiter())
            await _until(lambda: clock.sleepers == 1)
            order.append("holder done")
        await task
        assert order == ["holder done", "waiter ran"]
        assert concurrency.statistics().throttles == {}

    asyncio.run(main())


def test_a_waiting_lease_gives_up_after_its_timeout_on_the_clock() -> None:
    async def main() -> None:
        clock = FakeClock()
        concurrency = Concurrency(1, clock)
        async with concurrency.lease("f"):

            async def waiter() -> None:
                async with concurrency.wait_lease("g", timeout_s=30.0):
                    raise AssertionError("admitted while the account was full")

            task = asyncio.create_task(waiter())
            await _until(lambda: clock.sleepers == 1)
            clock.advance(29.0)
            await asyncio.sleep(0)
            assert not task.done()
            clock.advance(1.0)
            with pytest.raises(TooManyRequests) as throttled:
                await task
        assert throttled.value.reason == ACCOUNT_LIMIT
        assert concurrency.statistics().throttles == {}

    asyncio.run(main())


def test_raising_a_reservation_wakes_a_waiting_lease() -> None:
    async def main() -> None:
        clock = FakeClock()
        concurrency = Concurrency(10, clock)
        concurrency.set_reserved("paused", 0)
        admitted = asyncio.Event()

        async def waiter() -> None:
            async with concurrency.wait_lease("paused"):
                admitted.set()

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert not admitted.is_set()
        concurrency.set_reserved("paused", 1)
        await task
        assert admitted.is_set()

    asyncio.run(main())
