"""AWS's platform log lines (START, END, REPORT, INIT_REPORT), log names and the 4 KB tail.

Layouts follow the Lambda Text log format: fields after the request id are separated
by tabs, durations carry two decimals, billed duration is whole milliseconds (1 ms
granularity, init included since Aug 2025), memory is whole MB.
"""

from __future__ import annotations

import base64
import math
from datetime import UTC, datetime

#: X-Amz-Log-Result carries at most this many bytes of the log, base64-encoded.
LOG_TAIL_BYTES = 4096


def log_group_name(function_name: str) -> str:
    """`/aws/lambda/<name>`, the default log group of a function."""
    return f"/aws/lambda/{function_name}"


def log_stream_name(version: str, environment_id: str, now_s: float) -> str:
    """`YYYY/MM/DD/[<version>]<32 hex>`: one stream per environment, dated in UTC."""
    day = datetime.fromtimestamp(now_s, UTC)
    return f"{day:%Y/%m/%d}/[{version}]{environment_id}"


def iso_timestamp(ts_s: float) -> str:
    """`2025-03-01T12:00:07.412Z`, the timestamp shape of the timeout line."""
    moment = datetime.fromtimestamp(ts_s, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def billed_duration_ms(duration_ms: float, init_duration_ms: float | None = None) -> int:
    """Duration (plus init, on a cold start) rounded up to the next whole millisecond."""
    return max(1, math.ceil(duration_ms + (init_duration_ms or 0.0)))


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_line(
    request_id: str,
    *,
    duration_ms: float,
    billed_duration_ms: int,
    memory_size_mb: int,
    max_memory_used_mb: int,
    init_duration_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
    restore_duration_ms: float | None = None,
) -> str:
    """`REPORT RequestId: …\\tDuration: 1.23 ms\\t…` with the optional tail fields."""
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {billed_duration_ms} ms",
        f"Memory Size: {memory_size_mb} MB",
        f"Max Memory Used: {max_memory_used_mb} MB",
    ]
    if init_duration_ms is not None:
        fields.append(f"Init Duration: {init_duration_ms:.2f} ms")
    if restore_duration_ms is not None:  # SnapStart; billed apart from Duration (reference D.6)
        fields.append(f"Restore Duration: {restore_duration_ms:.2f} ms")
        fields.append(f"Billed Restore Duration: {math.ceil(restore_duration_ms)} ms")
    if status is not None:
        fields.append(f"Status: {status}")
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields)


def init_report_line(init_duration_ms: float, *, phase: str, status: str, error_type: str) -> str:
    """`INIT_REPORT Init Duration: … ms\\tPhase: init\\tStatus: error\\tError Type: …`."""
    return (
        f"INIT_REPORT Init Duration: {init_duration_ms:.2f} ms\tPhase: {phase}"
        f"\tStatus: {status}\tError Type: {error_type}"
    )


def timeout_message(request_id: str, timeout_s: float) -> str:
    """The error message of a timed-out invocation (payload of Sandbox.Timedout)."""
    return f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"


def timeout_line(request_id: str, timeout_s: float, now_s: float) -> str:
    """`<ISO ts> <id> Task timed out after 3.00 seconds`, the log line of a timeout."""
    ts = iso_timestamp(now_s)
    return f"{ts} {request_id} Task timed out after {timeout_s:.2f} seconds"


def exit_message(request_id: str, reason: str) -> str:
    """`RequestId: <id> Error: Runtime exited with error: exit status 1`."""
    return f"RequestId: {request_id} Error: Runtime exited with error: {reason}"


def tail_4kb(text: str) -> str:
    """The last 4096 bytes of `text` (UTF-8), never starting mid-character."""
    data = text.encode("utf-8")
    if len(data) <= LOG_TAIL_BYTES:
        return text
    return data[-LOG_TAIL_BYTES:].decode("utf-8", "ignore")


def log_result_header(text: str) -> str:
    """X-Amz-Log-Result: base64 of the log's last 4 KB."""
    return base64.b64encode(tail_4kb(text).encode("utf-8")).decode("ascii")
