"""The node's end of the frame format of `lamina.runtime.protocol`, with msgspec's JSON.

The runtime speaks the format with the standard library (it runs in every interpreter); the
node writes `Invoke` frames and reads the runtime's frames on every invocation, so it does the
same with msgspec: the same bytes, several times faster (tests/runtime/test_protocol.py holds
the two ends to each other).
"""

from __future__ import annotations

from typing import Any

import msgspec

from lamina.runtime.protocol import (
    HEADER_SIZE_BYTES,
    FromRuntime,
    InitDone,
    InitFailed,
    Invoke,
    Result,
)

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[list[Any]] = msgspec.json.Decoder(list[Any])


def encode_invoke(invoke: Invoke) -> bytes:
    """The frame of `invoke`, as `protocol.encode_frame` writes it."""
    head = _encoder.encode(
        (
            "invoke",
            invoke.request_id,
            invoke.deadline_ms,
            invoke.invoked_function_arn,
            invoke.client_context,
            invoke.trace_id,
        )
    )
    payload = invoke.payload
    size = HEADER_SIZE_BYTES + len(head) + len(payload)
    return b"".join((size.to_bytes(4, "big"), len(head).to_bytes(4, "big"), head, payload))


def decode_from_runtime(body: bytes | bytearray | memoryview) -> FromRuntime:
    """The InitDone / InitFailed / Result in a frame body, as `protocol.decode_from_runtime`.

    Raises:
        ValueError: the body is none of those (msgspec.DecodeError is a ValueError).
    """
    size = int.from_bytes(body[:HEADER_SIZE_BYTES], "big")
    head = _decoder.decode(body[HEADER_SIZE_BYTES : HEADER_SIZE_BYTES + size])
    payload = bytes(body[HEADER_SIZE_BYTES + size :])
    tag = head[0]
    if tag == "result":
        return Result(head[1], payload, head[2], head[3], head[4])
    if tag == "init_done":
        return InitDone()
    if tag == "init_failed":
        return InitFailed(head[1], payload)
    raise ValueError(f"not a frame from the runtime: {tag!r}")
