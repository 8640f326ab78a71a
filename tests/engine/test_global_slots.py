"""Exact concurrency across nodes on a real redis-server: two `GlobalSlots` play two nodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from lamina.clock import FakeClock
from lamina.engine.concurrency import ACCOUNT_LIMIT, RESERVED_LIMIT
from lamina.engine.global_slots import GlobalSlots
from lamina.errors import TooManyRequests

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def nodes(
    redis_server: Any,
    anyio_backend: str,  # tests/conftest.py's RedisServer
) -> AsyncIterator[tuple[FakeClock, GlobalSlots, GlobalSlots]]:
    redis_server.command("FLUSHDB")  # database 0 only: other tests hold the others
    clock = FakeClock()
    a, b = GlobalSlots(redis_server.url, clock), GlobalSlots(redis_server.url, clock)
    yield clock, a, b
    await a.redis.aclose()
    await b.redis.aclose()


async def _admit_all(slots: GlobalSlots, function: str, n: int, **limits: int | None) -> list[str]:
    """Try `n` admissions at once; the reasons of those throttled, 'OK' for the others."""

    async def one() -> str:
        try:
            await slots.admit(function, **limits)  # type: ignore[arg-type]
        except TooManyRequests as exc:
            return exc.reason
        return "OK"

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_a_reserved_limit_holds_across_nodes(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    _clock, a, b = nodes
    limits = {"reserved": 5, "unreserved_limit": 100, "account_limit": 105}
    answers = await asyncio.gather(
        _admit_all(a, "f", 15, **limits), _admit_all(b, "f", 15, **limits)
    )
    every = [r for node in answers for r in node]
    assert every.count("OK") == 5
    assert set(every) - {"OK"} == {RESERVED_LIMIT}
    assert await a.counts("f") == (5, 0, 5)


async def test_the_unreserved_pool_and_the_account_throttle_with_the_account_reason(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    _clock, a, b = nodes
    limits = {"reserved": None, "unreserved_limit": 3, "account_limit": 10}
    await _admit_all(a, "f", 2, **limits)
    answers = await _admit_all(b, "g", 3, **limits)
    assert sorted(answers) == [ACCOUNT_LIMIT, ACCOUNT_LIMIT, "OK"]
    assert await b.counts("g") == (1, 3, 3)


async def test_released_slots_return_and_the_counters_go_back_to_zero(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    _clock, a, _b = nodes
    limits = {"reserved": 2, "unreserved_limit": 10, "account_limit": 12}
    slots = [await a.admit("f", **limits) for _ in range(2)]  # type: ignore[arg-type]
    with pytest.raises(TooManyRequests):
        await a.admit("f", **limits)  # type: ignore[arg-type]
    for slot in slots:
        await a.release(slot)
    assert await a.counts("f") == (0, 0, 0)
    await a.admit("f", **limits)  # type: ignore[arg-type]


async def test_a_dead_nodes_slots_return_after_the_lease_while_a_live_node_keeps_its_own(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    clock, a, b = nodes
    limits = {"reserved": 4, "unreserved_limit": 10, "account_limit": 14}
    await _admit_all(a, "f", 2, **limits)  # a will die: it never renews
    await _admit_all(b, "f", 2, **limits)
    assert await _admit_all(b, "f", 1, **limits) == [RESERVED_LIMIT]

    clock.advance(a.lease_s - 1)
    await b.renew()
    clock.advance(2)  # a's leases have ended, b's were extended

    assert await b.counts("f") == (2, 0, 2)
    assert await _admit_all(b, "f", 3, **limits) == ["OK", "OK", RESERVED_LIMIT]
