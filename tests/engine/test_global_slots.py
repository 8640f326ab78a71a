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
from lamina.store import redis_keys

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
    await a.close()
    await b.close()


async def _admit_all(slots: GlobalSlots, function: str, n: int, account_limit: int) -> list[str]:
    """Try `n` admissions at once; the reasons of those throttled, 'OK' for the others."""

    async def one() -> str:
        try:
            await slots.admit(function, account_limit=account_limit)
        except TooManyRequests as exc:
            return exc.reason
        return "OK"

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_a_reserved_limit_holds_across_nodes(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    _clock, a, b = nodes
    await a.set_reserved("f", 5)
    answers = await asyncio.gather(_admit_all(a, "f", 15, 105), _admit_all(b, "f", 15, 105))
    every = [r for node in answers for r in node]
    assert every.count("OK") == 5
    assert set(every) - {"OK"} == {RESERVED_LIMIT}
    assert await a.counts("f") == (5, 0, 5)


async def test_the_unreserved_pool_and_the_account_throttle_with_the_account_reason(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    _clock, a, b = nodes
    await a.set_reserved("h", 7)  # the unreserved pool is 10 - 7 = 3
    await _admit_all(a, "f", 2, 10)
    answers = await _admit_all(b, "g", 3, 10)
    assert sorted(answers) == [ACCOUNT_LIMIT, ACCOUNT_LIMIT, "OK"]
    assert await b.counts("g") == (1, 3, 3)


async def test_released_slots_return_and_the_counters_go_back_to_zero(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    _clock, a, _b = nodes
    await a.set_reserved("f", 2)
    slots = [await a.admit("f", account_limit=12) for _ in range(2)]
    with pytest.raises(TooManyRequests):
        await a.admit("f", account_limit=12)
    for slot in slots:
        await a.release(slot)
    assert await a.counts("f") == (0, 0, 0)
    await a.admit("f", account_limit=12)


async def test_a_dead_nodes_slots_return_after_the_lease_while_a_live_node_keeps_its_own(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    clock, a, b = nodes
    await a.set_reserved("f", 4)
    await _admit_all(a, "f", 2, 14)  # a will die: it never renews
    await _admit_all(b, "f", 2, 14)
    assert await _admit_all(b, "f", 1, 14) == [RESERVED_LIMIT]

    clock.advance(a.lease_s - 1)
    await b.renew()
    clock.advance(2)  # a's leases have ended, b's were extended

    assert await b.counts("f") == (2, 0, 2)
    assert await _admit_all(b, "f", 3, 14) == ["OK", "OK", RESERVED_LIMIT]


async def test_a_reservation_changed_through_one_node_holds_at_the_others_next_admission(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    _clock, a, b = nodes
    await a.set_reserved("f", 0)
    assert await _admit_all(b, "f", 1, 10) == [RESERVED_LIMIT]
    await a.set_reserved("f", None)
    assert await _admit_all(b, "f", 1, 10) == ["OK"]
    await b.sync_reserved({"f": 1, "g": 9})
    assert await _admit_all(a, "f", 2, 10) == [RESERVED_LIMIT] * 2  # f's one slot is held
    assert await _admit_all(a, "h", 1, 10) == [ACCOUNT_LIMIT]  # 10 - 1 - 9 leaves none


async def test_a_held_slot_set_admits_at_most_its_limit_across_nodes(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    clock, a, b = nodes
    group = "lamina:{slots}:esm:test"
    held = await asyncio.gather(*(n.hold(group, 3) for n in (a, b, a, b, a)))
    assert sum(slot is not None for slot in held) == 3
    first = next(slot for slot in held if slot is not None)
    owner = a if first in a._held else b
    await owner.release(first)
    assert await b.hold(group, 3) is not None
    clock.advance(a.lease_s + 1)  # nobody renewed: every lease ended
    assert all([await a.hold(group, 3) for _ in range(3)])


async def test_admission_goes_on_when_the_server_forgot_its_scripts_or_dropped_the_connection(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots], redis_server: Any
) -> None:
    _clock, a, _b = nodes
    await a.set_reserved("f", 2)
    first = await a.admit("f", account_limit=12)
    redis_server.command("SCRIPT", "FLUSH")
    a.release_soon(first)
    await a.drain()
    assert await a.counts("f") == (0, 0, 0)
    second = await a.admit("f", account_limit=12)
    redis_server.command("CLIENT", "KILL", "TYPE", "normal")  # every client's connection
    await a.admit("f", account_limit=12)
    with pytest.raises(TooManyRequests):
        await a.admit("f", account_limit=12)
    await a.release(second)
    assert await a.counts("f") == (1, 0, 1)


async def test_a_slot_given_back_while_the_connection_is_down_returns_once_it_reconnects(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots], redis_server: Any
) -> None:
    _clock, a, _b = nodes
    slot = await a.admit("f", account_limit=12)
    redis_server.command("CLIENT", "KILL", "TYPE", "normal")
    await asyncio.sleep(0.2)  # the node sees its connection closed
    a.release_soon(slot)
    await a.drain()
    assert await a.counts("f") == (0, 0, 0)


async def test_an_admission_sent_twice_holds_one_slot_and_is_not_throttled_by_itself(
    nodes: tuple[FakeClock, GlobalSlots, GlobalSlots],
) -> None:
    clock, a, _b = nodes
    await a.set_reserved("f", 1)
    now = clock.time()
    args: list[object] = [repr(now), repr(now + 10), "slot-1", 11, "f"]
    admit_keys = [*redis_keys.slot_keys("f"), redis_keys.SLOTS_RESERVED]
    assert await a._hot("admit_slot", admit_keys, args) == b"OK"
    assert await a._hot("admit_slot", admit_keys, args) == b"OK"  # its reply was lost, say
    assert await a.counts("f") == (1, 0, 1)
