"""The store contract's fixtures: one `store` per backend, opened before and closed after a test.

Every test in tests/store/ that takes `store` runs once per backend in BACKENDS. The Redis
backend runs on database 0 of the session's redis-server (tests/conftest.py), emptied before
each test; without the binary it skips locally and fails on CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from lamina.store.base import Store
from lamina.store.memory import MemoryStore
from lamina.store.redis_store import RedisStore
from lamina.store.sqlite import SqliteStore


def _redis_store(request: pytest.FixtureRequest) -> Store:
    server = request.getfixturevalue("redis_server")
    server.command("FLUSHDB")  # database 0 only: other tests hold the others
    return RedisStore.from_url(server.url)


#: How to build each backend's store for one test, given the test's request and a fresh
#: temporary directory.
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "memory": lambda _request, _tmp: MemoryStore(),
    "sqlite": lambda _request, tmp: SqliteStore(tmp),
    "redis": lambda request, _tmp: _redis_store(request),
}


@pytest.fixture
def anyio_backend() -> str:
    """The store runs on asyncio (uvloop in a node); tests need no other event loop."""
    return "asyncio"


@pytest.fixture(params=list(BACKENDS))
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[Store]:
    """An open, empty store of the backend named by the parameter."""
    opened = BACKENDS[request.param](request, tmp_path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture(params=[name for name in BACKENDS if name != "memory"])
async def reference_and_store(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[tuple[Store, Store]]:
    """An open memory store (the reference) and an open store of another backend, both empty."""
    reference, other = MemoryStore(), BACKENDS[request.param](request, tmp_path)
    await reference.open()
    await other.open()
    try:
        yield reference, other
    finally:
        await other.close()
        await reference.close()
