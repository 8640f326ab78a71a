"""The async intake: events are committed before `accept` returns, one write per loop
iteration, and the async queue learns which functions received events."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lamina.clock import FakeClock
from lamina.engine.intake import EventIntake
from lamina.store.sqlite import SqliteStore


def test_accepted_events_are_committed_and_announced(tmp_path: Path) -> None:
    async def main() -> tuple[list[str], set[str], dict[str, int], bool, list[float]]:
        store = SqliteStore(tmp_path)
        await store.open()
        try:
            clock = FakeClock()
            intake = EventIntake(store, clock)
            await asyncio.gather(
                intake.accept("a", None, b"{}", "r1"),
                intake.accept("a", "1", b"{}", "r2"),
                intake.accept("b", None, b"{}", "r3"),
            )
            stored = [e.request_id for e in await store.list_events("a", after="", limit=10)]
            arrived = await asyncio.wait_for(intake.arrivals(), 1)
            times = [e.enqueued_at for e in await store.list_events("b", after="", limit=10)]
            await intake.close()
            return stored, arrived, dict(intake.received()), intake.wake("a").is_set(), times
        finally:
            await store.close()

    stored, arrived, received, woken, times = asyncio.run(main())
    assert stored == ["r1", "r2"]
    assert arrived == {"a", "b"}
    assert received == {"a": 2, "b": 1}
    assert woken
    assert times == [FakeClock().time()]
