"""One execution environment: a status machine over one sandboxed runtime process.

    STARTING ──► READY ◄──► BUSY
        │          │          │
        └──────────┴──► DEAD ◄┘      (DEAD is final; every other move raises)

The first `invoke` of an on-demand environment runs init (spawn + import the
handler) and reports its duration; an init failure is returned as that invoke's
error and leaves the environment DEAD, as do timeouts, crashes and out-of-memory.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lamina.auth.keys import NODE_KEY
from lamina.engine import forkserver, logs
from lamina.engine.sandbox import Exchange, Outcome, Sandbox, resolve_interpreter
from lamina.errors import LaminaError
from lamina.runtime import protocol

log = logging.getLogger("lamina.engine.environment")

#: On-demand init limit; AWS then retries init inside the invoke, under the timeout.
INIT_TIMEOUT_S = 10.0
#: Init limit of pre-warmed (provisioned) environments: max(this, function timeout).
PROVISIONED_INIT_TIMEOUT_S = 130.0
#: The node key (auth/keys.py): boto3 inside a handler signs requests to this node with it.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": NODE_KEY.key_id,
    "AWS_SECRET_ACCESS_KEY": NODE_KEY.secret,
    "AWS_SESSION_TOKEN": "lamina-local-session-token",
}


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment runs: one function version at one revision."""

    function_name: str
    function_arn: str
    version: str
    handler: str
    runtime: str
    code_dir: Path
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    variables: Mapping[str, str]
    region: str
    account_id: str
    endpoint_url: str
    revision: str
    fork: bool = True  # start from the fork server's template when the runtime allows


@dataclass(frozen=True)
class InvokeResult:
    """One invocation's outcome, as the invoker needs it for the response and the logs."""

    payload: bytes
    function_error: str | None
    error_type: str | None
    duration_ms: float
    billed_duration_ms: int
    init_duration_ms: float | None
    max_memory_used_mb: int
    log_text: str
    environment_id: str
    cold: bool


