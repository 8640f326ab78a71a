"""The runtime directory: made once per data directory from the per-user seed, which collects
the bytecode templates compiled; the seed itself when the data directory has no room."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from lamina.engine import runtime_dir


@pytest.fixture
def seed_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setattr(runtime_dir, "default_root", lambda: root)
    return root


def test_a_node_links_its_runtime_directory_from_the_seed(seed_root: Path, tmp_path: Path) -> None:
    made = runtime_dir.prepare(tmp_path / "data" / "runtime")
    assert made == tmp_path / "data" / "runtime" / runtime_dir.key()
    assert runtime_dir.prepare(tmp_path / "data" / "runtime") == made  # once
    seed = seed_root / made.name
    for name in ("lamina_runtime/protocol.py", "boto3/__init__.py", "botocore/__init__.py"):
        assert (made / name).samefile(seed / name)
    version = importlib.metadata.version("boto3")
    assert (made / f"boto3-{version}.dist-info" / "METADATA").is_file()


def test_bytecode_compiled_in_one_node_is_linked_into_the_next(
    seed_root: Path, tmp_path: Path
) -> None:
    first = runtime_dir.prepare(tmp_path / "one")
    compiled = first / "boto3" / "__pycache__" / "__init__.cpython-399.pyc"
    compiled.write_bytes(b"as an interpreter's template would have written it")
    runtime_dir.harvest(first)
    second = runtime_dir.prepare(tmp_path / "two")
    assert (second / compiled.relative_to(first)).samefile(compiled)


def test_without_room_in_the_data_directory_the_seed_is_the_runtime_directory(
    seed_root: Path, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    assert runtime_dir.prepare(blocked / "runtime") == seed_root / runtime_dir.key()
