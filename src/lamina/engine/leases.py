"""Concurrency leases in the store: each node publishes what it holds under an expiring record.

Every `interval_s` a node writes its lease counts (per function, and from the unreserved pool)
as a document that expires `ttl_s` later, reads the records of the other nodes, gives their
live totals to `Concurrency.set_others`, and deletes records that expired: a node that died
holding slots gives them back within `ttl_s`. Admission itself stays in memory, so the hot
path never touches the store; across nodes a limit can be overshot only by what other nodes
admitted within one interval (on Redis, admission is exact: `GlobalSlots`).

The record also carries where each of the node's provisioned concurrency configs stands
(provisioned environments are per node), so any node can answer for the cluster.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable

import msgspec

from lamina.clock import Clock
from lamina.engine.concurrency import Concurrency
from lamina.errors import StoreError
from lamina.store.base import Delete, Put, Store

log = logging.getLogger("lamina.leases")

KIND = "concurrency-lease"
#: How often a node publishes its leases and reads the others'.
INTERVAL_S = 1.0
#: A record not refreshed for this long belongs to a dead node.
TTL_S = 5.0


class NodeLeases(msgspec.Struct, frozen=True, kw_only=True):
    """One node's leases at one moment."""

    node_id: str = msgspec.field(name="node")  # stored under "node"
    expires_at: float  # epoch seconds
    in_use: dict[str, int]
    unreserved_in_use: int
    #: "function:qualifier" -> (allocated, status, status reason or "") on this node.
    provisioned: dict[str, tuple[int, str, str]] = msgspec.field(default_factory=dict)


#: This node's provisioned figures, as `NodeLeases.provisioned` holds them.
ProvisionedFigures = Callable[[], dict[str, tuple[int, str, str]]]


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(NodeLeases).decode


class LeaseBook:
    """Publishes this node's leases and applies the other live nodes' to `concurrency`."""

    def __init__(
        self,
        store: Store,
        concurrency: Concurrency,
        clock: Clock,
        *,
        node_id: str | None = None,
        interval_s: float = INTERVAL_S,
        ttl_s: float = TTL_S,
    ) -> None:
        self.store = store
        self.concurrency = concurrency
        self.clock = clock
        self.node_id = node_id or uuid.uuid4().hex
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self.provisioned: ProvisionedFigures = dict

    def _mine(self, now: float) -> NodeLeases:
        in_use, unreserved = self.concurrency.held()
        return NodeLeases(
            node_id=self.node_id,
            expires_at=now + self.ttl_s,
            in_use=in_use,
            unreserved_in_use=unreserved,
            provisioned=self.provisioned(),
        )

    async def sync(self) -> None:
        """Publish this node's leases, then read every other node's (one round)."""
        now = self.clock.time()
        mine = self._mine(now)
        ops: list[Put | Delete] = [Put(KIND, self.node_id, _encode(mine))]
        others: dict[str, int] = {}
        others_unreserved = 0
        for key, raw in await self.store.scan(KIND):
            if key == self.node_id:
                continue
            record = _decode(raw)
            if record.expires_at < now:
                ops.append(Delete(KIND, key))
                log.info("node %s stopped renewing its leases; its slots are free", key)
                continue
            for function, count in record.in_use.items():
                others[function] = others.get(function, 0) + count
            others_unreserved += record.unreserved_in_use
        await self.store.transact(ops)
        self.concurrency.set_others(others, others_unreserved)

    async def live_nodes(self) -> list[NodeLeases]:
        """Every node whose record has not expired (this one as it stands now), by node id."""
        now = self.clock.time()
        nodes = {self.node_id: self._mine(now)}
        for key, raw in await self.store.scan(KIND):
            record = _decode(raw)
            if key != self.node_id and record.expires_at >= now:
                nodes[key] = record
        return [nodes[k] for k in sorted(nodes)]

    async def others(self) -> list[NodeLeases]:
        """Every other node whose record has not expired."""
        return [n for n in await self.live_nodes() if n.node_id != self.node_id]

    async def run(self) -> None:
        while True:
            try:
                await self.sync()
            except StoreError as exc:  # a full disk: try again next round
                log.warning("renewing leases failed: %s", exc)
            await self.clock.sleep(self.interval_s)

    async def withdraw(self) -> None:
        """Remove this node's record (at a clean stop)."""
        with contextlib.suppress(Exception):
            await self.store.transact([Delete(KIND, self.node_id)])
