"""Every backend gives the reference (memory) store's answers to the same seeded random calls.

The contract tests pin each promise by hand; this walk looks for the cases nobody thought of:
a few hundred calls mixing documents, logs, async events and claims, and queue messages with
receipts, visibility, redrive and expiry, driven with one seed against both stores. Receipts are
random by design, so a trace records only whether one was given; each store is driven with its
own receipts.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lamina.store.base import Delete, Expect, LogEvent, Op, Put, Store
from lamina.store.events import AsyncEvent
from lamina.store.queues import NewMessage, Redrive, StoredMessage

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
STEPS = 250
KEYS = [f"k{i}" for i in range(4)]
VALUES = [b"a", b"b", b"c"]
FUNCTIONS = ["f", "g"]
QUEUES = ["q", "q", "q", "dlq"]  # mostly the source queue
REDRIVE = Redrive(target="dlq", max_receives=2)


class Walk:
    """One store driven by a seeded random sequence of calls; `trace` is what it answered."""

    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.now = T0
        self.trace: list[Any] = []
        self.receipts: dict[int, str] = {}  # seq -> the newest receipt this store gave
        self.sent = 0

    async def run(self) -> list[Any]:
        steps: list[Callable[[], Awaitable[Any]]] = [
            self.transact,
            self.scan,
            self.append_logs,
            self.read_logs,
            self.trim_logs,
            self.trim_log_bytes,
            self.usage,
            self.enqueue,
            self.claim,
            self.ack,
            self.reschedule,
            self.event_stats,
            self.list_events,
            self.purge_events,
            self.reset_claims,
            self.put_messages,
            self.put_messages,
            self.receive,
            self.receive,
            self.receive,
            self.delete_messages,
            self.change_visibility,
            self.change_visibility,
            self.message_counts,
            self.expire,
            self.purge_messages,
        ]
        for _ in range(STEPS):
            self.now += self.rng.choice([0.0, 0.5, 1.0, 5.0, 20.0])
            step = self.rng.choice(steps)
            self.trace.append((step.__name__, await step()))
        return self.trace

    # -- documents and logs -------------------------------------------------------------------
    async def transact(self) -> bool:
        ops: list[Op] = []
        for _ in range(self.rng.randint(0, 3)):
            key, value = self.rng.choice(KEYS), self.rng.choice(VALUES)
            kind = self.rng.choice(["put", "delete", "expect", "expect-absent"])
            if kind == "put":
                ops.append(Put("doc", key, value))
            elif kind == "delete":
                ops.append(Delete("doc", key))
            else:
                ops.append(Expect("doc", key, None if kind == "expect-absent" else value))
        return await self.store.transact(ops)

    async def scan(self) -> Any:
        return await self.store.scan("doc", self.rng.choice(["", "k", "k1", "x"]))

    async def append_logs(self) -> None:
        group, stream = self.rng.choice(FUNCTIONS), self.rng.choice(["s1", "s2"])
        events = [LogEvent(group, stream, int(self.now) + i, f"m{i}", 0, 7) for i in range(3)]
        await self.store.append_logs(events)

    async def read_logs(self) -> list[Any]:
        got = await self.store.read_logs(
            self.rng.choice(FUNCTIONS),
            stream_prefix=self.rng.choice(["", "s1"]),
            start_ms=int(self.now) - self.rng.choice([0, 30, 1000]),
            after_id=self.rng.choice([0, 5, 20]),
            limit=self.rng.choice([1, 5, 100]),
        )
        return [(e.stream, e.timestamp_ms, e.message, e.event_id) for e in got]

    async def trim_logs(self) -> int:
        return await self.store.trim_logs(self.rng.choice(FUNCTIONS), self.rng.choice([0, 3, 10]))

    async def trim_log_bytes(self) -> int:
        group = self.rng.choice([*FUNCTIONS, None])
        return await self.store.trim_log_bytes(group, self.rng.choice([0, 60, 200]))

    async def usage(self) -> Any:
        used = await self.store.usage()
        return (used.blobs, used.logs, used.events, used.queues)  # files are the backend's own

    # -- async events -------------------------------------------------------------------------
    async def enqueue(self) -> None:
        events = [
            AsyncEvent(
                request_id=f"r{self.rng.randrange(12)}",
                function=self.rng.choice(FUNCTIONS),
                qualifier=None,
                payload=b"{}",
                enqueued_at=self.now,
                next_at=self.now + self.rng.choice([0.0, 0.0, 10.0]),
            )
            for _ in range(self.rng.randint(1, 3))
        ]
        await self.store.enqueue_events(events)

    async def claim(self) -> Any:
        return await self.store.claim_events(
            self.rng.choice(FUNCTIONS),
            now=self.now,
            claim_s=self.rng.choice([1.0, 30.0]),
            limit=self.rng.randint(0, 4),
        )

    async def ack(self) -> None:
        await self.store.ack_events([f"r{self.rng.randrange(12)}"])

    async def reschedule(self) -> None:
        await self.store.reschedule_event(
            f"r{self.rng.randrange(12)}", next_at=self.now + 5, attempts=1, last_error="E"
        )

    async def event_stats(self) -> Any:
        return await self.store.event_stats(self.rng.choice(FUNCTIONS), now=self.now)

    async def list_events(self) -> Any:
        return (
            sorted(await self.store.event_functions()),
            await self.store.list_events(self.rng.choice(FUNCTIONS), after="r3", limit=5),
        )

    async def purge_events(self) -> int:
        return await self.store.purge_events(self.rng.choice(FUNCTIONS))

    async def reset_claims(self) -> int:
        return await self.store.reset_event_claims()

    # -- queue messages -----------------------------------------------------------------------
    async def put_messages(self) -> None:
        sent_at = int(self.now * 1000)
        messages = []
        for _ in range(self.rng.randint(1, 3)):
            self.sent += 1
            delay = self.rng.choice([0.0, 0.0, 15.0])
            messages.append(
                NewMessage(
                    message_id=f"m{self.sent}",
                    body=f"body {self.sent}",
                    attributes=b"{}",
                    md5_of_body="x",
                    md5_of_attributes=None,
                    sent_at=sent_at,
                    visible_at=self.now + delay,
                )
            )
        await self.store.put_messages(self.rng.choice(QUEUES), messages)

    async def receive(self) -> list[Any]:
        got = await self.store.receive_messages(
            self.rng.choice(QUEUES),
            now=self.now,
            hide_until=self.now + self.rng.choice([0.5, 10.0, 40.0]),
            limit=self.rng.randint(1, 4),
            retention_s=300.0,
            redrive=self.rng.choice([REDRIVE, None]),
        )
        for m in got:
            assert m.receipt is not None
            self.receipts[m.seq] = m.receipt
        return [self.received(m) for m in got]

    @staticmethod
    def received(m: StoredMessage) -> tuple[Any, ...]:
        return (m.seq, m.body, m.receive_count, m.first_receive_at, m.dead_letter_source)

    async def delete_messages(self) -> None:
        picks = self.rng.sample(sorted(self.receipts), min(2, len(self.receipts)))
        await self.store.delete_messages(
            self.rng.choice(QUEUES), [(seq, self.receipts[seq]) for seq in picks]
        )

    async def change_visibility(self) -> bool:
        if not self.receipts:
            return False
        seq = self.rng.choice(sorted(self.receipts)[-3:])  # the newest are likely in flight
        return await self.store.change_visibility(
            self.rng.choice(QUEUES),
            seq,
            self.receipts[seq],
            now=self.now,
            visible_at=self.now + self.rng.choice([0.0, 25.0]),
        )

    async def message_counts(self) -> Any:
        queue = self.rng.choice(QUEUES)
        return (
            await self.store.message_counts(queue, now=self.now),
            await self.store.next_visible_at(queue, now=self.now),
        )

    async def expire(self) -> int:
        cutoff = int((self.now - 300.0) * 1000)
        return await self.store.expire_messages(self.rng.choice(QUEUES), sent_before=cutoff)

    async def purge_messages(self) -> int:
        if self.rng.random() < 0.7:  # rarely: a purge empties the queue the walk explores
            return -1
        return await self.store.purge_messages(self.rng.choice(QUEUES))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_random_walk_gets_the_reference_answers(
    reference_and_store: tuple[Store, Store], seed: int
) -> None:
    reference, store = reference_and_store

    expected = await Walk(reference, seed).run()
    got = await Walk(store, seed).run()

    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"step {i}: {want[0]}"
