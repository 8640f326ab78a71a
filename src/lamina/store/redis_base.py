"""The Redis store's connection, its Lua scripts and its error edge (shared by every part).

Each Lua script is a named file in store/redis_lua/, headed by the keys it touches; it is
registered once and run with EVALSHA (redis-py loads it again if the server forgot it), so a hot
operation is one round trip. Every driver error becomes a StoreError at this edge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from importlib import resources
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from lamina.errors import StoreError

P = ParamSpec("P")
R = TypeVar("R")

#: Seconds to connect, and to wait for any one answer, before a call fails with StoreError.
CONNECT_TIMEOUT_S = 2.0
ANSWER_TIMEOUT_S = 3.0
#: Connections per node; more concurrent calls queue for one.
MAX_CONNECTIONS = 64


def translated(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Wrap a store method so a Redis failure surfaces as StoreError (and a timeout too)."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError, TimeoutError) as exc:
            raise StoreError(f"redis: {type(exc).__name__}: {exc}") from exc

    return wrapper


def connect(url: str, *, answer_timeout_s: float | None = ANSWER_TIMEOUT_S) -> aioredis.Redis:
    """A client for `url` (redis://, rediss:// or unix://) on a bounded pool: a call waits for a
    free connection rather than failing when all are busy. `answer_timeout_s` None: wait for
    answers without limit (a pub/sub subscription). Closing the client closes its pool."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=ANSWER_TIMEOUT_S,
        decode_responses=False,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=answer_timeout_s,
        health_check_interval=10,
    )
    return aioredis.Redis.from_pool(pool)


def script_source(name: str) -> str:
    """The Lua source of script `name` (store/redis_lua/NAME.lua)."""
    return resources.files("lamina.store").joinpath(f"redis_lua/{name}.lua").read_text()


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_bytes(value: object) -> bytes:
    """A reply as bytes (replies are bytes: the client does not decode)."""
    return value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[call-overload]


class RedisBase:
    """The client and the scripts every part of the Redis store runs on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis: aioredis.Redis = connect(url)
        self._scripts: dict[str, AsyncScript] = {}

    @translated
    async def run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run the Lua script `name` (store/redis_lua/NAME.lua) over `keys` with `args`."""
        script = self._scripts.get(name)
        if script is None:
            script = self.redis.register_script(script_source(name))
            self._scripts[name] = script
        return await script(keys=list(keys), args=list(args))
