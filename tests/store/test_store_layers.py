"""The store contract for layers: layer and layer version records, their numbering and the
references that keep their zips, the same on every backend (through LayerService, which writes
them as documents, blobs and code references in one transaction)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from lamina.clock import FakeClock
from lamina.control.arns import Arns
from lamina.control.code import CodeCache, check_zip
from lamina.control.code_gc import CODE_REF, CodeCollector
from lamina.control.layers import LAYER_VERSION, LayerService, NewLayerVersion
from lamina.errors import InvalidParameterValue, ResourceNotFound
from lamina.store.base import Store

pytestmark = pytest.mark.anyio


def layer_zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("python/mod.py", text)
    return buf.getvalue()


def service(store: Store, tmp_path: Path) -> LayerService:
    clock = FakeClock()
    collector = CodeCollector(store, CodeCache(tmp_path / "code"), clock)
    return LayerService(store, Arns("us-east-1", "000000000000"), collector, clock)


def new(name: str, text: str = "X = 1\n", **kwargs: Any) -> NewLayerVersion:
    return NewLayerVersion(name=name, code=check_zip(layer_zip(text)), **kwargs)


async def test_versions_count_up_and_are_never_reused_after_deletes(
    store: Store, tmp_path: Path
) -> None:
    layers = service(store, tmp_path)

    one = await layers.publish(new("lib", "A = 1\n"))
    two = await layers.publish(new("lib", "A = 2\n"))
    await layers.delete("lib", 1)
    await layers.delete("lib", 2)
    three = await layers.publish(new("lib", "A = 1\n"))

    assert [one.version, two.version, three.version] == [1, 2, 3]
    assert three.arn == "arn:aws:lambda:us-east-1:000000000000:layer:lib:3"
    assert [v.version for v in await layers.versions("lib")] == [3]


async def test_a_version_reads_back_as_published(store: Store, tmp_path: Path) -> None:
    layers = service(store, tmp_path)

    published = await layers.publish(
        new(
            "lib",
            description="d",
            license_info="MIT",
            compatible_runtimes=["python3.12"],
            compatible_architectures=["arm64"],
        )
    )

    assert await layers.get("lib", 1) == published
    assert await layers.get_by_arn(published.arn) == published
    assert await store.get_blob(published.code_digest) == layer_zip("X = 1\n")
    assert [v.version for v in await layers.versions("lib", "python3.12", "arm64")] == [1]
    assert await layers.versions("lib", "python3.11") == []
    assert [v.name for v in await layers.latest_matching(architecture="arm64")] == ["lib"]


async def test_delete_is_idempotent_and_frees_a_zip_nothing_else_uses(
    store: Store, tmp_path: Path
) -> None:
    layers = service(store, tmp_path)
    shared = await layers.publish(new("a", "S = 1\n"))
    await layers.publish(new("b", "S = 1\n"))  # the same zip, under another layer

    await layers.delete("a", 1)
    await layers.delete("a", 1)
    await layers.delete("never", 4)
    kept = await store.get_blob(shared.code_digest)
    await layers.delete("b", 1)

    assert kept is not None
    assert await store.get_blob(shared.code_digest) is None
    assert await store.scan(CODE_REF) == [] and await store.scan(LAYER_VERSION) == []
    with pytest.raises(ResourceNotFound):
        await layers.get("a", 1)
    with pytest.raises(InvalidParameterValue):
        await layers.delete("a", 0)


async def test_publishers_racing_on_one_layer_get_distinct_numbers(
    store: Store, tmp_path: Path
) -> None:
    # two services on one store: two nodes, each with its own locks
    first, second = service(store, tmp_path / "1"), service(store, tmp_path / "2")

    got = await asyncio.gather(
        *(svc.publish(new("race", f"N = {i}\n")) for i in range(4) for svc in (first, second))
    )

    assert sorted(v.version for v in got) == list(range(1, 9))
    assert [v.version for v in await first.versions("race")] == list(range(8, 0, -1))
