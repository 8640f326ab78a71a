"""SQS-compatible queues on the store: the queue registry and the message service, built together.

`QueueService` is what the node owns and hands out. The SQS API talks to its two halves
(`registry` for queues, `messages` for messages); the engine (destinations, event source
mappings) uses the few doors below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lamina.clock import Clock
from lamina.queues.arrivals import Arrivals
from lamina.queues.messaging import MessageService, Received
from lamina.queues.registry import QueueRegistry
from lamina.store.base import Store


@dataclass(frozen=True, slots=True)
class QueueServiceStatistics:
    """Queues that exist on this node."""

    queues: int = 0


class QueueService:
    """The queue registry and the message service over one store, sharing one set of signals."""

    def __init__(
        self, store: Store, clock: Clock, *, region: str, account_id: str, endpoint_url: str
    ) -> None:
        self.arrivals = Arrivals()
        self.registry = QueueRegistry(
            store,
            clock,
            self.arrivals,
            region=region,
            account_id=account_id,
            endpoint_url=endpoint_url,
        )
        self.messages = MessageService(store, clock, self.registry, self.arrivals)

    async def start(self) -> None:
        await self.registry.start()

    async def exists(self, queue: str) -> bool:
        return self.registry.exists(queue)

    async def send(
        self, queue: str, body: str, attributes: Mapping[str, Any] | None = None, delay_s: int = 0
    ) -> str:
        """Send one message (destinations, dead-letter delivery); its id."""
        return await self.messages.send(queue, body, attributes, delay_s)

    async def receive(self, queue: str, *, max_messages: int, wait_s: float) -> list[Received]:
        """A receive with the queue's visibility timeout (event source mappings)."""
        return await self.messages.receive(queue, max_messages=max_messages, wait_s=wait_s)

    async def delete_batch(self, queue: str, receipt_handles: Sequence[str]) -> None:
        await self.messages.delete_batch(queue, receipt_handles)  # expired ones come back later

    async def expire_forever(self) -> None:
        await self.messages.expire_forever()

    def statistics(self) -> QueueServiceStatistics:
        return QueueServiceStatistics(queues=len(self.registry.all()))

    def close(self) -> None:
        """The node is stopping: open long polls answer with what they have, new ones at once."""
        self.arrivals.close()

    @property
    def closing(self) -> bool:
        """Whether `close` was called (receives no longer wait)."""
        return self.arrivals.closing
