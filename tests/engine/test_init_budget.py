"""The pool's init budget: at most N inits at once, waiting is not init, warm hand-over."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
from envtools import borrow, call, invoke, make_spec

from lamina.engine import environment
from lamina.engine.pool import Pool

SLOW_INIT = (
    "import os, time\n"
    "time.sleep(float(os.environ.get('INIT_S', '0.3')))\n\n"
    "def handler(event, context):\n"
    "    time.sleep(event.get('sleep', 0))\n"
    "    return os.getpid()\n"
)


@pytest.fixture
def slow_init(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(SLOW_INIT)
    return tmp_path


async def _poll(check) -> None:
    """Wait until `check()` is true (for at most 30 s)."""
    for _ in range(3000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 30 s")


def test_inits_beyond_the_budget_wait_and_the_wait_is_not_init_time(
    run_pool, slow_init, monkeypatch
):
    # Eight inits of 0.3 s one at a time take ~2.4 s, past a 2 s init limit: only the
    # init itself may count against it. Eight functions: none can take another's environment.
    monkeypatch.setattr(environment, "INIT_TIMEOUT_S", 2.0)
    specs = [make_spec(slow_init, function_name=f"f{i}") for i in range(8)]

    async def scenario(pool: Pool):
        results = await asyncio.gather(*(call(pool, spec) for spec in specs))
        return results, pool.statistics()

    results, stats = run_pool(scenario, init_budget=1)
    assert [r.error_type for r in results] == [None] * 8
    assert all(r.cold and r.init_duration_ms is not None for r in results)
    assert all(r.init_duration_ms < 2000 for r in results)
    assert stats.init_budget == 1 and stats.inits_max_seen == 1
    assert stats.inits_running == 0 and stats.inits_waiting == 0
    assert stats.cold_starts == 8


def test_a_waiter_takes_a_warm_environment_that_comes_back_before_a_slot(run_pool, slow_init):
    warm_spec = make_spec(slow_init, variables={"INIT_S": "0"})
    slow_spec = make_spec(slow_init, function_name="slow", variables={"INIT_S": "30"})

    async def scenario(pool: Pool):
        first = await call(pool, warm_spec)  # one warm environment of warm_spec
        async with borrow(pool, warm_spec) as env:  # now busy
            blocker = asyncio.ensure_future(call(pool, slow_spec))  # holds the only slot
            await _poll(lambda: pool.inits.running == 1)
            waiter = asyncio.ensure_future(call(pool, warm_spec))
            await _poll(lambda: pool.inits.waiting == 1)
            await invoke(env)
        second = await waiter
        stats = pool.statistics()
        blocker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await blocker  # its environment is killed and reaped before the pool closes
        return first, second, stats

    first, second, stats = run_pool(scenario, init_budget=1)
    assert second.error_type is None and not second.cold
    assert json.loads(second.payload) == json.loads(first.payload)  # the same process
    assert stats.inits_max_seen == 1 and stats.cold_starts == 2


def test_close_fails_the_waiters(run_pool, slow_init):
    spec = make_spec(slow_init, variables={"INIT_S": "30"})

    async def scenario(pool: Pool):
        calls = [asyncio.ensure_future(call(pool, spec)) for _ in range(3)]
        await _poll(lambda: pool.inits.waiting == 2)
        await pool.close()
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = run_pool(scenario, init_budget=1)
    assert sum(type(o).__name__ == "PoolClosed" for o in outcomes) == 2
