"""Notices between the nodes that share one Redis store: what one node changed, every node knows.

A node publishes a notice on one pub/sub channel when a function changes through it (code,
configuration, concurrency, aliases, event invoke config), when it queues async events, when
an SQS queue changes, and when a function's event queue is paused or resumed. Every other
node applies the notice as if the change had happened locally: the function-changed listeners
run (the invoker forgets its resolve and spec caches and retires environments running old code,
reserved concurrency is read again, provisioned environments are reconciled), the queue
registry reads the queue again, a poller wakes for queued events, the pause set follows.
Notices are hints on top of the shared store, never the data itself: a node that missed one
(a lost connection) still reads the truth from the store; it resubscribes by itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

import msgspec
import redis.asyncio as aioredis

from lamina.store import redis_keys as keys
from lamina.store.redis_base import connect

log = logging.getLogger("lamina.cluster")

#: Wait before subscribing again after the connection to Redis broke.
RESUBSCRIBE_S = 1.0

Handler = Callable[[str], Awaitable[object]]


class Notice(msgspec.Struct, frozen=True):
    node: str
    kind: str  # "function" | "provisioned" | "mapping" | "queue" | "events" | "paused" | "resumed"
    name: str


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Notice).decode
#: Set while a remote notice is being applied, so applying it does not publish it again.
_applying_remote: contextvars.ContextVar[bool] = contextvars.ContextVar("remote", default=False)


class ClusterLink:
    """Publishes this node's notices and applies every other node's."""

    def __init__(self, url: str, node_id: str) -> None:
        self.node_id = node_id
        self.redis: aioredis.Redis = connect(url, answer_timeout_s=None)
        self._handlers: dict[str, Handler] = {}
        self._ready = asyncio.Event()

    def handle(self, kind: str, handler: Handler) -> None:
        """Run `handler(name)` for each notice of `kind` another node publishes."""
        self._handlers[kind] = handler

    async def publish(self, kind: str, name: str) -> None:
        """Tell the other nodes (unless this call is itself applying their notice)."""
        if _applying_remote.get():
            return
        try:
            await self.redis.publish(keys.NOTICES, _encode(Notice(self.node_id, kind, name)))
        except Exception as exc:  # a hint: the store call that made the change already failed
            log.warning("notice %s %s not published: %s", kind, name, exc)

    async def wait_subscribed(self, timeout_s: float = 5.0) -> None:
        """Return once the first subscription is in place (or after `timeout_s`)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            log.warning("not subscribed to cluster notices yet")

    async def run(self) -> None:
        """Apply notices forever, resubscribing after a broken connection."""
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cluster notices interrupted (%s); subscribing again", exc)
            self._ready.clear()
            await asyncio.sleep(RESUBSCRIBE_S)

    async def _listen(self) -> None:
        async with self.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(keys.NOTICES)
            self._ready.set()
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await self._apply(_decode(message["data"]))

    async def _apply(self, notice: Notice) -> None:
        handler = self._handlers.get(notice.kind)
        if notice.node == self.node_id or handler is None:
            return
        token = _applying_remote.set(True)
        try:
            await handler(notice.name)
        except Exception:
            log.exception("applying notice %s %s failed", notice.kind, notice.name)
        finally:
            _applying_remote.reset(token)

    async def close(self) -> None:
        await self.redis.aclose()
