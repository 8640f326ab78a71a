"""Pool behaviour: scale-out, most-recently-used reuse, retirement, reaping, pre-warming, close."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import psutil
from envtools import borrow, call, child_processes, invoke, make_spec

from lamina.engine.environment import Environment
from lamina.engine.environment_status import EnvironmentStatus
from lamina.engine.launcher import Launcher
from lamina.engine.pool import Pool

SLEEPY = make_spec("faults", handler="app.pid_and_sleep")


def test_twenty_concurrent_invokes_scale_out_to_twenty_environments(run_pool):
    async def scenario(pool: Pool):
        event = json.dumps({"sleep": 0.5}).encode()
        results = await asyncio.gather(*(call(pool, SLEEPY, event) for _ in range(20)))
        return results, pool.statistics()

    results, stats = run_pool(scenario)
    assert all(r.error_type is None and r.cold for r in results)
    assert len({r.environment_id for r in results}) == 20
    assert len({json.loads(r.payload) for r in results}) == 20
    assert stats.total == stats.idle == stats.ready == 20 and stats.busy == 0
    assert stats.functions["faults"].idle == 20


def test_the_most_recently_used_idle_environment_is_reused_first(run_pool):
    async def scenario(pool: Pool):
        event = json.dumps({"sleep": 0.2}).encode()
        first = await asyncio.gather(*(call(pool, SLEEPY, event) for _ in range(2)))
        again = await call(pool, SLEEPY)
        return first, again

    first, again = run_pool(scenario)
    # Both returned to idle; the one that finished last sits on top of the stack.
    assert again.environment_id in {r.environment_id for r in first}
    assert not again.cold


def test_a_new_revision_retires_the_old_environment(run_pool):
    async def scenario(pool: Pool):
        old = await call(pool, SLEEPY)
        new = await call(pool, dataclasses.replace(SLEEPY, revision="r2"))
        return old, new, pool.statistics()

    old, new, stats = run_pool(scenario)
    assert new.cold and new.environment_id != old.environment_id
    assert not psutil.pid_exists(json.loads(old.payload)) or _is_zombie(json.loads(old.payload))
    assert stats.total == 1


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_retire_kills_idle_now_and_busy_after_their_call(run_pool):
    async def scenario(pool: Pool):
        idle = await call(pool, SLEEPY)
        async with borrow(pool, SLEEPY) as busy:
            assert busy.id == idle.environment_id
            other = asyncio.ensure_future(call(pool, SLEEPY, b'{"sleep": 0.3}'))
            await asyncio.sleep(0.2)
            await pool.retire("faults")
            mid = pool.statistics()
            result = await invoke(busy)
        await other
        return mid, result, pool.statistics()

    mid, result, after = run_pool(scenario)
    assert mid.total == 2 and mid.idle == 0
    assert result.error_type is None
    assert after.total == 0


def test_idle_environments_are_reaped_after_the_idle_timeout(run_pool):
    async def scenario(pool: Pool):
        await call(pool, SLEEPY)
        kept = await pool.reap_idle()
        await asyncio.sleep(0.3)
        reaped = await pool.reap_idle()
        return kept, reaped, pool.statistics()

    kept, reaped, stats = run_pool(scenario, idle_timeout_s=0.2)
    assert (kept, reaped, stats.total) == (0, 1, 0)


def test_prewarmed_environments_serve_without_a_cold_start(run_pool):
    async def scenario(pool: Pool):
        ready = await pool.prewarm(SLEEPY, 3)
        stats = pool.statistics()
        result = await call(pool, SLEEPY)
        failed = await pool.prewarm(make_spec("broken_import"), 2)
        return ready, stats, result, failed, pool.statistics()

    ready, stats, result, failed, after = run_pool(scenario)
    assert ready == 3 and stats.idle == 3
    assert not result.cold and result.init_duration_ms is None
    assert failed == 0 and after.total == 3


def test_close_kills_busy_and_idle_environments_and_leaves_no_process(run_pool):
    async def scenario(pool: Pool):
        await pool.prewarm(SLEEPY, 2)
        templates = pool.launcher.template_pids()
        pids = [p.pid for p in child_processes() if p.pid not in templates]
        busy = asyncio.ensure_future(call(pool, SLEEPY, b'{"sleep": 30}'))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await pool.close()
        result = await busy
        return pids, result, time.monotonic() - started

    pids, result, took = run_pool(scenario)
    assert len(pids) == 2
    assert result.error_type == "Runtime.ExitError" and took < 5
    assert not child_processes()


def test_environment_status_moves_only_along_legal_transitions(run_pool):
    import pytest

    from lamina.engine.environment_status import IllegalTransition

    async def scenario(pool: Pool):
        fresh = Environment(SLEEPY, pool.launcher)
        assert fresh.status is EnvironmentStatus.STARTING
        await fresh.close()
        assert fresh.status is EnvironmentStatus.DEAD
        async with borrow(pool, SLEEPY) as env:  # the pool hands out started environments
            assert env.status is EnvironmentStatus.READY
            await invoke(env)
            assert env.status is EnvironmentStatus.READY
            pending = asyncio.ensure_future(invoke(env, b'{"sleep": 0.2}'))
            await asyncio.sleep(0.1)
            assert env.status is EnvironmentStatus.BUSY
            with pytest.raises(IllegalTransition):
                await invoke(env)
            await pending
            await env.close()
            assert env.status is EnvironmentStatus.DEAD
            with pytest.raises(IllegalTransition):
                env._move(EnvironmentStatus.READY)

    run_pool(scenario)


def test_many_concurrent_borrowers_on_the_stock_asyncio_loop():
    async def main():
        launcher = Launcher()
        pool = Pool(launcher)
        try:
            spec = make_spec("basic", handler="app.echo")
            for _ in range(3):
                results = await asyncio.gather(*(call(pool, spec, b"[1]") for _ in range(8)))
                assert [r.payload for r in results] == [b"[1]"] * 8
            return pool.statistics()
        finally:
            await pool.close()
            await launcher.close()

    stats = asyncio.run(main())
    assert stats.total == 8 and stats.cold_starts == 8  # warm reuse across rounds
    assert not child_processes()
