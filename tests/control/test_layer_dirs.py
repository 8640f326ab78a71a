"""Layers on the memory store: merged directories (order, overrides, links), the handler's
layer paths, and code collection of layer zips and merged directories."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from harness import zip_source
from lamina.clock import FakeClock
from lamina.control.arns import Arns
from lamina.control.code import CodeCache, check_zip
from lamina.control.function_docs import VERSION, version_key
from lamina.control.functions import FunctionService
from lamina.control.layer_dirs import LayerDirs, merged_key, python_paths
from lamina.control.layers import LayerService, NewLayerVersion
from lamina.control.models import LayerRef
from lamina.control.new_function import NewFunction
from lamina.errors import InvalidParameterValue
from lamina.store.base import Put
from lamina.store.memory import MemoryStore

pytestmark = pytest.mark.anyio
ROLE = "arn:aws:iam::000000000000:role/lambda-role"


class Parts:
    """A function service and a layer service on one memory store and one code directory."""

    def __init__(self, root: Path) -> None:
        self.store = MemoryStore()
        self.clock = FakeClock()
        self.arns = Arns("us-east-1", "000000000000")
        self.code = CodeCache(root / "code")
        self.functions = FunctionService(self.store, self.arns, self.code, self.clock)
        self.layers = LayerService(self.store, self.arns, self.functions.collector, self.clock)
        self.dirs = LayerDirs(self.code, self.store)

    async def publish(self, name: str, files: dict[str, str]) -> LayerRef:
        published = await self.layers.publish(NewLayerVersion(name, check_zip(zip_source(files))))
        return published.ref()

    async def create(self, name: str, layers: list[LayerRef], code: bytes | None = None) -> None:
        package = check_zip(code or zip_source({"app.py": "def handler(e, c):\n    return e\n"}))
        await self.functions.create(
            NewFunction(
                name=name,
                role=ROLE,
                runtime="python3.12",
                handler="app.handler",
                code=package,
                layers=tuple(layers),
            )
        )


# -- merged directories -----------------------------------------------------------------------
async def test_later_layers_override_earlier_files_and_directories(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    first = await parts.publish(
        "first",
        {"python/shared.py": "A", "python/only_first.py": "A", "x/inner.txt": "A", "y": "A"},
    )
    second = await parts.publish("second", {"python/shared.py": "B", "x": "B", "y/in.txt": "B"})

    merged = await parts.dirs.ensure([first, second])
    reversed_order = await parts.dirs.ensure([second, first])

    assert merged.name == merged_key([first, second]) != reversed_order.name
    assert (merged / "python/shared.py").read_text() == "B"
    assert (merged / "python/only_first.py").read_text() == "A"
    assert (merged / "x").read_text() == "B" and (merged / "y/in.txt").read_text() == "B"
    assert (reversed_order / "python/shared.py").read_text() == "A"
    assert (reversed_order / "x/inner.txt").read_text() == "A"
    # the merged files are links to the layer's one unpacked copy, not copies
    unpacked = parts.code.path(second.code_digest) / "python/shared.py"
    assert (merged / "python/shared.py").stat().st_ino == unpacked.stat().st_ino
    assert (merged / "python/shared.py").stat().st_mode & 0o222 == 0  # read-only


async def test_a_merged_directory_is_made_again_from_the_store_on_a_new_node(
    tmp_path: Path,
) -> None:
    parts = Parts(tmp_path)
    ref = await parts.publish("lib", {"python/lib.py": "X = 1\n"})
    elsewhere = LayerDirs(CodeCache(tmp_path / "other-node"), parts.store)

    merged = await elsewhere.ensure([ref])

    assert (merged / "python/lib.py").read_text() == "X = 1\n"
    assert merged.parent == (tmp_path / "other-node").absolute()


def test_python_paths_follow_awss_order_and_the_runtimes_version(tmp_path: Path) -> None:
    (tmp_path / "python/lib/python3.12/site-packages").mkdir(parents=True)
    (tmp_path / "python/lib/python3.11/site-packages").mkdir(parents=True)

    assert python_paths(tmp_path, "python3.12") == [
        str(tmp_path / "python/lib/python3.12/site-packages"),
        str(tmp_path / "python"),
    ]
    assert python_paths(tmp_path, "python3.13") == [str(tmp_path / "python")]
    assert python_paths(None, "python3.12") == []


# -- collection -------------------------------------------------------------------------------
async def test_a_functions_layers_outlive_the_layer_version_until_the_function_goes(
    tmp_path: Path,
) -> None:
    parts = Parts(tmp_path)
    ref = await parts.publish("lib", {"python/lib.py": "X = 1\n"})
    await parts.create("fn", [ref])
    merged = await parts.dirs.ensure([ref])

    await parts.layers.delete("lib", 1)
    kept = await parts.store.get_blob(ref.code_digest)
    await parts.functions.delete("fn", None)

    assert kept is not None
    assert await parts.store.get_blob(ref.code_digest) is None
    assert not merged.exists() and not parts.code.path(ref.code_digest).exists()


async def test_changing_layers_frees_the_old_merged_directory_only(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    a = await parts.publish("a", {"python/a.py": ""})
    b = await parts.publish("b", {"python/b.py": ""})
    await parts.create("fn", [a, b])
    old = await parts.dirs.ensure([a, b])

    await parts.functions.update_configuration("fn", {"layers": [a]}, revision_id=None)
    new = await parts.dirs.ensure([a])
    swept = await parts.functions.collector.sweep()

    assert not old.exists() and new.exists()
    assert swept == 0
    assert await parts.store.get_blob(b.code_digest) is not None  # layer b still published


async def test_code_and_layers_past_250_mb_unzipped_are_refused(tmp_path: Path) -> None:
    parts = Parts(tmp_path)
    big = LayerRef(arn="arn", code_digest="0" * 64, code_size=1, unzipped_size=200 * 2**20)

    with pytest.raises(InvalidParameterValue, match="combined with layers exceeds"):
        await parts.create("fn", [big, big])
    assert await parts.functions.records.meta("fn") is None


async def test_a_layer_deleted_between_resolve_and_create_is_refused_not_lost(
    tmp_path: Path,
) -> None:
    parts = Parts(tmp_path)
    ref = await parts.publish("lib", {"python/lib.py": ""})
    resolved = await parts.layers.resolve([ref.arn])

    await parts.layers.delete("lib", 1)  # its zip goes: nothing else refers to it

    with pytest.raises(InvalidParameterValue, match=f"Layer version {ref.arn} does not exist"):
        await parts.create("fn", resolved)
    assert await parts.functions.records.meta("fn") is None


async def test_a_function_stored_before_layers_takes_layers_and_is_measured(
    tmp_path: Path,
) -> None:
    # Given a $LATEST record as written before layers existed (no layers, no unzipped size)
    parts = Parts(tmp_path)
    await parts.create("old", [])
    current = await parts.functions.version("old", "$LATEST")
    old_shape = msgspec.to_builtins(current)
    del old_shape["layers"], old_shape["code_unzipped_size"]
    await parts.store.transact(
        [Put(VERSION, version_key("old", "$LATEST"), msgspec.msgpack.encode(old_shape))]
    )
    ref = await parts.publish("lib", {"python/lib.py": ""})

    # When it is given a layer
    updated = await parts.functions.update_configuration("old", {"layers": [ref]}, revision_id=None)

    # Then its code was measured from the stored zip, and the layer is kept
    code = await parts.store.get_blob(current.code_digest)
    assert code is not None
    assert updated.code_unzipped_size == check_zip(code).unzipped_size > 0
    assert (await parts.functions.version("old", "$LATEST")).layers == [ref]
