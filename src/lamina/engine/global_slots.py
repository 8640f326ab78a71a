"""Exact concurrency across every node on one Redis: each slot is a lease in Redis.

Admission is one Lua script (store/redis_lua/admit_slot.lua) over the function's, the
unreserved pool's and the account's slot sets, so the limits hold across all nodes at every
instant, not only within a sync interval. Slot writes stay out of Redis's AOF and replication
(leases, not data: no fsync on the invoke path). Each slot is a member scored by its lease's
end; the holding node extends its slots every `renew_s`, so a node killed with SIGKILL stops
renewing and its slots return within `lease_s` (the next admission drops ended leases).
Throttles carry the same Reason values as the in-memory `Concurrency`.

A node on a Redis store hands it to `Concurrency.use_global`: every lease (sync invokes and
queued work alike) is then a slot here. Lease ends are wall-clock times, so the nodes' clocks
must agree to well within `lease_s` (NTP).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from lamina.clock import Clock
from lamina.errors import TooManyRequests
from lamina.store import redis_keys as keys
from lamina.store.redis_base import RedisBase

log = logging.getLogger("lamina.slots")

#: A slot not renewed for this long belongs to a dead node.
LEASE_S = 10.0
#: How often a node extends the leases of its slots.
RENEW_S = 3.0


class GlobalSlots(RedisBase):
    """This node's slots in the shared slot sets."""

    def __init__(
        self, url: str, clock: Clock, *, lease_s: float = LEASE_S, renew_s: float = RENEW_S
    ) -> None:
        super().__init__(url)
        self.clock = clock
        self.lease_s = lease_s
        self.renew_s = renew_s
        self._held: dict[str, str] = {}  # slot id -> function

    async def admit(
        self, function: str, *, reserved: int | None, unreserved_limit: int, account_limit: int
    ) -> str:
        """A slot id for one invocation of `function`, or TooManyRequests with its Reason."""
        slot = uuid.uuid4().hex
        now = self.clock.time()
        args = [
            repr(now),
            repr(now + self.lease_s),
            slot,
            -1 if reserved is None else reserved,
            unreserved_limit,
            account_limit,
        ]
        answer = await self.run("admit_slot", keys.slot_keys(function), args)
        reason = answer.decode() if isinstance(answer, bytes) else str(answer)
        if reason != "OK":
            raise TooManyRequests(reason)
        self._held[slot] = function
        return slot

    async def release(self, slot: str) -> None:
        """Give a slot back (at once, not at its lease's end)."""
        function = self._held.pop(slot, None)
        if function is None:
            return
        await self.run("release_slot", keys.slot_keys(function), [slot])

    async def renew(self) -> None:
        """Extend every slot this node holds by `lease_s` from now (one round trip)."""
        if not self._held:
            return
        until = self.clock.time() + self.lease_s
        held = list(self._held.items())
        slot_keys = [key for _slot, function in held for key in keys.slot_keys(function)]
        await self.run("renew_slots", slot_keys, [repr(until), *(slot for slot, _ in held)])

    async def renew_forever(self) -> None:
        """Extend this node's slots every `renew_s` while the node lives."""
        while True:
            await asyncio.sleep(self.renew_s)
            try:
                await self.renew()
            except Exception as exc:  # Redis unreachable: the next round tries again
                log.warning("could not renew concurrency slots: %s", exc)

    async def counts(self, function: str) -> tuple[int, int, int]:
        """Live slots now: the function's, the unreserved pool's, the account's."""
        now = repr(self.clock.time())
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys.slot_keys(function):
                pipe.zcount(key, now, "+inf")
            fn, unreserved, account = await pipe.execute()
        return int(fn), int(unreserved), int(account)
