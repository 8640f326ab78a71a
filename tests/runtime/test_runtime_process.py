"""The runtime process on its own: frames over the private pipe pair, output and sentinel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lamina.runtime import protocol
from lamina.runtime.context import LambdaContext, decode_client_context
from lamina.runtime.handler import call

FUNCTIONS_DIR = Path(__file__).parent.parent / "functions"
SENTINEL = b"--sentinel--"


def _read_frame(fd: int):
    header = protocol.read_exactly(fd, protocol.HEADER_SIZE_BYTES)
    assert header is not None
    return protocol.decode_from_runtime(protocol.read_exactly(fd, protocol.frame_length(header)))


def test_runtime_speaks_frames_on_its_own_pipes_and_marks_output_ends():
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    env = {
        **os.environ,
        "_HANDLER": "app.handler",
        protocol.FDS_ENV: f"{to_child_r},{from_child_w}",
        protocol.SENTINEL_ENV: SENTINEL.hex(),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "lamina.runtime"],
        cwd=FUNCTIONS_DIR / "basic",
        env=env,
        pass_fds=(to_child_r, from_child_w),
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(to_child_r)
    os.close(from_child_w)
    try:
        assert isinstance(_read_frame(from_child_r), protocol.InitDone)
        deadline_ms = int(time.time() * 1000) + 3000
        invoke = protocol.Invoke("req-1", b'{"x": 1}', deadline_ms, "arn:f")
        protocol.write_all(to_child_w, protocol.encode_frame(invoke))
        result = _read_frame(from_child_r)
        assert isinstance(result, protocol.Result)
        assert result.request_id == "req-1" and result.error_type is None
        assert json.loads(result.payload)["event"] == {"x": 1}
        assert result.max_rss_kb > 0 and result.duration_ms >= 0
    finally:
        os.close(to_child_w)
        output, _ = child.communicate(timeout=10)
        os.close(from_child_r)
    assert child.returncode == 0
    assert output == b"init output from basic\n" + SENTINEL + b"handling req-1\n" + SENTINEL


def _context(**kwargs) -> LambdaContext:
    return LambdaContext(
        request_id="r",
        deadline_ms=int(time.time() * 1000) + 1000,
        invoked_function_arn="arn",
        client_context=None,
        **kwargs,
    )


def test_call_serialises_decimals_like_aws_and_rejects_other_objects():
    from decimal import Decimal

    assert call(lambda e, c: {"d": Decimal("1.5")}, {}, _context()) == (b'{"d": 1.5}', None)
    payload, error_type = call(lambda e, c: {1, 2}, {}, _context())
    assert error_type == "Runtime.MarshalError"
    assert json.loads(payload)["errorMessage"] == (
        "Unable to marshal response: {1, 2} is not JSON serializable"
    )


def test_remaining_time_never_goes_negative_and_client_context_decodes():
    ctx = LambdaContext(
        request_id="r", deadline_ms=0, invoked_function_arn="arn", client_context=None
    )
    assert ctx.get_remaining_time_in_millis() == 0
    assert decode_client_context(None) is None
    decoded = decode_client_context("eyJjdXN0b20iOiB7ImEiOiAxfX0=")  # {"custom": {"a": 1}}
    assert decoded is not None and decoded.custom == {"a": 1} and decoded.client is None
