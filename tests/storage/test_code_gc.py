"""Code garbage collection: old packages and their unpacked copies go once nothing uses them."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from harness import ROLE, NodeProcess, sqlite_files_only, wait_for, zip_source

# The shared (Redis) store's collection: tests/api/test_redis_cluster.py.
pytestmark = sqlite_files_only

NodeFactory = Callable[..., NodeProcess]


@functools.cache
def package(n: int) -> bytes:
    """A zip whose handler returns `n`; the same bytes every call (zips carry a timestamp)."""
    return zip_source({"app.py": f"def handler(event, context):\n    return {n}\n"})


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_on_disk(data_dir: Path) -> tuple[set[str], set[str]]:
    """Digests of the stored blobs and of the unpacked code directories."""
    blobs = {p.name for p in (data_dir / "blobs").iterdir() if len(p.name) == 64}
    code = data_dir / "code"
    dirs = {p.name for p in code.iterdir() if p.is_dir()} if code.is_dir() else set()
    return blobs, dirs


def create(lam: object, name: str, data: bytes, **kwargs: object) -> None:
    lam.create_function(  # type: ignore[attr-defined]
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": data},
        **kwargs,
    )


def test_updates_free_old_code_and_keep_what_versions_use(fresh_node: NodeProcess) -> None:
    node = fresh_node
    lam = node.client()
    create(lam, "f", package(0), Publish=True)  # version 1 keeps package 0
    for n in range(1, 4):
        lam.update_function_code(FunctionName="f", ZipFile=package(n))
        assert json.loads(lam.invoke(FunctionName="f")["Payload"].read()) == n

    expected = {digest(package(0)), digest(package(3))}
    assert code_on_disk(node.data_dir) == (expected, expected)
    assert json.loads(lam.invoke(FunctionName="f", Qualifier="1")["Payload"].read()) == 0

    lam.delete_function(FunctionName="f", Qualifier="1")
    wanted = {digest(package(3))}
    assert code_on_disk(node.data_dir) == (wanted, wanted)


def test_shared_code_stays_until_its_last_user_goes(fresh_node: NodeProcess) -> None:
    node = fresh_node
    lam = node.client()
    create(lam, "a", package(7))
    create(lam, "b", package(7))
    lam.delete_function(FunctionName="a")
    assert code_on_disk(node.data_dir)[0] == {digest(package(7))}
    assert json.loads(lam.invoke(FunctionName="b")["Payload"].read()) == 7


def test_a_deleted_function_frees_everything(fresh_node: NodeProcess) -> None:
    node = fresh_node
    lam = node.client()
    create(lam, "f", package(0), Publish=True)
    lam.update_function_code(FunctionName="f", ZipFile=package(1), Publish=True)
    lam.create_alias(FunctionName="f", Name="live", FunctionVersion="1")
    lam.invoke(FunctionName="f", Qualifier="live")  # an environment on version 1's code
    lam.delete_function(FunctionName="f")
    # a running environment may hold its directory a moment; the node retries until it is free
    wait_for(lambda: code_on_disk(node.data_dir) == (set(), set()), timeout=20)


def test_an_orphan_left_by_a_crash_is_gone_after_restart(node_factory: NodeFactory) -> None:
    node = node_factory()
    lam = node.client()
    create(lam, "keep", package(1))
    node.kill9()
    # what a crash between the reference drop and the file delete leaves behind
    orphan = package(2)
    (node.data_dir / "blobs" / digest(orphan)).write_bytes(orphan)
    (node.data_dir / "code" / digest(orphan)).mkdir(parents=True)
    (node.data_dir / "code" / f".{digest(orphan)}.123.tmp").mkdir()

    node.start()
    kept = {digest(package(1))}
    assert code_on_disk(node.data_dir) == (kept, kept)
    assert not list((node.data_dir / "code").glob(".*.tmp"))
    assert json.loads(node.client().invoke(FunctionName="keep")["Payload"].read()) == 1
