"""Fixtures for driving Pool and Environment directly against real child processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
import uvloop
from envtools import child_processes

from lamina.engine.launcher import Launcher
from lamina.engine.pool import Pool

T = TypeVar("T")
Runner = Callable[..., Any]


@pytest.fixture(params=["fork", "spawn"])
def run_pool(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[Callable[[Pool], Awaitable[T]]], T]]:
    """Run `scenario(pool)` on uvloop with a fresh pool, closed afterwards (then its launcher
    too), once with environments forked from the template and once spawned."""
    fork = request.param == "fork"

    def runner(scenario: Callable[[Pool], Awaitable[T]], **pool_args: Any) -> T:
        async def main() -> T:
            launcher = Launcher(fork=fork)
            pool = Pool(launcher, **pool_args)
            if fork:
                assert await launcher.start()
            try:
                return await scenario(pool)
            finally:
                await pool.close()
                await launcher.close()

        return uvloop.run(main())

    yield runner  # type: ignore[misc]
    assert not child_processes(), "environment processes leaked"
