"""A full disk: writes answer ServiceException, reads go on, nothing accepted is lost, and the
node writes again by itself once space is freed. The data directory is a small tmpfs."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, NodeProcess, wait_for, zip_source

NodeFactory = Callable[..., NodeProcess]
ECHO = {"app.py": "def handler(event, context):\n    print('ran', event)\n    return event\n"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs; skipped where mounting is not allowed (but never under CI)."""
    mount = tmp_path / "data"  # the data dir itself: the node's log stays outside
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.decode()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses even 512 bytes; return it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_a_full_disk_costs_no_accepted_data(node_factory: NodeFactory, small_disk: Path) -> None:
    node = node_factory(data_dir=small_disk)
    lam = node.client()
    lam.create_function(
        FunctionName="f",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source(ECHO)},
    )
    assert lam.invoke(FunctionName="f", Payload=b'{"n": 0}')["StatusCode"] == 200

    slow = {"app.py": "import time\ndef handler(event, context):\n    time.sleep(0.3)\n"}
    lam.create_function(
        FunctionName="slow",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source(slow)},
    )
    lam.put_function_concurrency(FunctionName="slow", ReservedConcurrentExecutions=1)
    backlog = [  # accepted before the disk fills; most still queued while it is full
        lam.invoke(FunctionName="slow", InvocationType="Event", Payload=b"{}")["ResponseMetadata"][
            "RequestId"
        ]
        for _ in range(8)
    ]

    filler = fill(small_disk)
    bigger = zip_source({**ECHO, "more.py": "x = 1\n" * 9000})
    with pytest.raises(ClientError) as refused:
        lam.create_function(
            FunctionName="g",
            Role=ROLE,
            Runtime="python3.12",
            Handler="app.handler",
            Code={"ZipFile": bigger},
        )
    assert error_code(refused.value) == "ServiceException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500

    accepted = []
    for i in range(40):  # writes: each is either accepted (and kept) or refused with a 5xx
        try:
            out = lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": %d}' % i)
            accepted.append(out["ResponseMetadata"]["RequestId"])
        except ClientError as exc:
            assert error_code(exc) == "ServiceException"
    print(f"{len(accepted)} of 40 async invokes accepted while the disk was full")
    # reads keep working, and so do synchronous invokes of existing code
    assert lam.get_function(FunctionName="f")["Configuration"]["FunctionName"] == "f"
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["f", "slow"]
    assert lam.invoke(FunctionName="f", Payload=b'{"n": 99}')["Payload"].read() == b'{"n": 99}'

    filler.unlink()  # space again: the node writes without a restart
    lam.create_function(
        FunctionName="g",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source(ECHO)},
    )
    out = lam.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"n": "after"}')
    accepted.append(out["ResponseMetadata"]["RequestId"])
    for rid in [*backlog, *accepted]:
        wait_for(lambda rid=rid: f"event {rid} succeeded" in node.log(), timeout=60)

    node.stop()
    db = sqlite3.connect(small_disk / "lamina.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    node.start()
    names = [f["FunctionName"] for f in node.client().list_functions()["Functions"]]
    assert names == ["f", "g", "slow"]
