"""Frames between the node and an environment process: length-prefixed msgpack.

Each frame is a 4-byte big-endian body length followed by a msgpack body. The node
writes `Invoke` frames; the runtime answers `InitDone` or `InitFailed` once after
start, then exactly one `Result` per `Invoke`. The pipes are private to the pair
(their fd numbers travel in `FDS_ENV`), so handler output never mixes with frames.
"""

from __future__ import annotations

import os

import msgspec

#: Bytes of the big-endian length that precedes every frame body.
HEADER_SIZE_BYTES = 4
#: Environment variable carrying "<read fd>,<write fd>" of the runtime's pipe pair.
FDS_ENV = "_LAMINA_RUNTIME_FDS"
#: Environment variable carrying the per-environment output sentinel (hex).
SENTINEL_ENV = "_LAMINA_RUNTIME_SENTINEL"
#: Environment variable carrying extra sys.path entries (os.pathsep separated).
SYS_PATH_ENV = "_LAMINA_RUNTIME_SYS_PATH"


class Invoke(msgspec.Struct, frozen=True, tag="invoke"):
    """Run the handler once. `deadline_ms` is a Unix epoch in milliseconds."""

    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    client_context: str | None = None
    trace_id: str | None = None


class InitDone(msgspec.Struct, frozen=True, tag="init_done"):
    """The handler module imported; the runtime waits for `Invoke` frames."""


class InitFailed(msgspec.Struct, frozen=True, tag="init_failed"):
    """Init failed; `payload` is the AWS error document. The runtime exits next."""

    error_type: str
    payload: bytes


class Result(msgspec.Struct, frozen=True, tag="result"):
    """One invocation's outcome: the JSON result, or the AWS error document."""

    request_id: str
    payload: bytes
    error_type: str | None
    duration_ms: float
    max_rss_kb: int


ToRuntime = Invoke
FromRuntime = InitDone | InitFailed | Result

_encoder = msgspec.msgpack.Encoder()
to_runtime_decoder: msgspec.msgpack.Decoder[Invoke] = msgspec.msgpack.Decoder(ToRuntime)
from_runtime_decoder: msgspec.msgpack.Decoder[InitDone | InitFailed | Result] = (
    msgspec.msgpack.Decoder(FromRuntime)
)


def encode_frame(message: Invoke | InitDone | InitFailed | Result) -> bytes:
    """The frame for `message`: length header plus msgpack body."""
    body = _encoder.encode(message)
    return len(body).to_bytes(HEADER_SIZE_BYTES, "big") + body


def frame_length(header: bytes | bytearray) -> int:
    """The body length announced by a frame header."""
    return int.from_bytes(header, "big")


def read_exactly(fd: int, size: int) -> bytes | None:
    """Blocking read of `size` bytes from `fd` (runtime side); None at end of file."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    """Blocking write of all of `data` to `fd` (runtime side)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
