"""Every way an invocation can fail, each followed by a call that works."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from envtools import call, make_spec

from lamina.engine.pool import Pool


def _then_ok(run_pool, spec, ok_spec=None):
    """Invoke `spec` once (expected to fail), then `ok_spec` once; return both results."""

    async def scenario(pool: Pool):
        failed = await call(pool, spec)
        ok = await call(pool, ok_spec or spec)
        return failed, ok, pool.statistics()

    return run_pool(scenario)


def _error(result) -> dict:
    assert result.function_error == "Unhandled"
    return json.loads(result.payload)


@pytest.mark.parametrize(
    ("code", "handler", "error_type", "message"),
    [
        (
            "broken_import",
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': "
            "No module named 'lamina_test_module_that_does_not_exist'",
        ),
        (
            "basic",
            "app.missing",
            "Runtime.HandlerNotFound",
            "Handler 'missing' missing on module 'app'",
        ),
        (
            "basic",
            "nodot",
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)",
        ),
    ],
)
def test_init_errors_are_returned_and_the_next_call_retries_init(
    run_pool, code, handler, error_type, message
):
    spec = make_spec(code, handler=handler)
    failed, again, stats = _then_ok(run_pool, spec)
    doc = _error(failed)
    assert doc == {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "",
        "stackTrace": [],
    }
    assert failed.error_type == error_type and failed.cold and failed.init_duration_ms
    assert "INIT_REPORT Init Duration: " in failed.log_text
    assert f"Phase: init\tStatus: error\tError Type: {error_type}" in failed.log_text
    assert again.error_type == error_type and again.environment_id != failed.environment_id
    assert stats.total == 0


def test_syntax_error_in_the_module_is_a_user_code_syntax_error(run_pool, tmp_path: Path):
    (tmp_path / "app.py").write_text("def handler(event, context)\n    return 1\n")
    failed, _, _ = _then_ok(run_pool, make_spec(tmp_path), make_spec("basic"))
    doc = _error(failed)
    assert doc["errorType"] == "Runtime.UserCodeSyntaxError"
    assert doc["errorMessage"].startswith("Syntax error in module 'app': ")
    assert doc["stackTrace"][0].startswith('  File "')


def test_process_dying_during_init_is_an_exit_error(run_pool):
    failed, _, _ = _then_ok(run_pool, make_spec("init_crash"), make_spec("basic"))
    doc = _error(failed)
    assert doc["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(
        r"RequestId: \S+ Error: Runtime exited with error: exit status 7", doc["errorMessage"]
    )


def test_handler_exception_is_shaped_like_aws_and_keeps_the_environment(run_pool):
    failed, ok, _ = _then_ok(
        run_pool, make_spec("faults", handler="app.raises"), make_spec("faults", handler="app.ok")
    )
    doc = _error(failed)
    assert doc["errorType"] == failed.error_type == "ValueError"
    assert doc["errorMessage"] == "boom" and doc["requestId"]
    assert doc["stackTrace"] and "in raises" in doc["stackTrace"][-1]
    assert all("lamina/runtime" not in frame for frame in doc["stackTrace"])
    assert "[ERROR] ValueError: boom\rTraceback (most recent call last):\r" in failed.log_text
    assert "Status:" not in failed.log_text
    assert ok.error_type is None


def test_non_serialisable_result_is_a_marshal_error(run_pool):
    spec = make_spec("faults", handler="app.unserialisable")
    failed, _, _ = _then_ok(run_pool, spec, make_spec("faults", handler="app.ok"))
    doc = _error(failed)
    assert doc["errorType"] == "Runtime.MarshalError"
    assert doc["errorMessage"] == (
        "Unable to marshal response: datetime.datetime(2024, 1, 1, 0, 0) is not JSON serializable"
    )


@pytest.mark.parametrize("handler", ["app.busy_loop", "app.sleeps"])
def test_timeout_kills_the_environment_and_reports_sandbox_timedout(run_pool, handler):
    spec = make_spec("faults", handler=handler, timeout_s=1)
    failed, ok, stats = _then_ok(run_pool, spec, make_spec("faults", handler="app.ok"))
    doc = _error(failed)
    assert doc["errorType"] == failed.error_type == "Sandbox.Timedout"
    assert re.fullmatch(
        r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", doc["errorMessage"]
    )
    assert re.search(
        r"\d{4}-\d\d-\d\dT[\d:.]+Z \S+ Task timed out after 1\.00 seconds\n", failed.log_text
    )
    assert "Duration: 1000.00 ms" in failed.log_text and "\tStatus: timeout" in failed.log_text
    assert ok.error_type is None and ok.cold and ok.environment_id != failed.environment_id
    assert stats.total == 1


@pytest.mark.parametrize(
    ("handler", "reason"),
    [("app.exits", "exit status 3"), ("app.segfault", "signal: segmentation fault")],
)
def test_runtime_exit_is_an_exit_error_with_its_status(run_pool, handler, reason):
    spec = make_spec("faults", handler=handler)
    failed, ok, _ = _then_ok(run_pool, spec, make_spec("faults", handler="app.ok"))
    doc = _error(failed)
    assert doc["errorType"] == "Runtime.ExitError"
    assert doc["errorMessage"].endswith(f"Error: Runtime exited with error: {reason}")
    assert "\tStatus: error\tError Type: Runtime.ExitError" in failed.log_text
    assert ok.error_type is None and ok.environment_id != failed.environment_id


def test_memory_hog_is_killed_as_out_of_memory(run_pool):
    spec = make_spec("faults", handler="app.memory_hog", memory_mb=128, timeout_s=10)
    failed, ok, _ = _then_ok(run_pool, spec, make_spec("faults", handler="app.ok"))
    doc = _error(failed)
    assert doc["errorType"] == failed.error_type == "Runtime.OutOfMemory"
    assert doc["errorMessage"].endswith("Error: Runtime exited with error: signal: killed")
    assert failed.max_memory_used_mb >= 128
    assert "\tStatus: error\tError Type: Runtime.OutOfMemory" in failed.log_text
    assert failed.duration_ms < 10_000
    assert ok.error_type is None
