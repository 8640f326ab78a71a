"""Environments whose process died without the node noticing yet: the call that finds out runs
on a fresh process (a cold start), never fails, since no handler had started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

from envtools import borrow, invoke, make_spec

from lamina.engine.pool import Pool


def test_a_process_killed_unnoticed_is_replaced_within_the_call(run_pool: Any) -> None:
    spec = make_spec("basic")

    async def scenario(pool: Pool) -> tuple[Any, Any, int]:
        async with borrow(pool, spec) as env:
            first = await invoke(env)
            os.kill(json.loads(first.payload)["pid"], signal.SIGKILL)
            # Blocking on purpose: the event loop must not see the death before the call.
            time.sleep(0.2)  # noqa: ASYNC251
            second = await invoke(env)
        return first, second, pool.statistics().replaced

    first, second, replaced = run_pool(scenario)
    assert second.function_error is None
    answer = json.loads(second.payload)
    assert answer["pid"] != json.loads(first.payload)["pid"] and answer["calls"] == 1
    assert second.cold and second.init_duration_ms is not None
    assert replaced == 1


def test_a_dead_idle_environment_is_never_handed_out(run_pool: Any) -> None:
    spec = make_spec("basic")

    async def scenario(pool: Pool) -> tuple[Any, int]:
        async with borrow(pool, spec) as env:
            first = await invoke(env)
        os.kill(json.loads(first.payload)["pid"], signal.SIGKILL)
        for _ in range(100):  # the loop notices the frame pipe's end of file
            if pool.statistics().idle == 1 and not env.alive:
                break
            await asyncio.sleep(0.01)
        async with borrow(pool, spec) as other:
            second = await invoke(other)
        return second, pool.statistics().replaced

    second, replaced = run_pool(scenario)
    assert second.function_error is None and second.cold
    assert replaced == 1
