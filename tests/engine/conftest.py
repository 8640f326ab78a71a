"""Fixtures for driving Pool and Environment directly against real child processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psutil
import pytest
import uvloop

from lamina.engine.pool import Pool

T = TypeVar("T")
Runner = Callable[..., Any]


@pytest.fixture
def run_pool() -> Iterator[Callable[[Callable[[Pool], Awaitable[T]]], T]]:
    """Run `scenario(pool)` on uvloop with a fresh pool, closed afterwards."""

    def runner(scenario: Callable[[Pool], Awaitable[T]], **pool_args: Any) -> T:
        async def main() -> T:
            pool = Pool(**pool_args)
            try:
                return await scenario(pool)
            finally:
                await pool.close()

        return uvloop.run(main())

    yield runner  # type: ignore[misc]
    assert not psutil.Process().children(recursive=True), "environment processes leaked"
