"""Event source mappings: which queue feeds which function, and how (batch size, window,
maximum concurrency, partial batch responses). Stored like every control-plane record."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import msgspec

from lamina.clock import Clock
from lamina.control.aliases import AliasService
from lamina.control.validate import check_range
from lamina.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lamina.store.base import Delete, Put, Store

KIND = "mapping"
#: AWS defaults and limits for SQS sources (reference F.4).
DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 10_000
MAX_BATCHING_WINDOW_S = 300
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"

QueueExists = Callable[[str], Awaitable[bool]]


class Mapping(msgspec.Struct, frozen=True, kw_only=True):
    uuid: str
    function: str
    qualifier: str | None
    source_arn: str
    batch_size: int = DEFAULT_BATCH_SIZE
    batching_window_s: int = 0
    maximum_concurrency: int | None = None
    response_types: list[str] = msgspec.field(default_factory=list)
    enabled: bool = True
    last_modified: float = 0.0
    last_result: str = "No records processed"


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Mapping)


def check(m: Mapping) -> None:
    """AWS's validation of the numbers and types of a mapping."""
    check_range(m.batch_size, "batchSize", 1, MAX_BATCH_SIZE)
    check_range(m.batching_window_s, "maximumBatchingWindowInSeconds", 0, MAX_BATCHING_WINDOW_S)
    if m.batch_size > 10 and m.batching_window_s < 1:
        raise InvalidParameterValue(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is"
            " greater than 10"
        )
    if m.maximum_concurrency is not None:
        check_range(m.maximum_concurrency, "scalingConfig.maximumConcurrency", 2, 1000)
    if any(t != REPORT_BATCH_ITEM_FAILURES for t in m.response_types):
        raise InvalidParameterValue(
            f"FunctionResponseTypes may contain only {REPORT_BATCH_ITEM_FAILURES}"
        )


#: Told `(mapping, uuid)` after a mapping is created or updated, `(None, uuid)` after a delete.
MappingListener = Callable[["Mapping | None", str], Awaitable[None]]


async def _unwatched(mapping: Mapping | None, key: str) -> None:
    """The default listener: nothing polls (unit tests)."""


class MappingService:
    """CRUD of event source mappings; each change is told to `changed` (which runs pollers)."""

    def __init__(
        self,
        store: Store,
        aliases: AliasService,
        clock: Clock,
        queue_exists: QueueExists,
        changed: MappingListener = _unwatched,
    ) -> None:
        self.store = store
        self.aliases = aliases
        self.clock = clock
        self.queue_exists = queue_exists
        self._changed = changed

    async def all(self) -> list[Mapping]:
        return [_dec.decode(v) for _, v in await self.store.scan(KIND)]

    async def get(self, key: str) -> Mapping:
        raw = await self.store.get(KIND, key)
        if raw is None:
            raise ResourceNotFound("The resource you requested does not exist.")
        return _dec.decode(raw)

    async def _check_target(self, m: Mapping) -> None:
        await self.aliases.resolve(m.function, m.qualifier)
        if not m.source_arn.startswith("arn:aws:sqs:") or not await self.queue_exists(m.source_arn):
            raise InvalidParameterValue(
                f"Error occurred while ReceiveMessage. SQS Error Code: QueueDoesNotExist."
                f" EventSourceArn: {m.source_arn} is not a queue of this node"
            )

    async def create(self, m: Mapping) -> Mapping:
        check(m)
        await self._check_target(m)
        for other in await self.all():
            if other.source_arn == m.source_arn and other.function == m.function:
                raise ResourceConflict(
                    f'An event source mapping with SQS arn (" {m.source_arn} ") and function'
                    f' (" {m.function} ") already exists. Please update or delete the existing'
                    f" mapping with UUID {other.uuid}"
                )
        m = msgspec.structs.replace(m, uuid=str(uuid.uuid4()), last_modified=self.clock.time())
        await self.store.transact([Put(KIND, m.uuid, _enc.encode(m))])
        await self._changed(m, m.uuid)
        return m

    async def update(self, m: Mapping) -> Mapping:
        check(m)
        await self._check_target(m)
        m = msgspec.structs.replace(m, last_modified=self.clock.time())
        await self.store.transact([Put(KIND, m.uuid, _enc.encode(m))])
        await self._changed(m, m.uuid)
        return m

    async def record_result(self, key: str, result: str) -> None:
        """Remember the last processing result (shown as LastProcessingResult)."""
        raw = await self.store.get(KIND, key)
        if raw is None:
            return
        m = _dec.decode(raw)
        if m.last_result != result:
            m = msgspec.structs.replace(m, last_result=result)
            await self.store.transact([Put(KIND, key, _enc.encode(m))])

    async def delete(self, key: str) -> Mapping:
        m = await self.get(key)
        await self.store.transact([Delete(KIND, key)])
        await self._changed(None, key)
        return m
