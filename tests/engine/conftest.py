"""Fixtures for driving Pool and Environment directly against real child processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psutil
import pytest
import uvloop

from lamina.engine import forkserver
from lamina.engine.pool import Pool

T = TypeVar("T")
Runner = Callable[..., Any]


@pytest.fixture(params=["fork", "spawn"])
def run_pool(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[Callable[[Pool], Awaitable[T]]], T]]:
    """Run `scenario(pool)` on uvloop with a fresh pool, closed afterwards (then the fork
    server too), once with environments forked from the template and once spawned."""
    forkserver.enabled = request.param == "fork"

    def runner(scenario: Callable[[Pool], Awaitable[T]], **pool_args: Any) -> T:
        async def main() -> T:
            pool = Pool(**pool_args)
            if forkserver.enabled:
                assert await forkserver.wait_ready()
            try:
                return await scenario(pool)
            finally:
                await pool.close()
                await forkserver.close()

        return uvloop.run(main())

    try:
        yield runner  # type: ignore[misc]
    finally:
        forkserver.enabled = True
    assert not psutil.Process().children(recursive=True), "environment processes leaked"
