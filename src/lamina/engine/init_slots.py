"""The node's init budget: how many environments may run their init (process start and
handler import) at once.

A node that starts more inits than it has cores for makes every one of them slow, and slow
inits miss their time limit. `InitSlots` caps them (`--max-concurrent-inits`, default two per
core). A caller that finds the budget taken waits in line, first come first served; a caller
waiting for an environment of one spec is handed a warm one of that spec instead when one
comes back before a slot does (the pool offers it with `hand_over`). Waiting for a slot is
not part of init: the init timeout starts when the init does.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.engine.environment import Environment
    from lamina.engine.launcher import EnvironmentSpec

#: What a waiter is handed when an init slot (not a warm environment) passes to it.
SLOT = "slot"


def default_init_budget() -> int:
    """Concurrent inits a node runs by default: two per core."""
    return 2 * (os.cpu_count() or 1)


@dataclass(eq=False)
class _Waiter:
    spec: EnvironmentSpec | None  # None: only a slot will do (pre-warming)
    handed: asyncio.Future[Environment | str]


class InitSlots:
    """Init slots of one pool; `budget` None means no cap. `give_back` returns to the pool an
    environment handed to a waiter that was cancelled before it could take it."""

    def __init__(
        self, budget: int | None, give_back: Callable[[Environment], Awaitable[None]]
    ) -> None:
        self.budget = budget
        self._give_back = give_back
        self.running = 0
        self.max_seen = 0
        self._waiters: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, spec: EnvironmentSpec | None) -> Environment | str:
        """Take a slot (returns SLOT; give it back with `release`), waiting in line when
        the budget is taken. A waiter with a `spec` may be handed a warm environment of it
        instead (returned; it is the caller's to give back to the pool).

        Raises:
            LaminaError: `close` was called while waiting (the error `close` was given).
        """
        if self.budget is None or (self.running < self.budget and not self._waiters):
            self.running += 1
            self.max_seen = max(self.max_seen, self.running)
            return SLOT
        waiter = _Waiter(spec, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            return await waiter.handed
        except asyncio.CancelledError:
            handed = waiter.handed
            if handed.done() and not handed.cancelled() and handed.exception() is None:
                got = handed.result()  # handed over just as we were cancelled
                if isinstance(got, str):
                    self.release()
                else:
                    await self._give_back(got)
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        """Pass a slot to the first waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.handed.done():
                waiter.handed.set_result(SLOT)  # `running` stays: the slot changes hands
                return
        self.running -= 1

    def hand_over(self, env: Environment) -> bool:
        """Give a READY environment to the first waiter for its spec; False if none waits."""
        for waiter in self._waiters:
            if waiter.spec == env.spec and not waiter.handed.done():
                self._waiters.remove(waiter)
                waiter.handed.set_result(env)
                return True
        return False

    def close(self, error: LaminaError) -> None:
        """Fail every waiter with `error`."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.handed.done():
                waiter.handed.set_exception(error)
