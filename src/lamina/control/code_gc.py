"""Code garbage collection: a package blob and its unpacked directory live as long as something
refers to them.

Every version record ($LATEST and published ones) holds one reference document
(kind `code-ref`, key `<digest>/<function>/<version>`), written and removed in the same store
transaction as the version itself. Aliases and event source mappings point at versions, so they
keep code alive through them. A running environment keeps its code directory in use: a digest
whose last reference went while an environment still ran on it is retried later.

After a transaction drops a reference, `release` deletes the blob and the directory if no
reference is left. A crash between the two leaves an orphan; `sweep` at start-up removes it.
Per-digest locks keep a collection from racing a create or update that is adding the same code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from lamina.control.code import CodeCache
from lamina.control.function_docs import FunctionDocs
from lamina.control.models import VersionConfig
from lamina.store.base import Delete, Op, Put, Store

log = logging.getLogger("lamina.code")

#: Document kind of code references.
CODE_REF = "code-ref"


def ref_key(version: VersionConfig) -> str:
    return f"{version.code_digest}/{version.name}/{version.version}"


def ref_ops(old: VersionConfig | None, new: VersionConfig | None) -> list[Op]:
    """The reference changes of replacing version record `old` by `new` (either may be None)."""
    if old is not None and new is not None and ref_key(old) == ref_key(new):
        return []
    ops: list[Op] = []
    if old is not None:
        ops.append(Delete(CODE_REF, ref_key(old)))
    if new is not None:
        ops.append(Put(CODE_REF, ref_key(new), b""))
    return ops


def _no_digests() -> set[str]:
    return set()


class CodeCollector:
    """Deletes code nothing refers to; see the module docstring."""

    def __init__(self, store: Store, cache: CodeCache) -> None:
        self.store = store
        self.cache = cache
        #: Digests that running environments use (the node binds this to its pool).
        self.in_use: Callable[[], set[str]] = _no_digests
        self._locks: dict[str, asyncio.Lock] = {}
        self._deferred: set[str] = set()
        self.freed = 0

    @asynccontextmanager
    async def holding(self, digest: str) -> AsyncIterator[None]:
        """Keep `digest` from being collected while a writer adds a reference to it."""
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            yield

    async def release(self, digests: Iterable[str]) -> None:
        """References to `digests` were dropped: delete those no reference is left to."""
        for digest in set(digests):
            await self._collect(digest)

    async def retry_deferred(self) -> None:
        """Collect digests that were still in use by an environment last time."""
        for digest in list(self._deferred):
            await self._collect(digest)

    async def _collect(self, digest: str) -> None:
        async with self.holding(digest):
            if await self.store.scan(CODE_REF, f"{digest}/"):
                self._deferred.discard(digest)
                return
            if digest in self.in_use():
                self._deferred.add(digest)
                return
            await self._delete(digest)
            self._deferred.discard(digest)

    async def _delete(self, digest: str) -> None:
        await self.store.delete_blob(digest)
        await self.cache.remove(digest)
        self.freed += 1
        log.info("code %s freed: nothing refers to it", digest[:12])

    async def sweep(self) -> int:
        """At start-up: backfill missing references of version records, then delete every blob
        and code directory nothing refers to (orphans of a crash). Returns how many went."""
        versions = await FunctionDocs(self.store).all_versions()
        refs = {key for key, _ in await self.store.scan(CODE_REF)}
        missing = [op for v in versions if ref_key(v) not in refs for op in ref_ops(None, v)]
        if missing:
            await self.store.transact(missing)
        live = {v.code_digest for v in versions} | {key.split("/", 1)[0] for key in refs}
        stored = set((await self.store.usage()).blobs) | set(await asyncio.to_thread(self._dirs))
        orphans = sorted(stored - live)
        for digest in orphans:
            await self._delete(digest)
        await asyncio.to_thread(self._remove_partial_unpacks)
        return len(orphans)

    def _dirs(self) -> list[str]:
        if not self.cache.root.is_dir():
            return []
        return [e.name for e in os.scandir(self.cache.root) if len(e.name) == 64 and e.is_dir()]

    def _remove_partial_unpacks(self) -> None:
        if self.cache.root.is_dir():
            for entry in os.scandir(self.cache.root):
                if entry.name.endswith(".tmp"):
                    shutil.rmtree(entry.path, ignore_errors=True)
