"""The frame format: a JSON head and raw payload bytes, read back as what was written, and
the same bytes from the node's msgspec end (engine/frames.py) as from the runtime's."""

from __future__ import annotations

import pytest

from lamina.engine import frames
from lamina.runtime import protocol

MESSAGES = [
    protocol.Invoke(
        "r-1", b'{"a": "\\u00e9\xc3\xa9"}', 1700000000123, "arn:f:1", "e30=", "Root=1-a"
    ),
    protocol.Invoke("r-2", b"", 5, "arn:f"),
    protocol.Result("r-1", b'{"ok": true}', None, 1.25, 4096),
    protocol.Result("r-2", b"\x00\xffnot json", "Function.Boom", 0.0, 0),
    protocol.InitDone(),
    protocol.InitFailed("Runtime.ImportModuleError", b'{"errorMessage": "x"}'),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_a_frame_reads_back_as_the_message_written(message: protocol.Message) -> None:
    frame = protocol.encode_frame(message)
    size = protocol.frame_length(frame[: protocol.HEADER_SIZE_BYTES])
    body = memoryview(frame)[protocol.HEADER_SIZE_BYTES :]
    assert size == len(body)
    if isinstance(message, protocol.Invoke):
        assert protocol.decode_to_runtime(body) == message
    else:
        decoded = protocol.decode_from_runtime(body)
        assert type(decoded) is type(message) and decoded == message


def test_the_payload_travels_as_it_is_after_the_head() -> None:
    payload = b'{"big": "' + b"x" * 100_000 + b'"}'
    frame = protocol.encode_frame(protocol.Result("r", payload, None, 1.0, 1))
    assert frame.endswith(payload)


def test_frames_of_the_wrong_direction_are_refused() -> None:
    invoke = protocol.encode_frame(protocol.Invoke("r", b"{}", 1, "arn"))[4:]
    result = protocol.encode_frame(protocol.Result("r", b"{}", None, 1.0, 1))[4:]
    with pytest.raises(ValueError, match="not a frame from the runtime"):
        protocol.decode_from_runtime(invoke)
    with pytest.raises(ValueError, match="not an invoke frame"):
        protocol.decode_to_runtime(result)


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_the_nodes_msgspec_end_writes_and_reads_the_same_frames(message: protocol.Message) -> None:
    frame = protocol.encode_frame(message)
    if isinstance(message, protocol.Invoke):
        assert frames.encode_invoke(message) == frame
    else:
        decoded = frames.decode_from_runtime(memoryview(frame)[protocol.HEADER_SIZE_BYTES :])
        assert type(decoded) is type(message) and decoded == message
