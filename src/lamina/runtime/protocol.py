"""Frames between the node and an environment process: a JSON head and raw payload bytes.

Each frame is a 4-byte big-endian body length, then the body: a 4-byte big-endian head length,
the head (a compact JSON array: the message tag, then its fields but the payload) and the
payload bytes as they are (an event, a result or an error document: never re-encoded). The
node writes `Invoke` frames; the runtime answers `InitDone` or `InitFailed` once after start,
then exactly one `Result` per `Invoke`. The pipes are private to the pair (their fd numbers
travel in `FDS_ENV`), so handler output never mixes with frames.

Standard library only, Python 3.9 syntax: this module runs inside every interpreter a
runtime may ask for.
"""

from __future__ import annotations

import json
import os
from typing import NamedTuple, Union

#: Bytes of the big-endian length that precedes every frame body (and every head).
HEADER_SIZE_BYTES = 4
#: Environment variable carrying "<read fd>,<write fd>" of the runtime's pipe pair.
FDS_ENV = "_LAMINA_RUNTIME_FDS"
#: Environment variable carrying the per-environment output sentinel (hex).
SENTINEL_ENV = "_LAMINA_RUNTIME_SENTINEL"
#: Environment variable carrying the sys.path entries before the runtime's (os.pathsep
#: separated): the code directory, then the layers' Python directories.
SYS_PATH_ENV = "_LAMINA_RUNTIME_SYS_PATH"
#: Environment variable naming the runtime to run: "python" (a handler) or "custom" (a
#: bootstrap behind the Runtime API).
KIND_ENV = "_LAMINA_RUNTIME_KIND"
#: The byte a restored (SnapStart) environment waits for before its after-restore hooks run:
#: the node sends it once the process is in the environment's own cgroup.
RESTORE_GO = b"\x00"
#: Largest response a sync invoke may return (reference B.5); the Runtime API refuses more.
MAX_RESPONSE_BYTES = 6_291_556
#: What a response over MAX_RESPONSE_BYTES is replaced with (reference B.3, observed on AWS).
RESPONSE_TOO_LARGE = (
    b'{"errorMessage":"Response payload size exceeded maximum allowed payload size'
    b' (6291556 bytes).","errorType":"Function.ResponseSizeTooLarge"}'
)


class Invoke(NamedTuple):
    """Run the handler once. `deadline_ms` is a Unix epoch in milliseconds."""

    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    client_context: str | None = None
    trace_id: str | None = None


class InitDone(NamedTuple):
    """The handler module imported; the runtime waits for `Invoke` frames."""


class InitFailed(NamedTuple):
    """Init failed; `payload` is the AWS error document. The runtime exits next."""

    error_type: str
    payload: bytes


class Result(NamedTuple):
    """One invocation's outcome: the JSON result, or the AWS error document."""

    request_id: str
    payload: bytes
    error_type: str | None
    duration_ms: float
    max_rss_kb: int


ToRuntime = Invoke
FromRuntime = Union[InitDone, InitFailed, Result]
Message = Union[Invoke, InitDone, InitFailed, Result]

_TAGS = {Invoke: "invoke", InitDone: "init_done", InitFailed: "init_failed", Result: "result"}
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_frame(message: Message) -> bytes:
    """The frame for `message`: body length, head length, JSON head, payload."""
    fields: list[object] = list(message)
    payload = b""
    if isinstance(message, (Invoke, Result, InitFailed)):  # the payload is always field 1
        payload = message.payload
        del fields[1]
    head = _dumps([_TAGS[type(message)], *fields]).encode()
    size = HEADER_SIZE_BYTES + len(head) + len(payload)
    return b"".join((size.to_bytes(4, "big"), len(head).to_bytes(4, "big"), head, payload))


def frame_length(header: bytes | bytearray | memoryview) -> int:
    """The body length announced by a frame header."""
    return int.from_bytes(header, "big")


def _split(body: bytes | bytearray | memoryview) -> tuple[list[object], bytes]:
    size = int.from_bytes(body[:HEADER_SIZE_BYTES], "big")
    head = json.loads(bytes(body[HEADER_SIZE_BYTES : HEADER_SIZE_BYTES + size]))
    return head, bytes(body[HEADER_SIZE_BYTES + size :])


def decode_to_runtime(body: bytes | bytearray | memoryview) -> Invoke:
    """The `Invoke` in a frame body (the bytes after the frame header).

    Raises:
        ValueError: the body is not an Invoke frame.
    """
    head, payload = _split(body)
    if head[0] != "invoke":
        raise ValueError(f"not an invoke frame: {head[0]!r}")
    request_id, deadline_ms, arn, client_context, trace_id = head[1:]
    return Invoke(request_id, payload, deadline_ms, arn, client_context, trace_id)  # type: ignore[arg-type]


def decode_from_runtime(body: bytes | bytearray | memoryview) -> FromRuntime:
    """The InitDone / InitFailed / Result in a frame body.

    Raises:
        ValueError: the body is none of those.
    """
    head, payload = _split(body)
    tag = head[0]
    if tag == "result":
        request_id, error_type, duration_ms, max_rss_kb = head[1:]
        return Result(request_id, payload, error_type, duration_ms, max_rss_kb)  # type: ignore[arg-type]
    if tag == "init_done":
        return InitDone()
    if tag == "init_failed":
        return InitFailed(head[1], payload)  # type: ignore[arg-type]
    raise ValueError(f"not a frame from the runtime: {tag!r}")


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
