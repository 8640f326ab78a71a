"""The one door to user code: resolve → lease → environment → run → release → record.

Every invocation — the sync API, the async queue, event sources — comes through the invoker,
and the path is one nested block:

    async with concurrency.lease(function) as lease, pool.environment(spec, lease) as env:
        report = await env.invoke(...)

so the lease and the environment come back however the run ends. Nothing else touches the
pool. `invoke` serves callers that want AWS's errors (TooManyRequests → 429); `invoke_queued`
serves queued work: it waits for a lease, and answers a throttle or a failure of ours with an
`Outcome` of that kind instead of raising.
"""

from __future__ import annotations

import base64
import enum
import logging
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.aliases import AliasService
from lamina.control.layer_dirs import LayerDirs
from lamina.control.models import VersionConfig
from lamina.engine.concurrency import CONCURRENCY_LIMITS, Concurrency, Lease
from lamina.engine.launcher import EnvironmentSpec
from lamina.engine.log_sink import LogSink
from lamina.engine.logs import tail_4kb
from lamina.engine.pool import MEMORY_BUDGET_EXCEEDED, Pool
from lamina.engine.provisioner import ProvisionedBook
from lamina.engine.recursion import RecursionGuard, trace_header
from lamina.engine.reports import MAX_RESPONSE_BYTES, RESPONSE_TOO_LARGE, RunReport
from lamina.engine.snapstart import check_ready
from lamina.engine.telemetry import Telemetry
from lamina.errors import (
    RecursiveInvocation,
    ResourceNotFound,
    SnapStartError,
    SnapStartTimeout,
    TooManyRequests,
)
from lamina.store.base import Store

log = logging.getLogger("lamina.invoker")


@dataclass(frozen=True)
class Invocation:
    """What to run: a function (name + qualifier), its payload and how the caller asked."""

    function: str
    qualifier: str | None
    payload: bytes
    request_id: str
    tail: bool = False
    client_context: str | None = None
    #: Hops deep in a chain of invocations (engine/recursion.py); 0 when started from outside.
    lineage: int = 0


@dataclass(frozen=True)
class Target:
    """What a function name and qualifier resolve to now."""

    version: VersionConfig
    #: The ARN the caller invoked (unqualified when the caller gave no qualifier).
    invoked_arn: str

    @property
    def dead_letter_target(self) -> str | None:
        return self.version.dead_letter_target


class OutcomeKind(enum.Enum):
    """How an invocation ended, as the async queue and event sources branch on it."""

    OK = "ok"
    #: The function failed: an exception, a timeout, a crash, out of memory.
    FUNCTION_ERROR = "function_error"
    #: No concurrency was free (queued work only; the sync API gets TooManyRequests).
    THROTTLED = "throttled"
    #: Something of ours failed (no room on this node, the store): not the function's fault.
    PLATFORM_ERROR = "platform_error"


@dataclass(frozen=True)
class Outcome:
    """What came of one invocation."""

    kind: OutcomeKind
    request_id: str
    invoked_arn: str
    dead_letter_target: str | None
    executed_version: str
    payload: bytes = b""
    function_error: str | None = None
    error_type: str | None = None
    log_result: str | None = None
    duration_ms: float = 0.0
    #: Why a THROTTLED or PLATFORM_ERROR outcome did not run.
    detail: str | None = None


