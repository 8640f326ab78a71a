"""Platform log lines, names and the 4 KB tail, in AWS's exact layout."""

from __future__ import annotations

import base64

from lamina.engine import logs


def test_start_end_and_report_lines():
    assert logs.start_line("id-1", "$LATEST") == "START RequestId: id-1 Version: $LATEST"
    assert logs.end_line("id-1") == "END RequestId: id-1"
    warm = logs.report_line(
        "id-1", duration_ms=1.234, billed_duration_ms=2, memory_size_mb=128, max_memory_used_mb=40
    )
    assert warm == (
        "REPORT RequestId: id-1\tDuration: 1.23 ms\tBilled Duration: 2 ms"
        "\tMemory Size: 128 MB\tMax Memory Used: 40 MB"
    )
    cold = logs.report_line(
        "id-1",
        duration_ms=3000,
        billed_duration_ms=3056,
        memory_size_mb=128,
        max_memory_used_mb=40,
        init_duration_ms=55.123,
        status="timeout",
    )
    assert cold.endswith("\tMax Memory Used: 40 MB\tInit Duration: 55.12 ms\tStatus: timeout")
    oom = logs.report_line(
        "id",
        duration_ms=1,
        billed_duration_ms=1,
        memory_size_mb=128,
        max_memory_used_mb=128,
        status="error",
        error_type="Runtime.OutOfMemory",
    )
    assert oom.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    restored = logs.report_line(
        "id",
        duration_ms=2.5,
        billed_duration_ms=3,
        memory_size_mb=128,
        max_memory_used_mb=30,
        restore_duration_ms=6.123,
    )
    assert restored.endswith(
        "\tMax Memory Used: 30 MB\tRestore Duration: 6.12 ms\tBilled Restore Duration: 7 ms"
    )


def test_billed_duration_rounds_up_to_the_millisecond_and_includes_init():
    assert logs.billed_duration_ms(1.01) == 2
    assert logs.billed_duration_ms(2.0) == 2
    assert logs.billed_duration_ms(0.04) == 1
    assert logs.billed_duration_ms(900000.0, 545.0) == 900545


def test_init_report_and_timeout_lines():
    assert logs.init_report_line(154.031, phase="init", status="error", error_type="X") == (
        "INIT_REPORT Init Duration: 154.03 ms\tPhase: init\tStatus: error\tError Type: X"
    )
    assert logs.timeout_message("id", 3) == "RequestId: id Error: Task timed out after 3.00 seconds"
    assert logs.timeout_line("id", 3, now_s=1740830407.412) == (
        "2025-03-01T12:00:07.412Z id Task timed out after 3.00 seconds"
    )


def test_log_names():
    assert logs.log_group_name("f") == "/aws/lambda/f"
    stream = logs.log_stream_name("$LATEST", "0f" * 16, now_s=1740830407.0)
    assert stream == "2025/03/01/[$LATEST]" + "0f" * 16


def test_tail_keeps_the_last_4096_bytes_without_splitting_a_character():
    assert logs.tail_4kb("short") == "short"
    text = "a" * 5000 + "é" * 3000
    tail = logs.tail_4kb(text)
    assert tail == "é" * 2048 and len(tail.encode()) == 4096
    odd = "é" * 3000  # 6000 bytes: a 4096-byte cut lands on a character boundary
    assert len(logs.tail_4kb("x" + odd).encode()) <= 4096
    assert base64.b64decode(logs.log_result_header(text)).decode() == tail
