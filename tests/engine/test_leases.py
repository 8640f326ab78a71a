"""Concurrency leases published in a real SQLite store: two nodes' books on one store see each
other's slots, and a node that stops renewing gives its slots back after the TTL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lamina.clock import FakeClock
from lamina.engine.concurrency import ACCOUNT_LIMIT, RESERVED_LIMIT, Concurrency
from lamina.engine.leases import TTL_S, LeaseBook
from lamina.errors import TooManyRequests
from lamina.store.sqlite import SqliteStore


def test_limits_hold_across_books_and_a_dead_nodes_slots_come_back(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path)
        await store.open()
        try:
            clock = FakeClock()
            a, b = Concurrency(4), Concurrency(4)
            a.set_reserved("paid", 2)
            b.set_reserved("paid", 2)
            book_a = LeaseBook(store, a, clock, node_id="a")
            book_b = LeaseBook(store, b, clock, node_id="b")
            held = [a.acquire("paid"), a.acquire("free")]
            await book_a.sync()
            await book_b.sync()
            assert b.available("paid") == 1 and b.available("free") == 1
            b.acquire("paid")
            b.acquire("free")
            for function, reason in (("paid", RESERVED_LIMIT), ("free", ACCOUNT_LIMIT)):
                try:
                    b.acquire(function)
                except TooManyRequests as exc:
                    assert exc.reason == reason
                else:
                    raise AssertionError(f"{function} was admitted over its limit")
            # node a dies without releasing: b keeps counting its slots until the TTL passes
            clock.advance(TTL_S / 2)
            await book_b.sync()
            assert b.available("paid") == 0
            clock.advance(TTL_S)
            await book_b.sync()
            assert b.available("paid") == 1 and b.available("free") == 1
            assert [k for k, _ in await store.scan("concurrency-lease")] == ["b"]
            for lease in held:  # a's in-memory leases are irrelevant once its record is gone
                a.release(lease)
            await book_b.withdraw()
            assert await store.scan("concurrency-lease") == []
        finally:
            await store.close()

    asyncio.run(main())