class Invoker:
    """Runs invocations through concurrency leases and pooled environments."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        aliases: AliasService,
        pool: Pool,
        concurrency: Concurrency,
        logs: LogSink,
        code_dir: Callable[[str], Path],
        *,
        provisioned: ProvisionedBook,
        telemetry: Telemetry,
        clock: Clock,
        recursion: RecursionGuard,
        layer_dirs: LayerDirs | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.aliases = aliases
        self.pool = pool
        self.concurrency = concurrency
        self.logs = logs
        self._code_dir = code_dir
        self.provisioned = provisioned
        self.telemetry = telemetry
        self.clock = clock
        self.recursion = recursion
        self._cache: dict[tuple[str, str], Target] = {}
        self._specs: dict[tuple[str, str, str], EnvironmentSpec] = {}
        self._layer_dirs = layer_dirs
        self._opt_in_flight: Counter[str] = Counter()  # merged layer dir name -> invocations

    async def forget(self, name: str) -> None:
        """Drop what is cached for function `name` (it changed) and retire its environments."""
        self._cache = {k: v for k, v in self._cache.items() if k[0] != name}
        self._specs = {k: v for k, v in self._specs.items() if k[0] != name}
        await self.pool.retire(name)

    async def resolve(self, function: str, qualifier: str | None) -> Target:
        """The version to run and the invoked ARN; cached until the function changes.

        Raises:
            ResourceNotFound: unknown function, version or alias.
        """
        key = (function, qualifier or "$LATEST")
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        version, arn = await self.aliases.resolve(function, qualifier)
        target = Target(version, arn)
        # weighted aliases re-roll on every call; a version being snapshotted changes State
        if version.state == "Active" and not await self._weighted(function, qualifier):
            self._cache[key] = target
        return target

    async def _weighted(self, function: str, qualifier: str | None) -> bool:
        if not qualifier or qualifier.isdigit() or qualifier == "$LATEST":
            return False
        record = await self.aliases.records.alias(function, qualifier)
        return record is not None and bool(record.additional_weights)

    async def spec(self, v: VersionConfig) -> EnvironmentSpec:
        """The environment spec of a version (its code unpacked on this node first)."""
        key = (v.name, v.version, v.revision_id)
        spec = self._specs.get(key)
        if spec is None:
            code_dir = self._code_dir(v.code_digest)
            if not code_dir.is_dir():
                blob = await self.store.get_blob(v.code_digest)
                await self.aliases.functions.code.ensure(v.code_digest, blob)
            opt_dir = None
            if v.layers and self._layer_dirs is not None:
                opt_dir = await self._layer_dirs.ensure(v.layers)
            spec = EnvironmentSpec(
                function_name=v.name,
                function_arn=v.arn,
                version=v.version,
                handler=v.handler,
                runtime=v.runtime,
                code_dir=code_dir,
                memory_mb=v.memory_size,
                timeout_s=v.timeout,
                ephemeral_storage_mb=v.ephemeral_storage,
                variables=dict(v.variables or {}),
                region=self.settings.region,
                account_id=self.settings.account_id,
                endpoint_url=self.settings.endpoint_url,
                revision=v.revision_id,
                opt_dir=opt_dir,
                snap_start=v.snap_started,
            )
            self._specs[key] = spec
        return spec

    def opt_in_use(self) -> set[str]:
        """Names of the merged layer directories invocations are running with now."""
        return set(self._opt_in_flight)

    async def invoke(self, inv: Invocation) -> Outcome:
        """Run `inv` once, now (the sync API). The outcome is OK or FUNCTION_ERROR.

        Raises:
            ResourceNotFound: unknown function or qualifier.
            TooManyRequests: no concurrency free, or no room on this node (a throttle).
            RecursiveInvocation: a recursive loop past the limit, and the function says stop.
            SnapStartNotReady: a SnapStart version whose snapshot is still being made.
        """
        target = await self.resolve(inv.function, inv.qualifier)
        check_ready(target.version)
        if inv.lineage and await self.recursion.stops(inv.function, inv.lineage):
            raise RecursiveInvocation(
                "Lambda detected that this function is invoked in a recursive loop and"
                " stopped the invocation (see PutFunctionRecursionConfig)."
            )
        spec = await self.spec(target.version)
        report = await self._run(inv, target, spec, self.concurrency.lease(inv.function))
        return self._outcome(inv, target, report)

    async def invoke_queued(self, inv: Invocation, *, wait_s: float | None) -> Outcome:
        """Run `inv` once for a queue: wait up to `wait_s` (None: for ever) for a lease.

        A lease still missing then is a THROTTLED outcome (not counted as a throttle, not an
        attempt); a failure of ours is a PLATFORM_ERROR outcome.

        Raises:
            ResourceNotFound: unknown function or qualifier.
        """
        target = await self.resolve(inv.function, inv.qualifier)
        try:
            check_ready(target.version)
            spec = await self.spec(target.version)
            admission = self.concurrency.wait_lease(inv.function, wait_s)
            report = await self._run(inv, target, spec, admission)
        except ResourceNotFound:
            raise
        except TooManyRequests as exc:
            throttled = exc.reason in CONCURRENCY_LIMITS
            kind = OutcomeKind.THROTTLED if throttled else OutcomeKind.PLATFORM_ERROR
            return self._no_run(inv, target, kind, exc)
        except Exception as exc:  # ours, not the function's: the caller backs off
            return self._no_run(inv, target, OutcomeKind.PLATFORM_ERROR, exc)
        return self._outcome(inv, target, report)

    async def _run(
        self,
        inv: Invocation,
        target: Target,
        spec: EnvironmentSpec,
        admission: AbstractAsyncContextManager[Lease],
    ) -> RunReport:
        """Run `inv` in an environment of `spec` under the lease that `admission` grants."""
        opt = spec.opt_dir.name if spec.opt_dir is not None else None
        if opt is not None:
            self._opt_in_flight[opt] += 1
        try:
            async with admission as lease, self.pool.environment(spec, lease) as env:
                self.provisioned.served(spec, env)
                try:
                    report = await env.invoke(
                        inv.payload,
                        request_id=inv.request_id,
                        invoked_function_arn=target.invoked_arn,
                        client_context=inv.client_context,
                        deadline=self.clock.monotonic() + spec.timeout_s,
                        trace_id=trace_header(inv.request_id, spec.function_arn, inv.lineage),
                    )
                except (SnapStartError, SnapStartTimeout):  # the log tells the caller why
                    self.logs.add(target.version.log_group, env.log_stream_name, env.init_output)
                    raise
                self.logs.add(
                    target.version.log_group,
                    env.log_stream_name,
                    report.log_text,
                    report.duration_ms,
                )
        except TooManyRequests as exc:
            if exc.reason == MEMORY_BUDGET_EXCEEDED:  # no room on this node for another one
                self.concurrency.count_throttle(inv.function)
            raise
        finally:
            if opt is not None:
                self._opt_in_flight[opt] -= 1
                if not self._opt_in_flight[opt]:
                    del self._opt_in_flight[opt]
        self.telemetry.invoked(inv.function, report.duration_ms, report.function_error is not None)
        return report

    def _outcome(self, inv: Invocation, target: Target, report: RunReport) -> Outcome:
        payload, error, error_type = report.payload, report.function_error, report.error_type
        if len(payload) > MAX_RESPONSE_BYTES:
            payload = RESPONSE_TOO_LARGE
            error, error_type = "Unhandled", "Function.ResponseSizeTooLarge"
        tail = None
        if inv.tail:
            tail = base64.b64encode(tail_4kb(report.log_text).encode()).decode()
        return Outcome(
            kind=OutcomeKind.FUNCTION_ERROR if error else OutcomeKind.OK,
            request_id=inv.request_id,
            invoked_arn=target.invoked_arn,
            dead_letter_target=target.dead_letter_target,
            executed_version=target.version.version,
            payload=payload,
            function_error=error,
            error_type=error_type,
            log_result=tail,
            duration_ms=report.duration_ms,
        )

    def _no_run(
        self, inv: Invocation, target: Target, kind: OutcomeKind, exc: Exception
    ) -> Outcome:
        return Outcome(
            kind=kind,
            request_id=inv.request_id,
            invoked_arn=target.invoked_arn,
            dead_letter_target=target.dead_letter_target,
            executed_version=target.version.version,
            detail=str(exc) or type(exc).__name__,
        )
