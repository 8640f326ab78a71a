"""EventInvokeConfig per function and qualifier: retry attempts, max event age, destinations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from lamina.clock import Clock
from lamina.control.arns import FULL_ARN_RE
from lamina.control.functions import FunctionService
from lamina.control.models import LATEST
from lamina.control.validate import check_range
from lamina.errors import InvalidParameterValue, ResourceNotFound
from lamina.store.base import Delete, Put

T = TypeVar("T")
#: True if a queue ARN names an existing queue.
QueueExists = Callable[[str], Awaitable[bool]]

KIND = "event-config"
#: AWS defaults for async invocation (reference C.2).
DEFAULT_MAX_RETRY_ATTEMPTS = 2
DEFAULT_MAX_EVENT_AGE_S = 21_600


class EventInvokeConfig(msgspec.Struct, frozen=True, kw_only=True):
    function: str
    qualifier: str
    max_retry_attempts: int | None = None
    max_event_age_s: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = 0.0

    @property
    def retries(self) -> int:
        return (
            DEFAULT_MAX_RETRY_ATTEMPTS
            if self.max_retry_attempts is None
            else self.max_retry_attempts
        )

    @property
    def max_age_s(self) -> int:
        return DEFAULT_MAX_EVENT_AGE_S if self.max_event_age_s is None else self.max_event_age_s


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(EventInvokeConfig)


class EventConfigService:
    """Stores and validates event-invoke configs; `effective` answers the invoker's question."""

    def __init__(self, functions: FunctionService, clock: Clock, queue_exists: QueueExists) -> None:
        self.functions = functions
        self.clock = clock
        self.queue_exists = queue_exists
        self._cache: dict[tuple[str, str], EventInvokeConfig | None] = {}

    def forget(self, name: str) -> None:
        """Drop what is cached about function `name` (it changed)."""
        self._cache = {k: v for k, v in self._cache.items() if k[0] != name}

    async def _check_qualifier(self, name: str, qualifier: str) -> None:
        """Raises AWS's "The function doesn't exist." (Put, Update, List answer so; recorded)."""
        try:
            await self._check_exists(name, qualifier)
        except ResourceNotFound as exc:
            raise ResourceNotFound(NO_FUNCTION) from exc

    def _no_config(self, name: str, qualifier: str) -> ResourceNotFound:
        arn = self.functions.arns.function(name, qualifier)
        return ResourceNotFound(f"The function {arn} doesn't have an EventInvokeConfig")

    async def _check_exists(self, name: str, qualifier: str) -> None:
        if qualifier == LATEST:
            await self.functions.meta(name)
        elif qualifier.isdigit():
            await self.functions.version(name, qualifier)
        elif await self.functions.records.alias(name, qualifier) is None:
            raise self.functions.not_found(name, qualifier)

    async def get(self, name: str, qualifier: str) -> EventInvokeConfig:
        """Get / Delete: a missing function, qualifier or config all read "doesn't have"."""
        try:
            await self._check_exists(name, qualifier)
        except ResourceNotFound as exc:
            raise self._no_config(name, qualifier) from exc
        raw = await self.functions.store.get(KIND, f"{name}/{qualifier}")
        if raw is None:
            raise self._no_config(name, qualifier)
        return _dec.decode(raw)

    async def effective(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        """The config governing events of `name:qualifier` (AWS defaults when none is set)."""
        key = (name, qualifier or LATEST)
        if key not in self._cache:
            raw = await self.functions.store.get(KIND, f"{key[0]}/{key[1]}")
            self._cache[key] = None if raw is None else _dec.decode(raw)
        return self._cache[key] or EventInvokeConfig(function=name, qualifier=key[1])

    async def list(self, name: str) -> list[EventInvokeConfig]:
        await self._check_qualifier(name, LATEST)
        return [_dec.decode(v) for _, v in await self.functions.store.scan(KIND, f"{name}/")]

    async def put(self, cfg: EventInvokeConfig, *, merge: bool) -> EventInvokeConfig:
        """Replace (Put) or merge into (Update) the config of cfg.function:cfg.qualifier."""
        await self._check_qualifier(cfg.function, cfg.qualifier)
        if merge:
            raw = await self.functions.store.get(KIND, f"{cfg.function}/{cfg.qualifier}")
            if raw is not None:
                old = _dec.decode(raw)
                cfg = EventInvokeConfig(
                    function=cfg.function,
                    qualifier=cfg.qualifier,
                    max_retry_attempts=_pick(cfg.max_retry_attempts, old.max_retry_attempts),
                    max_event_age_s=_pick(cfg.max_event_age_s, old.max_event_age_s),
                    on_success=_pick(cfg.on_success, old.on_success),
                    on_failure=_pick(cfg.on_failure, old.on_failure),
                )
        await self.validate(cfg)
        cfg = msgspec.structs.replace(cfg, last_modified=self.clock.time())
        await self.functions.store.transact(
            [Put(KIND, f"{cfg.function}/{cfg.qualifier}", _enc.encode(cfg))]
        )
        await self.functions.changed(cfg.function)
        return cfg

    async def validate(self, cfg: EventInvokeConfig) -> None:
        if cfg.max_retry_attempts is not None:
            check_range(cfg.max_retry_attempts, "maximumRetryAttempts", 0, 2)
        if cfg.max_event_age_s is not None:
            check_range(cfg.max_event_age_s, "maximumEventAgeInSeconds", 60, 21_600)
        for arn in (cfg.on_success, cfg.on_failure):
            if arn and _names_function(arn, cfg.function):  # recorded AWS answer (issue 13)
                raise InvalidParameterValue(
                    "You can't specify the function as a destination for itself."
                )
            if arn and not await self._destination_exists(arn):
                raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")

    async def _destination_exists(self, arn: str) -> bool:
        """True if `arn` names an existing Lamina function or queue."""
        m = FULL_ARN_RE.match(arn)
        if m:
            return await self.functions.records.meta(m["name"]) is not None
        if arn.startswith("arn:aws:sqs:"):
            return await self.queue_exists(arn)
        return False

    async def delete(self, name: str, qualifier: str) -> None:
        await self.get(name, qualifier)
        await self.functions.store.transact([Delete(KIND, f"{name}/{qualifier}")])
        await self.functions.changed(name)


#: AWS's answer to Put / Update / List for a function or qualifier that does not exist.
NO_FUNCTION = "The function doesn't exist."


def _names_function(arn: str, name: str) -> bool:
    """Whether `arn` is a Lambda ARN of function `name` (any qualifier)."""
    parts = arn.split(":")
    return len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function" and parts[6] == name


def _pick(new: T | None, old: T | None) -> T | None:
    return old if new is None else new
