"""A function's layers on disk: each layer zip unpacked once, and one merged `/opt` per layer list.

Each layer version's zip is unpacked once per node, by digest, into the same content-addressed
directory tree as function code (`<data-dir>/code/<digest>`, control/code.py). A function with
layers runs with one more directory, the equivalent of AWS's `/opt`: its layers merged in order,
later layers overriding earlier files, as AWS extracts them. It is named by a key derived from the
ordered digests (`merged_key`), so every function with the same layer list shares it, and it is
made of hard links to the unpacked layers (a copy where the file system refuses links), so it
costs little space; its files are read-only. Both kinds of directory are collected like code
(control/code_gc.py): a function version holds a reference to each layer digest and to its
merged key.

Lamina does not remap paths: a handler finds its layers' modules on `sys.path` (`python_paths`),
not at the literal path `/opt`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from lamina.control.code import CodeCache
from lamina.errors import StoreError


class _Ref(Protocol):
    @property
    def code_digest(self) -> str: ...


class _Blobs(Protocol):
    async def get_blob(self, digest: str) -> bytes | None: ...


def merged_key(layers: Sequence[_Ref]) -> str:
    """The name of the merged directory of `layers` (in order): 64 hex digits, like a digest."""
    joined = "\n".join(layer.code_digest for layer in layers)
    return hashlib.sha256(b"lamina-opt\n" + joined.encode()).hexdigest()


def python_paths(opt_dir: Path | None, runtime: str) -> list[str]:
    """Where a Python handler finds its layers' code, in AWS's order: the runtime's
    `python/lib/pythonX.Y/site-packages`, then `python` (only those that exist)."""
    if opt_dir is None:
        return []
    candidates = [opt_dir / "python" / "lib" / runtime / "site-packages", opt_dir / "python"]
    return [str(p) for p in candidates if runtime.startswith("python") and p.is_dir()]


class LayerDirs:
    """Unpacks layers and merges layer lists under a code cache's root."""

    def __init__(self, cache: CodeCache, blobs: _Blobs) -> None:
        self.cache = cache
        self.blobs = blobs
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure(self, layers: Sequence[_Ref]) -> Path:
        """The merged directory of `layers`, unpacking and merging what is not there yet.

        Raises:
            StoreError: a layer's zip is missing from the store, or the disk is full.
        """
        sources = []
        for layer in layers:
            digest = layer.code_digest
            if not self.cache.path(digest).is_dir():
                try:
                    await self.cache.ensure(digest, await self.blobs.get_blob(digest))
                except FileNotFoundError as exc:
                    raise StoreError(f"layer code {digest[:12]} is missing") from exc
            sources.append(self.cache.path(digest))
        key = merged_key(layers)
        target = self.cache.path(key)
        async with self._locks.setdefault(key, asyncio.Lock()):
            if not target.is_dir():
                try:
                    await asyncio.to_thread(_merge, sources, target)
                except OSError as exc:
                    raise StoreError(f"cannot merge layers: {exc}") from exc
        return target


def _merge(sources: list[Path], target: Path) -> None:
    """Build `target` from `sources` in order (a later file replaces an earlier one), atomically."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        for source in sources:
            _overlay(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _overlay(source: Path, dest: Path) -> None:
    for root, dirs, files in os.walk(source):
        rel = Path(root).relative_to(source)
        for name in dirs:
            there = dest / rel / name
            if (Path(root) / name).is_symlink():  # listed with directories, never walked into
                _place(Path(root) / name, there)
                continue
            if (there.is_symlink() or there.exists()) and not there.is_dir():
                there.unlink()  # an earlier layer's file where this layer has a directory
            there.mkdir(exist_ok=True)
        for name in files:
            _place(Path(root) / name, dest / rel / name)


def _place(src: Path, dst: Path) -> None:
    if dst.is_symlink() or dst.is_file():
        dst.unlink()
    elif dst.is_dir():
        shutil.rmtree(dst)  # an earlier layer's directory where this layer has a file
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links refused: copy
        shutil.copy2(src, dst)
    # shared by every function with these layers: no handler may change another's files
    os.chmod(dst, stat.S_IMODE(os.stat(dst).st_mode) & ~0o222)