class EnvironmentStatus(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    DEAD = "dead"


_LEGAL_MOVES = {
    EnvironmentStatus.STARTING: {EnvironmentStatus.READY, EnvironmentStatus.DEAD},
    EnvironmentStatus.READY: {EnvironmentStatus.BUSY, EnvironmentStatus.DEAD},
    EnvironmentStatus.BUSY: {EnvironmentStatus.READY, EnvironmentStatus.DEAD},
    EnvironmentStatus.DEAD: set(),
}


class IllegalTransition(LaminaError):
    """An environment was asked to move between two statuses that do not connect."""


@dataclass(frozen=True)
class _Failure:
    """Why an exchange with the runtime failed, in AWS's terms."""

    error_type: str
    payload: bytes
    status: str  # REPORT's Status field: "timeout" or "error"
    log_lines: tuple[str, ...] = ()


def _error_doc(message: str, error_type: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _platform_failure(exchange: Exchange, request_id: str, timeout_s: float) -> _Failure:
    """The AWS error of a runtime that timed out, ran out of memory or exited."""
    if exchange.outcome is Outcome.TIMED_OUT:
        message = logs.timeout_message(request_id, timeout_s)
        line = logs.timeout_line(request_id, timeout_s)
        return _Failure(
            "Sandbox.Timedout", _error_doc(message, "Sandbox.Timedout"), "timeout", (line,)
        )
    if exchange.outcome is Outcome.OUT_OF_MEMORY:
        error_type, message = "Runtime.OutOfMemory", logs.exit_message(request_id, "signal: killed")
    else:
        error_type, message = (
            "Runtime.ExitError",
            logs.exit_message(request_id, exchange.exit_reason),
        )
    return _Failure(error_type, _error_doc(message, error_type), "error", (message, error_type))


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def child_environment(
    spec: EnvironmentSpec, log_stream: str, tmpdir: str, init_type: str
) -> dict[str, str]:
    """The process environment AWS gives a function, pointed at this node.

    Non-reserved defaults first, then the function's variables, then the reserved ones
    (which configuration cannot override)."""
    env = {"LANG": "en_US.UTF-8", "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    if "LD_LIBRARY_PATH" in os.environ:
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    env.update(spec.variables)
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": logs.log_group_name(spec.function_name),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(protocol.__file__).parent),
            "TZ": ":UTC",
            "TMPDIR": tmpdir,
            # boto3 reads ~/.aws; the node user's profile must not leak into functions.
            "HOME": tmpdir,
            "AWS_ENDPOINT_URL": spec.endpoint_url,
            **DUMMY_CREDENTIALS,
        }
    )
    return env


class Environment:
    """One execution environment of `spec`; the pool owns it, the invoker borrows it."""

    def __init__(self, spec: EnvironmentSpec, *, provisioned: bool = False) -> None:
        self.id = uuid.uuid4().hex
        self.spec = spec
        self.status = EnvironmentStatus.STARTING
        self.provisioned = provisioned
        self.log_stream_name = logs.log_stream_name(spec.version, self.id)
        self.created_at = time.monotonic()
        self.last_used = self.created_at
        #: Set by the pool: the environment dies when its current call ends.
        self.retired = False
        self._sandbox: Sandbox | None = None
        self._tmpdir: str | None = None
        self._spawned = False
        self._closing = False
        self._init_limit_s = INIT_TIMEOUT_S
        self._init_duration_ms = 0.0
        self._init_output = ""
        self._init_failure: _Failure | Exchange | None = None
        self._init_reported = provisioned
        self._max_memory_mb = 0

    def __repr__(self) -> str:
        spec = self.spec
        return (
            f"<Environment {self.id[:8]} {spec.function_name}:{spec.version} {self.status.value}>"
        )

    def _move(self, status: EnvironmentStatus) -> None:
        if status not in _LEGAL_MOVES[self.status]:
            raise IllegalTransition(f"{self!r} cannot move to {status.value}")
        self.status = status

    @property
    def init_error(self) -> str | None:
        """The errorType of a failed init; None if init succeeded or has not run."""
        failure = self._init_failure
        if failure is None:
            return None
        return failure.error_type if isinstance(failure, _Failure) else "Runtime.ExitError"

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
        started = time.perf_counter()
        try:
            exchange = await self._spawn_and_init(time.monotonic() + self._init_limit_s)
        except BaseException:
            await self._die()
            raise
        self._init_duration_ms = (time.perf_counter() - started) * 1000.0
        if exchange is None:
            return False
        self._init_output = exchange.output
        self._max_memory_mb = exchange.peak_rss_mb
        message = exchange.message
        if isinstance(message, protocol.InitDone) and not self._closing:
            self._move(EnvironmentStatus.READY)
            return True
        if isinstance(message, protocol.InitFailed):
            self._init_failure = _Failure(message.error_type, message.payload, "error")
        else:
            self._init_failure = exchange
        await self._die()
        return False

    async def _spawn_and_init(self, deadline: float) -> Exchange | None:
        self._tmpdir = tempfile.mkdtemp(prefix="lamina-env-")
        init_type = "provisioned-concurrency" if self.provisioned else "on-demand"
        env = child_environment(self.spec, self.log_stream_name, self._tmpdir, init_type)
        try:
            self._sandbox = await self._start_sandbox(env)
        except OSError as exc:
            error_type = "Runtime.Unknown"
            self._init_failure = _Failure(error_type, _error_doc(str(exc), error_type), "error")
            await self._die()
            return None
        if self._closing:
            await self._sandbox.kill()
        return await self._sandbox.wait_init(deadline)

    async def _start_sandbox(self, env: dict[str, str]) -> Sandbox:
        """Fork from the template when possible (a few ms), else spawn (~50 ms)."""
        spec = self.spec
        sentinel = os.urandom(16).hex().encode()
        interpreter = await resolve_interpreter(spec.runtime)
        sys_path = interpreter.sys_path(spec.code_dir)
        server = (
            forkserver.server()
            if spec.fork and interpreter.native and forkserver.can_fork(spec.variables)
            else None
        )
        if server is not None:
            env[protocol.SENTINEL_ENV] = sentinel.hex()
            try:
                child, pipes = await server.fork(env, spec.code_dir, sys_path)
            except OSError as exc:
                log.warning("fork failed (%s); spawning %s", exc, self)
                del env[protocol.SENTINEL_ENV]
            else:
                return await Sandbox.adopt(child, pipes, sentinel, spec.memory_mb)
        env[protocol.SYS_PATH_ENV] = sys_path
        return await Sandbox.spawn(
            interpreter.argv(), env=env, cwd=spec.code_dir,
            memory_limit_mb=spec.memory_mb, sentinel=sentinel,
        )  # fmt: skip

    async def invoke(
        self,
        payload: bytes,
        *,
        request_id: str,
        invoked_function_arn: str,
        client_context: str | None,
        deadline: float,
    ) -> InvokeResult:
        """Run one invocation; cold-start first if this environment has not started.

        Parameters:
            payload: the event, JSON bytes.
            request_id: the invocation's request id (context.aws_request_id).
            invoked_function_arn: the ARN the caller used, qualifier included.
            client_context: the X-Amz-Client-Context header (base64 JSON), or None.
            deadline: `time.monotonic()` at which the invocation is killed. Init time of
                a cold start does not count against it, as on AWS.

        Raises:
            IllegalTransition: the environment is already running an invocation.
        """
        cold = not self._init_reported
        if not self._spawned:
            before = time.monotonic()
            await self.start()
            deadline += time.monotonic() - before
        if self._init_failure is not None and not self._init_reported:
            self._init_reported = True
            return self._init_failure_result(request_id)
        if self.status is EnvironmentStatus.DEAD or self._sandbox is None:
            return self._dead_result(request_id)
        self._move(EnvironmentStatus.BUSY)
        self._init_reported = True
        deadline_ms = int((time.time() + deadline - time.monotonic()) * 1000)
        frame = protocol.Invoke(
            request_id, payload, deadline_ms, invoked_function_arn, client_context
        )
        try:
            exchange = await self._sandbox.call(frame, deadline)
        except BaseException:  # cancelled mid-call: the child is still running it
            await self._die()
            raise
        self.last_used = time.monotonic()
        return await self._conclude(exchange, request_id, cold)

    async def _conclude(self, exchange: Exchange, request_id: str, cold: bool) -> InvokeResult:
        init_ms = self._init_duration_ms if cold else None
        head = self._init_output if cold else ""
        message = exchange.message
        if isinstance(message, protocol.Result) and not self._closing:
            self._move(EnvironmentStatus.READY)
            self._max_memory_mb = max(self._max_memory_mb, -(-message.max_rss_kb // 1024))
            return self._result(
                request_id, message.payload, message.error_type, message.duration_ms,
                init_ms, head, exchange.output, cold,
            )  # fmt: skip
        failure = _platform_failure(exchange, request_id, self.spec.timeout_s)
        self._max_memory_mb = max(self._max_memory_mb, exchange.peak_rss_mb)
        if failure.error_type == "Runtime.OutOfMemory":
            self._max_memory_mb = max(self._max_memory_mb, self.spec.memory_mb)
        await self._die()
        timed_out = failure.status == "timeout"
        duration_ms = self.spec.timeout_s * 1000.0 if timed_out else exchange.elapsed_ms
        body = _with_newline(exchange.output) + "".join(f"{x}\n" for x in failure.log_lines)
        return self._result(
            request_id, failure.payload, failure.error_type, duration_ms,
            init_ms, head, body, cold, failure.status,
        )  # fmt: skip

    def _result(
        self,
        request_id: str,
        payload: bytes,
        error_type: str | None,
        duration_ms: float,
        init_ms: float | None,
        head: str,
        body: str,
        cold: bool,
        status: str | None = None,
    ) -> InvokeResult:
        billed = logs.billed_duration_ms(duration_ms, init_ms)
        report = logs.report_line(
            request_id, duration_ms=duration_ms, billed_duration_ms=billed,
            memory_size_mb=self.spec.memory_mb, max_memory_used_mb=self._max_memory_mb,
            init_duration_ms=init_ms, status=status, error_type=error_type if status else None,
        )  # fmt: skip
        log_text = (
            f"{_with_newline(head)}{logs.start_line(request_id, self.spec.version)}\n"
            f"{_with_newline(body)}{logs.end_line(request_id)}\n{report}\n"
        )
        return InvokeResult(
            payload=payload, function_error="Unhandled" if error_type else None,
            error_type=error_type, duration_ms=duration_ms, billed_duration_ms=billed,
            init_duration_ms=init_ms, max_memory_used_mb=self._max_memory_mb,
            log_text=log_text, environment_id=self.id, cold=cold,
        )  # fmt: skip

    def _init_failure_result(self, request_id: str) -> InvokeResult:
        failure = self._init_failure
        if isinstance(failure, Exchange):
            failure = _platform_failure(failure, request_id, self._init_limit_s)
        assert failure is not None
        init_ms = self._init_duration_ms
        init_report = logs.init_report_line(
            init_ms, phase="init", status=failure.status, error_type=failure.error_type
        )
        lines = "".join(f"{x}\n" for x in failure.log_lines)
        head = f"{_with_newline(self._init_output)}{lines}{init_report}"
        result = self._result(
            request_id, failure.payload, failure.error_type, init_ms,
            None, head, "", True, failure.status,
        )  # fmt: skip
        return replace(result, init_duration_ms=init_ms)

    def _dead_result(self, request_id: str) -> InvokeResult:
        message = logs.exit_message(request_id, "signal: killed")
        payload = _error_doc(message, "Runtime.ExitError")
        body = f"{message}\nRuntime.ExitError\n"
        return self._result(
            request_id, payload, "Runtime.ExitError", 0.0, None, "", body, False, "error"
        )

    async def _die(self) -> None:
        if self.status is not EnvironmentStatus.DEAD:
            self._move(EnvironmentStatus.DEAD)
        await self._dispose()

    async def _dispose(self) -> None:
        sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            await sandbox.close()
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
