"""One execution environment: a status machine over one sandboxed runtime process.

    STARTING ──► READY ◄──► BUSY ──► STARTING (its process died before the handler ran)
        │          │          │
        └──────────┴──► DEAD ◄┘      (DEAD is final; every other move raises)

The first `invoke` of an on-demand environment runs init (spawn + import the
handler) and reports its duration; an init failure is returned as that invoke's
error and leaves the environment DEAD, as do timeouts, crashes and out-of-memory. An
environment of a SnapStart version is restored instead (forked from its version template,
`version_templates.py`): REPORT shows its Restore Duration, and a failed restore is the
caller's SnapStartException / SnapStartTimeoutException rather than a function error.
Starting the process is the launcher's job (`launcher.py`); the I/O with it the sandbox's
(`sandbox.py`); what AWS reports for a run is built by `reports.py`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import uuid
from dataclasses import replace

from lamina.engine import logs, reports
from lamina.engine.envelope import Envelope, Envelopes
from lamina.engine.environment_status import (
    LEGAL_MOVES,
    EnvironmentStatus,
    IllegalTransition,
)
from lamina.engine.launcher import EnvironmentSpec, Launcher, child_environment
from lamina.engine.reports import Ending, Exchange, Run, RunReport
from lamina.engine.sandbox import Sandbox
from lamina.engine.version_templates import RESTORE_TIMEOUT_S, VersionTemplates, restore_error
from lamina.runtime import protocol

log = logging.getLogger("lamina.engine.environment")

#: On-demand init limit; AWS then retries init inside the invoke, under the timeout.
INIT_TIMEOUT_S = 10.0
#: Init limit of pre-warmed (provisioned) environments: max(this, function timeout).
PROVISIONED_INIT_TIMEOUT_S = 130.0


class Environment:
    """One execution environment of `spec`; the pool owns it, the invoker borrows it.

    Parameters:
        spec: the function version and revision it runs.
        launcher: starts its process (and gives it the node's clock).
        provisioned: pre-warmed for provisioned concurrency; its first invoke reports no init.
        envelopes: the node's isolation policy (None: a plain child process).
        versions: the node's SnapStart version templates (a SnapStart `spec` is restored
            from its template).
    """

    def __init__(
        self,
        spec: EnvironmentSpec,
        launcher: Launcher,
        *,
        provisioned: bool = False,
        envelopes: Envelopes | None = None,
        versions: VersionTemplates | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.spec = spec
        self.status = EnvironmentStatus.STARTING
        self.provisioned = provisioned
        self._launcher = launcher
        self._clock = launcher.clock
        self.log_stream_name = logs.log_stream_name(spec.version, self.id, self._clock.time())
        self.created_at = self._clock.monotonic()
        self.last_used = self.created_at
        #: Set by the pool: the environment dies when its current call ends.
        self.retired = False
        #: Times its process was found dead before a handler ran and replaced.
        self.replacements = 0
        self._sandbox: Sandbox | None = None
        self._envelopes = envelopes
        self._versions = versions
        self._restored = spec.snap_start and versions is not None
        self._envelope: Envelope | None = None
        self._tmpdir: str | None = None
        self._spawned = False
        self._closing = False
        self._init_limit_s = INIT_TIMEOUT_S
        self._init_duration_ms = 0.0
        self._init_output = ""
        self._init_failure: Ending | Exchange | None = None
        self._init_reported = provisioned
        self._max_memory_mb = 0
        #: Restore Duration for the next REPORT line (a restored environment's first run).
        self._restore_ms: float | None = None
        #: How long its start waited for its version's template to be made.
        self._snapshot_wait_s = 0.0

    def __repr__(self) -> str:
        spec = self.spec
        return (
            f"<Environment {self.id[:8]} {spec.function_name}:{spec.version} {self.status.value}>"
        )

    def _move(self, status: EnvironmentStatus) -> None:
        if status not in LEGAL_MOVES[self.status]:
            raise IllegalTransition(f"{self!r} cannot move to {status.value}")
        self.status = status

    @property
    def init_output(self) -> str:
        """What init (or a restore's after-restore hooks) printed."""
        return self._init_output

    @property
    def init_error(self) -> str | None:
        """The errorType of a failed init; None if init succeeded or has not run."""
        failure = self._init_failure
        if failure is None:
            return None
        return failure.error_type if isinstance(failure, Ending) else reports.EXIT_ERROR

    async def start(self) -> bool:
        """Spawn the runtime and run init (import the handler), once.

        Returns True when the environment is READY. An init failure leaves it DEAD and
        is kept for the next `invoke` to return, as AWS returns it to the first caller.
        """
        if self._spawned:
            return self.status is not EnvironmentStatus.DEAD
        self._spawned = True
        if self.provisioned:
            self._init_limit_s = max(PROVISIONED_INIT_TIMEOUT_S, float(self.spec.timeout_s))
        if self._restored:
            self._init_limit_s = RESTORE_TIMEOUT_S
        started = self._clock.monotonic()
        try:
            exchange = await self._spawn_and_init(started + self._init_limit_s)
        except BaseException:
            await self._die()
            raise
        elapsed_s = self._clock.monotonic() - started - self._snapshot_wait_s
        self._init_duration_ms = elapsed_s * 1000.0
        if exchange is None:
            return False
        self._init_output = exchange.output
        self._max_memory_mb = exchange.peak_rss_mb
        message = exchange.message
        if isinstance(message, protocol.InitDone) and not self._closing:
            self._move(EnvironmentStatus.READY)
            if self._envelope is not None:
                self._envelope.initialized()
            self._freeze()
            return True
        if isinstance(message, protocol.InitFailed):
            self._init_failure = reports.init_failed(message)
        else:
            self._init_failure = exchange
        await self._die()
        return False

    async def _spawn_and_init(self, deadline: float) -> Exchange | None:
        kind = "provisioned-concurrency" if self.provisioned else "on-demand"
        init_type = "snap-start" if self._restored else kind
        try:
            if self._envelopes is not None:
                envelope = self._envelope = await self._envelopes.envelope(self.spec)
                tmpdir = envelope.tmpdir
            else:
                tmpdir = self._tmpdir = tempfile.mkdtemp(prefix="lamina-env-")
            env = child_environment(self.spec, self.log_stream_name, tmpdir, init_type)
            if self._versions is not None and self._restored:  # forked from the snapshot
                restore = self._versions.restore(self.spec, self._envelopes, env)
                self._sandbox, self._snapshot_wait_s = await restore
                deadline += self._snapshot_wait_s
            else:
                if self._envelope is not None:
                    env.update(self._envelope.variables())
                self._sandbox = await self._launcher.launch(self.spec, env)
        except OSError as exc:
            self._init_failure = reports.not_started(str(exc))
            await self._die()
            return None
        pid = self._sandbox.pid
        if self._envelope is not None:
            self._envelope.attach(pid)
            self._sandbox.envelope = self._envelope
            # a restored process runs as the function's user: the node moves it into its
            # cgroup (a migration waits for the kernel, often ~10 ms: off the event loop)
            if self._restored and not await asyncio.to_thread(self._envelope.enroll, pid):
                self._closing = True  # it must not run outside its own cgroup
        if self._closing:
            await self._sandbox.kill()
        elif self._restored:
            self._sandbox.go()
        return await self._sandbox.wait_init(deadline)

    async def invoke(
        self,
        payload: bytes,
        *,
        request_id: str,
        invoked_function_arn: str,
        client_context: str | None,
        deadline: float,
        trace_id: str | None = None,
    ) -> RunReport:
        """Run one invocation; cold-start first if this environment has not started.

        Parameters:
            payload: the event, JSON bytes.
            request_id: the invocation's request id (context.aws_request_id).
            invoked_function_arn: the ARN the caller used, qualifier included.
            client_context: the X-Amz-Client-Context header (base64 JSON), or None.
            deadline: the clock's `monotonic()` at which the invocation is killed. Init time
                of a cold start does not count against it, as on AWS.
            trace_id: the invocation's `_X_AMZN_TRACE_ID` (its lineage count travels in it).

        Raises:
            IllegalTransition: the environment is already running an invocation.
        """
        clock = self._clock
        cold = not self._init_reported
        if not self._spawned:
            before = clock.monotonic()
            await self.start()
            deadline += clock.monotonic() - before
        if self._init_failure is not None and not self._init_reported:
            self._init_reported = True
            if self._restored:
                raise restore_error(self._init_failure)
            return self._init_failure_report(request_id)
        if self.status is EnvironmentStatus.DEAD or self._sandbox is None:
            return self._report(request_id, reports.dead_environment(request_id), 0.0)
        self._move(EnvironmentStatus.BUSY)
        self._init_reported = True
        deadline_ms = int((clock.time() + deadline - clock.monotonic()) * 1000)
        frame = protocol.Invoke(
            request_id, payload, deadline_ms, invoked_function_arn, client_context, trace_id
        )
        try:  # the sandbox thaws the environment once the frame is in the pipe
            exchange = await self._sandbox.call(frame, deadline)
        except BaseException:  # cancelled mid-call: the child is still running it
            await self._die()
            raise
        if self._lost_before_handler(exchange):
            return await self._replace_and_invoke(frame, request_id, deadline)
        self.last_used = clock.monotonic()
        return await self._conclude(exchange, request_id, cold)

    def _lost_before_handler(self, exchange: Exchange) -> bool:
        """The process was already dead, or died before reading the whole Invoke frame:
        no handler ran, so the invocation may run again on a fresh process."""
        sandbox = self._sandbox
        return (
            exchange.end is reports.ExchangeEnd.EXITED
            and sandbox is not None
            and not self._closing
            and sandbox.undelivered()
        )

    async def _replace_and_invoke(
        self, frame: protocol.Invoke, request_id: str, deadline: float
    ) -> RunReport:
        """Replace this environment's dead process with a fresh one (a cold start, as the
        caller would get from a new environment) and run the invocation there, once."""
        log.info("%r died before its handler ran; replacing it", self)
        self.replacements += 1
        await self._dispose()
        self._move(EnvironmentStatus.STARTING)
        self._spawned = False
        self._init_reported = False
        before = self._clock.monotonic()
        await self.start()
        if self._init_failure is not None:
            self._init_reported = True
            if self._restored:
                raise restore_error(self._init_failure)
            return self._init_failure_report(request_id)
        if self.status is not EnvironmentStatus.READY or self._sandbox is None:
            return self._report(request_id, reports.dead_environment(request_id), 0.0)
        self._move(EnvironmentStatus.BUSY)
        self._init_reported = True
        deadline += self._clock.monotonic() - before
        if self._envelope is not None:
            self._envelope.thaw()
        try:
            exchange = await self._sandbox.call(frame, deadline)
        except BaseException:
            await self._die()
            raise
        self.last_used = self._clock.monotonic()
        return await self._conclude(exchange, request_id, True)

    async def _conclude(self, exchange: Exchange, request_id: str, cold: bool) -> RunReport:
        init_ms = self._init_duration_ms if cold else None
        if self._restored:  # REPORT shows a Restore Duration instead (`_report`)
            self._restore_ms, init_ms = init_ms, None
        head = self._init_output if cold else ""
        message = exchange.message
        if isinstance(message, protocol.Result) and not self._closing:
            self._move(EnvironmentStatus.READY)
            self._freeze()
            self._max_memory_mb = max(self._max_memory_mb, -(-message.max_rss_kb // 1024))
            ending = Ending(message.payload, message.error_type)
            return self._report(
                request_id, ending, message.duration_ms, init_ms, head, exchange.output, cold
            )
        ending = reports.platform_error(
            exchange, request_id, self.spec.timeout_s, self._clock.time()
        )
        self._max_memory_mb = max(self._max_memory_mb, exchange.peak_rss_mb)
        if ending.error_type == reports.OUT_OF_MEMORY:
            self._max_memory_mb = max(self._max_memory_mb, self.spec.memory_mb)
        await self._die()
        timed_out = ending.status == "timeout"
        duration_ms = self.spec.timeout_s * 1000.0 if timed_out else exchange.elapsed_ms
        return self._report(request_id, ending, duration_ms, init_ms, head, exchange.output, cold)

    def _report(
        self,
        request_id: str,
        ending: Ending,
        duration_ms: float,
        init_ms: float | None = None,
        head: str = "",
        body: str = "",
        cold: bool = False,
    ) -> RunReport:
        run = Run(
            request_id=request_id,
            version=self.spec.version,
            environment_id=self.id,
            memory_size_mb=self.spec.memory_mb,
            max_memory_used_mb=self._max_memory_mb,
            ending=ending,
            duration_ms=duration_ms,
            init_duration_ms=init_ms,
            head=head,
            body=body,
            cold=cold,
            restore_duration_ms=self._restore_ms,
        )
        self._restore_ms = None
        return reports.report(run)

    def _init_failure_report(self, request_id: str) -> RunReport:
        failure = self._init_failure
        if isinstance(failure, Exchange):
            failure = reports.platform_error(
                failure, request_id, self._init_limit_s, self._clock.time()
            )
        assert failure is not None
        init_ms = self._init_duration_ms
        assert failure.error_type is not None and failure.status is not None
        init_report = logs.init_report_line(
            init_ms, phase="init", status=failure.status, error_type=failure.error_type
        )
        lines = "".join(f"{x}\n" for x in failure.log_lines)
        head = f"{reports.with_newline(self._init_output)}{lines}{init_report}"
        ending = replace(failure, log_lines=())  # they belong before START, in `head`
        result = self._report(request_id, ending, init_ms, None, head, "", True)
        return replace(result, init_duration_ms=init_ms)

    @property
    def alive(self) -> bool:
        """False once its process is known to be gone (the pool then discards it)."""
        if self.status is EnvironmentStatus.DEAD:
            return False
        return self._sandbox is None or self._sandbox.alive

    def _freeze(self) -> None:
        if self._envelope is not None:
            self._envelope.freeze()

    async def _die(self) -> None:
        if self.status is not EnvironmentStatus.DEAD:
            self._move(EnvironmentStatus.DEAD)
        await self._dispose()

    async def _dispose(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            await sandbox.close()
        envelope, self._envelope = self._envelope, None
        if envelope is not None:
            await envelope.close()
        tmpdir, self._tmpdir = self._tmpdir, None
        if tmpdir is not None:
            await asyncio.to_thread(shutil.rmtree, tmpdir, True)

    async def close(self) -> None:
        """Kill the process (its whole group) and remove the temporary directory.

        A BUSY or starting environment's process is killed now; its running `invoke`
        or `start` sees the death, returns Runtime.ExitError and finishes the cleanup.
        """
        self._closing = True
        busy = self.status is EnvironmentStatus.BUSY
        starting = self.status is EnvironmentStatus.STARTING and self._spawned
        if busy or starting:
            if self._sandbox is not None:
                await self._sandbox.kill()
            return
        await self._die()
