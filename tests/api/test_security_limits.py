"""Bounded requests and lying zips: refused before read, nothing left behind (issue 13)."""

from __future__ import annotations

import io
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from harness import ROLE, NodeProcess

INVOKE = "/2015-03-31/functions/{name}/invocations"


def raw_exchange(node: NodeProcess, head: str, body: bytes = b"") -> bytes:
    """Send `head` (which may announce a length it never sends) and return the answer."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def test_oversize_content_length_is_refused_before_reading(node: NodeProcess) -> None:
    # Given a 500 MB Content-Length whose body never comes
    head = (
        f"POST {INVOKE.format(name='f')} HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
        "Content-Length: 524288000\r\n"
    )
    answer = raw_exchange(node, head)
    # Then the node answers at once instead of waiting for 500 MB
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"Request must be smaller than 6291456 bytes for the InvokeFunction operation" in answer


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"a" * min(size, total - sent)
        sent += size


@pytest.mark.parametrize(
    ("path", "headers", "limit"),
    [
        (INVOKE.format(name="f"), {}, 6_291_456),
        (INVOKE.format(name="f"), {"X-Amz-Invocation-Type": "Event"}, 1_048_576),
        ("/2015-03-31/functions", {}, 70_167_211),
    ],
)
def test_streamed_body_stops_at_its_limit(
    node: NodeProcess, path: str, headers: dict[str, str], limit: int
) -> None:
    # A chunked body announces no length: the running count refuses it past the limit.
    r = httpx.post(node.url + path, content=_chunks(limit + 1), headers=headers, timeout=60)
    assert r.status_code == 413
    assert r.headers["x-amzn-ErrorType"] == "RequestEntityTooLargeException"
    assert f"smaller than {limit} bytes" in r.json()["message"]


def test_event_invoke_over_1_mb_is_refused(lam: Any, create_function: Any) -> None:
    name = create_function()["FunctionName"]
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"1" * 1_048_577)
    assert caught.value.response["Error"] == {
        "Code": "RequestEntityTooLargeException",
        "Message": "Request must be smaller than 1048576 bytes for the InvokeFunction operation",
    }
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202


def lying_zip() -> bytes:
    """A zip whose local and central headers claim a size and CRC its data does not have."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n" * 50)
    data = bytearray(buf.getvalue())
    central = data.rfind(b"PK\x01\x02")
    local = 0
    for offset in (local + 22, central + 24):  # uncompressed size fields: claim 10 bytes
        data[offset : offset + 4] = (10).to_bytes(4, "little")
    return bytes(data)


def corrupt_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n" * 50)
    data = bytearray(buf.getvalue())
    data[40:60] = bytes(20)  # inside the deflated stream of the only entry
    return bytes(data)


def _leftovers(data_dir: Path) -> list[str]:
    code = data_dir / "code"
    return sorted(p.name for p in code.iterdir()) if code.exists() else []


@pytest.mark.parametrize("make", [lying_zip, corrupt_zip])
def test_lying_or_corrupt_zip_is_400_and_leaves_nothing(
    node: NodeProcess, lam: Any, make: Any, unique_name: Any
) -> None:
    code_before = _leftovers(node.data_dir)
    name = unique_name("liar")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        lam.create_function(
            FunctionName=name,
            Role=ROLE,
            Runtime="python3.12",
            Handler="app.handler",
            Code={"ZipFile": make()},
        )
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Could not unzip uploaded file" in exc.value.response["Error"]["Message"]
    assert _leftovers(node.data_dir) == code_before
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)


def test_base64_of_a_lying_zip_in_update_code_is_refused(lam: Any, create_function: Any) -> None:
    name = create_function()["FunctionName"]
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_code(FunctionName=name, ZipFile=lying_zip())
