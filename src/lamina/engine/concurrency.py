"""Concurrency as counted leases: the account limit, reserved pools and the unreserved rest.

Every invocation, whatever its source, holds a lease from admission until its environment is
free again: `async with concurrency.lease(function) as lease:` admits or raises TooManyRequests
(counted as a throttle); `wait_lease` waits for a free slot instead (queued work: not a
throttle). Leaving the block returns the slot, in the style of trio's CapacityLimiter.

A function with reserved concurrency draws only from its own pool; every other function shares
what the reservations leave of the account limit (AWS: configuration-concurrency).
Limits can change while leases are out: lowering one never kills running work, it only stops
new admissions until enough leases come back.

Leases are counted here, in memory, on the hot path; `engine/leases.py` publishes this node's
counts to the store under an expiring record and feeds back what other live nodes hold
(`set_others`), so limits hold across nodes sharing a store and a dead node's slots return
when its record expires.

On a Redis store the node passes `GlobalSlots` (`use_global`): admission is then one Lua script
over slot sets every node shares, so the account and reserved limits hold across nodes at every
instant; the in-memory counts still follow this node's leases for its statistics. Without it
(SQLite, memory) admission awaits nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lamina.clock import Clock
from lamina.errors import TooManyRequests

if TYPE_CHECKING:
    from lamina.engine.global_slots import GlobalSlots

log = logging.getLogger("lamina.concurrency")

#: Reason codes of TooManyRequestsException (reference D.2).
RESERVED_LIMIT = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT = "ConcurrentInvocationLimitExceeded"
#: The Reasons of a full concurrency pool (as opposed to other throttles, such as memory).
CONCURRENCY_LIMITS = frozenset({RESERVED_LIMIT, ACCOUNT_LIMIT})
#: With global slots, how often a waiting admission asks again when no local lease returned
#: (other nodes' slots return without a local wake-up).
GLOBAL_RETRY_S = 0.1


@dataclass(frozen=True)
class Lease:
    """One admitted invocation of `function`; `reserved` says which pool it came from."""

    function: str
    reserved: bool
    slot: str | None = None  # its global slot id (Redis store), None when counted here only


@dataclass(frozen=True)
class ConcurrencyStatistics:
    account_limit: int
    unreserved_limit: int
    unreserved_in_use: int
    in_use: dict[str, int] = field(default_factory=dict)
    reserved: dict[str, int] = field(default_factory=dict)
    throttles: dict[str, int] = field(default_factory=dict)


class Concurrency:
    """Admission control for one node (leases held in memory)."""

    def __init__(self, account_limit: int, clock: Clock | None = None) -> None:
        self.account_limit = account_limit
        self.clock = clock or Clock()
        self._reserved: dict[str, int] = {}
        self._in_use: dict[str, int] = {}
        self._unreserved_in_use = 0
        self._throttles: dict[str, int] = {}
        self._others: dict[str, int] = {}  # leases other live nodes hold, per function
        self._others_unreserved = 0
        self._freed = asyncio.Event()
        self._global: GlobalSlots | None = None

    def use_global(self, slots: GlobalSlots) -> None:
        """Admit through `slots` (shared by every node) from now on; see the module docstring."""
        self._global = slots

    @property
    def unreserved_limit(self) -> int:
        return self.account_limit - sum(self._reserved.values())

    def set_reserved(self, function: str, value: int | None) -> None:
        """Reserve `value` slots for `function` (None: share the unreserved pool)."""
        if value is None:
            self._reserved.pop(function, None)
        else:
            self._reserved[function] = value
        self._wake()

    async def load_reserved(self, reserved: dict[str, int | None]) -> None:
        """Every function's reservation at start-up (and, on Redis, for every node's
        admission: the shared record is made exactly these)."""
        for function, value in reserved.items():
            self.set_reserved(function, value)
        if self._global is not None:
            await self._global.sync_reserved({f: v for f, v in reserved.items() if v is not None})

    def set_others(self, in_use: dict[str, int], unreserved_in_use: int) -> None:
        """What other live nodes hold now (from their published lease records)."""
        freed = unreserved_in_use < self._others_unreserved or any(
            in_use.get(f, 0) < n for f, n in self._others.items()
        )
        self._others = in_use
        self._others_unreserved = unreserved_in_use
        if freed:
            self._wake()

    def held(self) -> tuple[dict[str, int], int]:
        """This node's leases: per function, and how many come from the unreserved pool."""
        return dict(self._in_use), self._unreserved_in_use

    @asynccontextmanager
    async def lease(self, function: str) -> AsyncIterator[Lease]:
        """Hold one slot of `function` for the block; the slot returns when the block ends.

        Raises:
            TooManyRequests: no free slot now, with AWS's Reason (counted as a throttle).
        """
        if self._global is None:
            lease = self.acquire(function)
            try:
                yield lease
            finally:
                self.release(lease)
            return
        try:
            lease = await self._admit_global(function)
        except TooManyRequests:
            self.count_throttle(function)
            raise
        try:
            yield lease
        finally:
            await self._release_global(lease)

    @asynccontextmanager
    async def wait_lease(
        self, function: str, timeout_s: float | None = None
    ) -> AsyncIterator[Lease]:
        """Like `lease`, but wait for a free slot first (queued work: waiting is no throttle).

        Raises:
            TooManyRequests: still no free slot after `timeout_s` (None: wait for ever); not
                counted as a throttle.
        """
        if self._global is None:
            lease = await self._wait_acquire(function, timeout_s)
            try:
                yield lease
            finally:
                self.release(lease)
            return
        lease = await self._wait_global(function, timeout_s)
        try:
            yield lease
        finally:
            await self._release_global(lease)

    async def _admit_global(self, function: str) -> Lease:
        assert self._global is not None
        slot = await self._global.admit(function, account_limit=self.account_limit)
        lease = self._take(function)
        return Lease(lease.function, lease.reserved, slot)

    async def _wait_global(self, function: str, timeout_s: float | None) -> Lease:
        deadline = None if timeout_s is None else self.clock.monotonic() + timeout_s
        while True:
            try:
                return await self._admit_global(function)
            except TooManyRequests:
                left = None if deadline is None else deadline - self.clock.monotonic()
                if left is not None and left <= 0:
                    raise
                pause = GLOBAL_RETRY_S if left is None else min(left, GLOBAL_RETRY_S)
                await self.clock.wait(self._freed, pause)

    async def _release_global(self, lease: Lease) -> None:
        self.release(lease)
        if self._global is not None and lease.slot is not None:
            self._global.release_soon(lease.slot)

    async def _wait_acquire(self, function: str, timeout_s: float | None) -> Lease:
        deadline = None if timeout_s is None else self.clock.monotonic() + timeout_s
        while reason := self._full(function):
            left = None if deadline is None else deadline - self.clock.monotonic()
            if left is not None and left <= 0:
                raise TooManyRequests(reason)
            freed = self._freed
            if left is None:
                await freed.wait()
            else:
                await self.clock.wait(freed, left)
        return self._take(function)

    def acquire(self, function: str) -> Lease:
        """A lease, or TooManyRequests with AWS's Reason (counted as a throttle). The caller
        must `release` it; prefer `async with lease(...)`."""
        reason = self._full(function)
        if reason:
            self.count_throttle(function)
            raise TooManyRequests(reason)
        return self._take(function)

    def reserved(self, function: str) -> int | None:
        """`function`'s reserved concurrency, None when it draws on the unreserved pool."""
        return self._reserved.get(function)

    def available(self, function: str) -> int:
        """How many leases `function` could take right now."""
        reserved = self._reserved.get(function)
        if reserved is not None:
            return max(0, reserved - self._function_in_use(function))
        return max(0, self.unreserved_limit - self._unreserved_in_use - self._others_unreserved)

    def _function_in_use(self, function: str) -> int:
        return self._in_use.get(function, 0) + self._others.get(function, 0)

    def _full(self, function: str) -> str | None:
        reserved = self._reserved.get(function)
        if reserved is not None:
            return RESERVED_LIMIT if self._function_in_use(function) >= reserved else None
        unreserved = self._unreserved_in_use + self._others_unreserved
        return ACCOUNT_LIMIT if unreserved >= self.unreserved_limit else None

    def _take(self, function: str) -> Lease:
        self._in_use[function] = self._in_use.get(function, 0) + 1
        reserved = function in self._reserved
        if not reserved:
            self._unreserved_in_use += 1
        return Lease(function, reserved)

    async def wait_capacity(self, timeout_s: float) -> None:
        """Return when any lease is released or a limit changes, or after `timeout_s`."""
        await self.clock.wait(self._freed, timeout_s)

    def _wake(self) -> None:
        self._freed.set()
        self._freed = asyncio.Event()

    def release(self, lease: Lease) -> None:
        """Give back a lease taken with `acquire`."""
        left = self._in_use.get(lease.function, 0) - 1
        if left > 0:
            self._in_use[lease.function] = left
        else:
            self._in_use.pop(lease.function, None)
        if not lease.reserved:
            self._unreserved_in_use -= 1
        self._wake()

    def count_throttle(self, function: str) -> None:
        """Count a throttle of `function` (admission here, or node capacity in the pool)."""
        self._throttles[function] = self._throttles.get(function, 0) + 1

    def statistics(self) -> ConcurrencyStatistics:
        return ConcurrencyStatistics(
            account_limit=self.account_limit,
            unreserved_limit=self.unreserved_limit,
            unreserved_in_use=self._unreserved_in_use,
            in_use=dict(self._in_use),
            reserved=dict(self._reserved),
            throttles=dict(self._throttles),
        )
