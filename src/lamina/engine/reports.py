"""What AWS reports for one run: the exchange at the process edge, and its report.

`Exchange` is what one frame exchange with the runtime process gave (an answer, a timeout, an
exit, an out-of-memory kill). `Ending` is how the run ended in AWS's terms: the payload the
caller gets, the errorType, REPORT's Status, and the platform lines the log adds (a timed-out
run's "Task timed out" line, an exited runtime's error). `Run` holds the facts of one run and
`report` turns them into the `RunReport` the invoker answers from: payload, durations, memory,
and the START / END / REPORT log text.
"""

from __future__ import annotations

import enum
import json
import signal
from dataclasses import dataclass

from lamina.engine import logs
from lamina.runtime import protocol

FromRuntime = protocol.FromRuntime

#: Largest response a sync invoke may return (reference B.5; the runtime's Runtime API checks it).
MAX_RESPONSE_BYTES = protocol.MAX_RESPONSE_BYTES
#: What a response over MAX_RESPONSE_BYTES is replaced with (reference B.3, observed on AWS).
RESPONSE_TOO_LARGE = protocol.RESPONSE_TOO_LARGE
#: The result an environment's oversize response frame is answered with.
TOO_LARGE_RESULT = protocol.Result("", RESPONSE_TOO_LARGE, "Function.ResponseSizeTooLarge", 0.0, 0)
#: errorType of a run killed at its deadline.
TIMED_OUT = "Sandbox.Timedout"
#: errorType of a runtime killed for using more than its MemorySize.
OUT_OF_MEMORY = "Runtime.OutOfMemory"
#: errorType of a runtime that exited (crash, os._exit, a signal).
EXIT_ERROR = "Runtime.ExitError"
#: errorType of a runtime that could not be started at all.
UNKNOWN = "Runtime.Unknown"

#: How Go's os/exec (AWS's runtime supervisor) spells a signal death.
_SIGNAL_WORDS = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGPIPE: "broken pipe",
}


class ExchangeEnd(enum.Enum):
    """How one exchange with the child ended."""

    ANSWERED = "answered"
    TIMED_OUT = "timed_out"
    EXITED = "exited"
    OUT_OF_MEMORY = "out_of_memory"


@dataclass(frozen=True)
class Exchange:
    """The result of sending one frame (or none, for init) and awaiting the answer."""

    end: ExchangeEnd
    message: FromRuntime | None
    output: str
    elapsed_ms: float
    exit_reason: str
    peak_rss_mb: int


def exit_reason(returncode: int | None) -> str:
    """AWS's words for a child's end: "exit status 1", "signal: segmentation fault"."""
    if returncode is None:
        return "signal: killed"
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"signal: {_SIGNAL_WORDS[signal.Signals(-returncode)]}"
    except (KeyError, ValueError):
        return f"signal: {-returncode}"


@dataclass(frozen=True)
class Ending:
    """How one run ended, as AWS tells it."""

    payload: bytes
    error_type: str | None = None
    status: str | None = None  #: REPORT's Status field: None, "timeout" or "error"
    log_lines: tuple[str, ...] = ()


def error_document(message: str, error_type: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def platform_error(exchange: Exchange, request_id: str, timeout_s: float, now_s: float) -> Ending:
    """The AWS error of a runtime that timed out, ran out of memory or exited (at `now_s`)."""
    if exchange.end is ExchangeEnd.TIMED_OUT:
        message = logs.timeout_message(request_id, timeout_s)
        line = logs.timeout_line(request_id, timeout_s, now_s)
        return Ending(error_document(message, TIMED_OUT), TIMED_OUT, "timeout", (line,))
    if exchange.end is ExchangeEnd.OUT_OF_MEMORY:
        error_type, message = OUT_OF_MEMORY, logs.exit_message(request_id, "signal: killed")
    else:
        error_type, message = EXIT_ERROR, logs.exit_message(request_id, exchange.exit_reason)
    return Ending(error_document(message, error_type), error_type, "error", (message, error_type))


def init_failed(message: protocol.InitFailed) -> Ending:
    """An init that the runtime reported as failed (import error, handler not found, …)."""
    return Ending(message.payload, message.error_type, "error")


def not_started(reason: str) -> Ending:
    """A runtime process that could not be started."""
    return Ending(error_document(reason, UNKNOWN), UNKNOWN, "error")


def dead_environment(request_id: str) -> Ending:
    """An invoke of an environment whose process is already gone."""
    message = logs.exit_message(request_id, "signal: killed")
    return Ending(error_document(message, EXIT_ERROR), EXIT_ERROR, "error", (message, EXIT_ERROR))


@dataclass(frozen=True)
class RunReport:
    """One invocation's result at the environment: what the invoker answers and logs from."""

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


@dataclass(frozen=True, kw_only=True)
class Run:
    """The facts of one run that its report is made of."""

    request_id: str
    version: str
    environment_id: str
    memory_size_mb: int
    max_memory_used_mb: int
    ending: Ending
    duration_ms: float
    #: Init Duration on the REPORT line (a cold start); None for warm runs and failed inits.
    init_duration_ms: float | None = None
    #: What the log shows before START (a cold start's init output, an INIT_REPORT line).
    head: str = ""
    #: The handler's output, between START and END.
    body: str = ""
    cold: bool = False
    #: Restore Duration on the REPORT line (a restored SnapStart environment's first run).
    restore_duration_ms: float | None = None


def with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def report(run: Run) -> RunReport:
    """The RunReport of `run`: billed duration, REPORT line and the whole log text."""
    ending = run.ending
    billed = logs.billed_duration_ms(run.duration_ms, run.init_duration_ms)
    report_line = logs.report_line(
        run.request_id,
        duration_ms=run.duration_ms,
        billed_duration_ms=billed,
        memory_size_mb=run.memory_size_mb,
        max_memory_used_mb=run.max_memory_used_mb,
        init_duration_ms=run.init_duration_ms,
        restore_duration_ms=run.restore_duration_ms,
        status=ending.status,
        error_type=ending.error_type if ending.status else None,
    )
    body = with_newline(run.body) + "".join(f"{line}\n" for line in ending.log_lines)
    log_text = (
        f"{with_newline(run.head)}{logs.start_line(run.request_id, run.version)}\n"
        f"{with_newline(body)}{logs.end_line(run.request_id)}\n{report_line}\n"
    )
    return RunReport(
        payload=ending.payload,
        function_error="Unhandled" if ending.error_type else None,
        error_type=ending.error_type,
        duration_ms=run.duration_ms,
        billed_duration_ms=billed,
        init_duration_ms=run.init_duration_ms,
        max_memory_used_mb=run.max_memory_used_mb,
        log_text=log_text,
        environment_id=run.environment_id,
        cold=run.cold,
    )
