"""Put/GetFunctionRecursionConfig: whether a function may run in a recursive loop.

`RecursiveLoop` is `Terminate` (the default: a loop is stopped after 16 hops, see
`engine/recursion.py`) or `Allow`. The setting is stored with the creation time of the
function it belongs to, so a function deleted and created again starts from the default.
"""

from __future__ import annotations

import msgspec

from lamina.control.functions import FunctionService
from lamina.errors import InvalidParameterValue
from lamina.store.base import Put

KIND = "recursion-config"
ALLOW, TERMINATE = "Allow", "Terminate"


class RecursionConfig(msgspec.Struct, frozen=True, kw_only=True):
    recursive_loop: str
    function_created: float


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(RecursionConfig)


class RecursionConfigService:
    """Stores each function's RecursiveLoop (read only when a loop reaches the limit, so it
    is not cached: every node of a cluster sees a change at once)."""

    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions

    async def get(self, name: str) -> str:
        """The function's RecursiveLoop.

        Raises:
            ResourceNotFound: no such function.
        """
        meta, _ = await self.functions.meta(name)
        raw = await self.functions.store.get(KIND, name)
        if raw is None:
            return TERMINATE
        cfg = _dec.decode(raw)
        return cfg.recursive_loop if cfg.function_created == meta.created else TERMINATE

    async def put(self, name: str, recursive_loop: str) -> str:
        """Set the function's RecursiveLoop; returns it.

        Raises:
            InvalidParameterValue: not Allow or Terminate.
            ResourceNotFound: no such function.
        """
        if recursive_loop not in (ALLOW, TERMINATE):
            raise InvalidParameterValue(
                f"1 validation error detected: Value '{recursive_loop}' at 'recursiveLoop'"
                " failed to satisfy constraint: Member must satisfy enum value set:"
                " [Allow, Terminate]"
            )
        meta, _ = await self.functions.meta(name)
        cfg = RecursionConfig(recursive_loop=recursive_loop, function_created=meta.created)
        await self.functions.store.transact([Put(KIND, name, _enc.encode(cfg))])
        return recursive_loop
