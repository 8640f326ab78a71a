"""The one door to user code: resolve → lease → environment → run → release → record.

Every invocation — the sync API, the async queue, event sources, destinations — comes through
`Invoker.invoke`. Nothing else touches the pool.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.config import Settings
from lamina.control.aliases import AliasService
from lamina.control.models import VersionConfig
from lamina.engine.concurrency import Concurrency, Lease
from lamina.engine.environment import EnvironmentSpec, InvokeResult
from lamina.engine.log_sink import LogSink
from lamina.engine.logs import tail_4kb
from lamina.engine.pool import Pool
from lamina.engine.telemetry import Telemetry
from lamina.errors import TooManyRequests
from lamina.store.base import Store

log = logging.getLogger("lamina.invoker")

#: Largest response a sync invoke may return (reference B.5).
MAX_RESPONSE_BYTES = 6_291_556


@dataclass(frozen=True)
class Invocation:
    """What to run: a function (name + qualifier), its payload and how the caller asked."""

    function: str
    qualifier: str | None
    payload: bytes
    request_id: str
    tail: bool = False
    client_context: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What came of one invocation, as the API reports it."""

    payload: bytes
    executed_version: str
    function_error: str | None
    error_type: str | None
    log_result: str | None
    duration_ms: float
    request_id: str


class Invoker:
    """Runs invocations through concurrency leases and pooled environments."""

    def __init__(
        self, settings: Settings, store: Store, aliases: AliasService, pool: Pool,
        concurrency: Concurrency, logs: LogSink, code_dir: Callable[[str], Path],
        telemetry: Telemetry | None = None,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.aliases = aliases
        self.pool = pool
        self.concurrency = concurrency
        self.logs = logs
        self._code_dir = code_dir
        self.telemetry = telemetry or Telemetry()
        self._cache: dict[tuple[str, str], tuple[VersionConfig, str]] = {}
        self._specs: dict[tuple[str, str, str], EnvironmentSpec] = {}
        aliases.functions.on_change(self._forget)

    async def _forget(self, name: str) -> None:
        self._cache = {k: v for k, v in self._cache.items() if k[0] != name}
        self._specs = {k: v for k, v in self._specs.items() if k[0] != name}
        await self.pool.retire(name)

    async def resolve(self, function: str, qualifier: str | None) -> tuple[VersionConfig, str]:
        """The version to run and the invoked ARN; cached until the function changes."""
        key = (function, qualifier or "$LATEST")
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        version, arn = await self.aliases.resolve(function, qualifier)
        record = await self.aliases.records.alias(function, qualifier) if qualifier and not (
            qualifier.isdigit() or qualifier == "$LATEST") else None  # fmt: skip
        if record is None or not record.additional_weights:
            self._cache[key] = (version, arn)  # weighted aliases re-roll on every call
        return version, arn

    async def spec(self, v: VersionConfig) -> EnvironmentSpec:
        key = (v.name, v.version, v.revision_id)
        spec = self._specs.get(key)
        if spec is None:
            code_dir = self._code_dir(v.code_digest)
            if not code_dir.is_dir():
                await self.aliases.functions.code.ensure(
                    v.code_digest, await self.store.get_blob(v.code_digest)
                )
            spec = EnvironmentSpec(
                function_name=v.name, function_arn=v.arn, version=v.version, handler=v.handler,
                runtime=v.runtime, code_dir=code_dir, memory_mb=v.memory_size,
                timeout_s=v.timeout, ephemeral_storage_mb=v.ephemeral_storage,
                variables=dict(v.variables or {}), region=self.settings.region,
                account_id=self.settings.account_id, endpoint_url=self.settings.endpoint_url,
                revision=v.revision_id, fork=self.settings.fork_server,
            )  # fmt: skip
            self._specs[key] = spec
        return spec

    async def invoke(self, inv: Invocation, *, lease: Lease | None = None) -> Outcome:
        """Run `inv` once, under `lease` if the caller already holds one (it is released).

        Raises ResourceNotFound (unknown function or qualifier) or TooManyRequests.
        """
        try:
            version, arn = await self.resolve(inv.function, inv.qualifier)
            spec = await self.spec(version)
        except BaseException:
            if lease is not None:
                self.concurrency.release(lease)
            raise
        if lease is None:
            lease = self.concurrency.acquire(inv.function)
        try:
            async with self.pool.environment(spec) as env:
                limit = time.monotonic() + spec.timeout_s
                result = await env.invoke(
                    inv.payload, request_id=inv.request_id, invoked_function_arn=arn,
                    client_context=inv.client_context, deadline=limit,
                )  # fmt: skip
                self.logs.add(
                    version.log_group, env.log_stream_name, result.log_text, result.duration_ms
                )
        except TooManyRequests:  # no room on this node for another environment
            self.concurrency.count_throttle(inv.function)
            raise
        finally:
            self.concurrency.release(lease)
        self.telemetry.invoked(inv.function, result.duration_ms, result.function_error is not None)
        return self._outcome(inv, version, result)

    def _outcome(self, inv: Invocation, v: VersionConfig, r: InvokeResult) -> Outcome:
        payload, error, error_type = r.payload, r.function_error, r.error_type
        if len(payload) > MAX_RESPONSE_BYTES:
            payload = (
                b'{"errorMessage":"Response payload size exceeded maximum allowed payload size'
                b' (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}'
            )
            error, error_type = "Unhandled", "Function.ResponseSizeTooLarge"
        tail = base64.b64encode(tail_4kb(r.log_text).encode()).decode() if inv.tail else None
        return Outcome(payload, v.version, error, error_type, tail, r.duration_ms, inv.request_id)
