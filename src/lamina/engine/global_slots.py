"""Exact concurrency across every node on one Redis: each slot is a lease in Redis.

Admission is one Lua script (store/redis_lua/admit_slot.lua) over the function's, the
unreserved pool's and the account's slot sets and the reservations (written by the node a
reservation changes through, before it answers), so the limits hold across all nodes at every
instant, not only within a sync interval or after a notice. Slot writes stay out of Redis's
AOF and replication (leases, not data: no fsync on the invoke path). Each slot is a member
scored by its lease's end; the holding node extends its slots every `renew_s`, so a node
killed with SIGKILL stops renewing and its slots return within `lease_s` (the next admission
drops ended leases).
Throttles carry the same Reason values as the in-memory `Concurrency`.

A node on a Redis store hands it to `Concurrency.use_global`: every lease (sync invokes and
queued work alike) is then a slot here. Lease ends are wall-clock times, so the nodes' clocks
must agree to well within `lease_s` (NTP).

Admission, release and `hold` run on a connection of their own (store/redis_link.py: no pool
checkout, pre-packed commands, hiredis replies); the rarer calls (renew, reservations, counts)
and every call on a rediss:// URL go through redis-py.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from lamina.clock import Clock
from lamina.errors import TooManyRequests
from lamina.store import redis_keys as keys
from lamina.store.redis_base import (
    ANSWER_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    RedisBase,
    as_text,
    script_source,
    translated,
)
from lamina.store.redis_link import ScriptLink

log = logging.getLogger("lamina.slots")

#: A slot not renewed for this long belongs to a dead node.
LEASE_S = 10.0
#: How often a node extends the leases of its slots.
RENEW_S = 3.0
#: The scripts on the invoke path, run over the node's `ScriptLink`.
HOT_SCRIPTS = ("admit_slot", "release_slot", "hold_slot")


class GlobalSlots(RedisBase):
    """This node's slots in the shared slot sets."""

    def __init__(
        self, url: str, clock: Clock, *, lease_s: float = LEASE_S, renew_s: float = RENEW_S
    ) -> None:
        super().__init__(url)
        self.clock = clock
        self.lease_s = lease_s
        self.renew_s = renew_s
        self._held: dict[str, list[str]] = {}  # slot id -> its slot sets
        self._releasing: set[asyncio.Task[None]] = set()
        self._link: ScriptLink | None = None
        if ScriptLink.supports(url):
            sources = {name: script_source(name) for name in HOT_SCRIPTS}
            self._link = ScriptLink(
                url,
                sources,
                connect_timeout_s=CONNECT_TIMEOUT_S,
                answer_timeout_s=ANSWER_TIMEOUT_S,
            )

    async def _hot(self, name: str, keys: list[str], args: list[object]) -> object:
        if self._link is None:
            return await self.run(name, keys, args)
        return await self._link.call(name, keys, args)

    async def admit(self, function: str, *, account_limit: int) -> str:
        """A slot id for one invocation of `function`, or TooManyRequests with its Reason.
        Reservations are the ones `set_reserved` wrote (by any node)."""
        slot = uuid.uuid4().hex
        now = self.clock.time()
        args = [repr(now), repr(now + self.lease_s), slot, account_limit, function]
        slot_keys = keys.slot_keys(function)
        answer = await self._hot("admit_slot", [*slot_keys, keys.SLOTS_RESERVED], args)
        if answer != b"OK":
            raise TooManyRequests(answer.decode() if isinstance(answer, bytes) else str(answer))
        self._held[slot] = slot_keys
        return slot

    @translated
    async def set_reserved(self, function: str, value: int | None) -> None:
        """Record `function`'s reserved concurrency (None: it has none) for every node."""
        if value is None:
            await self.redis.hdel(keys.SLOTS_RESERVED, function)
        else:
            await self.redis.hset(keys.SLOTS_RESERVED, function, value)

    @translated
    async def sync_reserved(self, reserved: dict[str, int]) -> None:
        """Make the recorded reservations exactly `reserved` (the store's, at start-up)."""
        recorded = {as_text(k) for k in await self.redis.hkeys(keys.SLOTS_RESERVED)}
        async with self.redis.pipeline(transaction=True) as pipe:
            gone = recorded - reserved.keys()
            if gone:
                pipe.hdel(keys.SLOTS_RESERVED, *gone)
            if reserved:
                pipe.hset(keys.SLOTS_RESERVED, mapping=dict(reserved.items()))
            await pipe.execute()

    async def hold(self, group: str, limit: int) -> str | None:
        """A slot in the slot set `group` (a full key) that holds at most `limit` live slots
        across every node, or None while it is full."""
        slot = uuid.uuid4().hex
        now = self.clock.time()
        lease_end = repr(now + self.lease_s)
        added = await self._hot("hold_slot", [group], [repr(now), lease_end, slot, limit])
        if not added:
            return None
        self._held[slot] = [group]
        return slot

    async def release(self, slot: str) -> None:
        """Give a slot back (at once, not at its lease's end)."""
        sets = self._held.pop(slot, None)
        if sets is None:
            return
        await self._hot("release_slot", sets, [slot])

    def release_soon(self, slot: str) -> None:
        """Give a slot back without waiting for Redis's answer: the command leaves in the loop
        turn after the invocation's response was written, so it reaches Redis long before the
        client's next call can (one round trip less on the invoke path). `drain` waits for
        them. With the link's connection down, a task gives it back (reconnecting)."""
        if slot not in self._held:
            return
        if self._link is not None and self._link.connected:
            sets = self._held.pop(slot)
            send, what = self._link.send, "giving back a concurrency slot"
            asyncio.get_running_loop().call_soon(send, "release_slot", sets, [slot], what)
            return
        task = asyncio.create_task(self._release_logged(slot))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_logged(self, slot: str) -> None:
        try:
            await self.release(slot)
        except Exception as exc:  # unrenewed, the slot returns when its lease ends
            log.warning("could not give back concurrency slot: %s", exc)

    async def drain(self) -> None:
        """Wait for the releases under way (before closing the connection)."""
        await asyncio.sleep(0)  # releases scheduled but not sent yet leave now
        await asyncio.gather(*self._releasing, return_exceptions=True)
        if self._link is not None:
            await self._link.flush()

    async def close(self) -> None:
        """Wait for the releases under way, then close both connections."""
        await self.drain()
        if self._link is not None:
            await self._link.close()
        await self.redis.aclose()

    async def renew(self) -> None:
        """Extend every slot this node holds by `lease_s` from now (one round trip)."""
        if not self._held:
            return
        until = self.clock.time() + self.lease_s
        held = list(self._held.items())
        slot_keys = [key for _slot, sets in held for key in sets]
        args: list[str | int] = [repr(until)]
        for slot, sets in held:
            args += [slot, len(sets)]
        await self.run("renew_slots", slot_keys, args)

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
