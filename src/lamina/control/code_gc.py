"""Code garbage collection: a package blob and its unpacked directory live as long as something
refers to them.

Every version record ($LATEST and published ones) holds one reference document
(kind `code-ref`, key `<digest>/<function>/<version>`), written and removed in the same store
transaction as the version itself. Aliases and event source mappings point at versions, so they
keep code alive through them. A version with layers also refers to each layer's zip
(`<digest>/<function>/<version>/layer`: the function keeps its layers after they are deleted, as
on AWS) and to the merged directory of its layer list (`<key>/<function>/<version>`, the key
from control/layer_dirs.py); a published layer version refers to its zip
(`<digest>/layer:<name>/<version>`). A running environment keeps its code directory in use: a digest
whose last reference went while an environment still ran on it is retried later.

After a transaction drops a reference, `release` deletes the blob and the directory if no
reference is left. A crash between the two leaves an orphan; `sweep` at start-up removes it.
Per-digest locks keep a collection from racing a create or update that is adding the same code.

On a shared store (several nodes on one Redis) those locks guard only this node, and each node
has its own code directory. So a writer first puts a hold document (kind `code-hold`, key
`<digest>/<random>`, value its expiry) and removes it once its reference is written; a blob with
a hold not yet expired counts as referenced: it may be in the middle of another node's
CreateFunction. A collector checks, reads the blob, deletes it and checks again: if a reference
or hold appeared meanwhile it puts the blob back, and a writer whose hold came after that second
check puts the blob itself after its hold, so neither order loses code a version refers to.
Another node's unpacked directory of a collected digest stays until that node's next sweep.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from lamina.clock import Clock
from lamina.control.code import CodeCache
from lamina.control.function_docs import FunctionDocs
from lamina.control.layer_dirs import merged_key
from lamina.control.models import VersionConfig
from lamina.store.base import Delete, Op, Put, Store

log = logging.getLogger("lamina.code")

#: Document kind of code references.
CODE_REF = "code-ref"
#: Document kind of writers' holds on a digest (shared stores only), and how long one lasts
#: at most: a writer that dies keeps its code from collection this long.
CODE_HOLD = "code-hold"
HOLD_S = 600.0


def ref_keys(version: VersionConfig) -> set[str]:
    """The references a version record holds: its code, its layers' zips, their merged dir."""
    owner = f"{version.name}/{version.version}"
    keys = {f"{version.code_digest}/{owner}"}
    if version.layers:
        keys |= {f"{layer.code_digest}/{owner}/layer" for layer in version.layers}
        keys.add(f"{merged_key(version.layers)}/{owner}")
    return keys


def digests(version: VersionConfig) -> set[str]:
    """Every blob or directory name `version` keeps alive."""
    return {key.split("/", 1)[0] for key in ref_keys(version)}


def layer_ref_key(digest: str, name: str, version: int) -> str:
    """The reference a published layer version holds on its zip."""
    return f"{digest}/layer:{name}/{version}"


def ref_ops(old: VersionConfig | None, new: VersionConfig | None) -> list[Op]:
    """The reference changes of replacing version record `old` by `new` (either may be None)."""
    before = ref_keys(old) if old is not None else set()
    after = ref_keys(new) if new is not None else set()
    ops: list[Op] = [Delete(CODE_REF, key) for key in sorted(before - after)]
    ops += [Put(CODE_REF, key, b"") for key in sorted(after - before)]
    return ops


def _no_digests() -> set[str]:
    return set()


class CodeCollector:
    """Deletes code nothing refers to; see the module docstring."""

    def __init__(
        self, store: Store, cache: CodeCache, clock: Clock | None = None, *, shared: bool = False
    ) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock or Clock()
        #: The store is shared with other nodes: holds and a checked delete guard the code.
        self.shared = shared
        #: Digests that running environments use (the node binds this to its pool).
        self.in_use: Callable[[], set[str]] = _no_digests
        self._locks: dict[str, asyncio.Lock] = {}
        self._deferred: set[str] = set()
        self.freed = 0

    @asynccontextmanager
    async def holding(self, digest: str) -> AsyncIterator[None]:
        """Keep `digest` from being collected while a writer adds a reference to it (on a shared
        store, from every node's collector: put the blob inside this block)."""
        async with self._locked(digest):
            if not self.shared:
                yield
                return
            key = f"{digest}/{os.urandom(8).hex()}"
            expiry = repr(self.clock.time() + HOLD_S).encode()
            await self.store.transact([Put(CODE_HOLD, key, expiry)])
            try:
                yield
            finally:
                await self.store.transact([Delete(CODE_HOLD, key)])

    @asynccontextmanager
    async def _locked(self, digest: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(digest, asyncio.Lock())
        async with lock:
            yield

    async def _referenced(self, digest: str) -> bool:
        """A version refers to `digest`, or (shared store) a writer holds it."""
        if await self.store.scan(CODE_REF, f"{digest}/"):
            return True
        return self.shared and bool(await self._holds(digest))

    async def _holds(self, digest: str = "") -> list[str]:
        """Keys of the unexpired holds (on `digest`, or on every digest)."""
        now = self.clock.time()
        held = await self.store.scan(CODE_HOLD, f"{digest}/" if digest else "")
        return [key for key, expiry in held if float(expiry) > now]

    async def release(self, digests: Iterable[str]) -> None:
        """References to `digests` were dropped: delete those no reference is left to."""
        for digest in set(digests):
            await self._collect(digest)

    async def retry_deferred(self) -> None:
        """Collect digests that were still in use by an environment last time."""
        for digest in list(self._deferred):
            await self._collect(digest)

    async def _collect(self, digest: str) -> None:
        async with self._locked(digest):
            if await self._referenced(digest):
                self._deferred.discard(digest)
                return
            if digest in self.in_use():
                self._deferred.add(digest)
                return
            await self._delete(digest)
            self._deferred.discard(digest)

    async def _delete(self, digest: str) -> bool:
        """Delete `digest`'s blob and directory; False when (shared store) a reference or hold
        appeared while it went, so the blob was put back."""
        data = await self.store.get_blob(digest) if self.shared else None
        await self.store.delete_blob(digest)
        if data is not None and await self._referenced(digest):
            await self.store.put_blob(digest, data)
            log.info("code %s kept: another node took it up while it was freed", digest[:12])
            return False
        await self.cache.remove(digest)
        self.freed += 1
        log.info("code %s freed: nothing refers to it", digest[:12])
        return True

    async def sweep(self) -> int:
        """At start-up: backfill missing references of version records, then delete every blob
        and code directory nothing refers to (orphans of a crash). Returns how many went."""
        versions = await FunctionDocs(self.store).all_versions()
        refs = {key for key, _ in await self.store.scan(CODE_REF)}
        missing: list[Op] = [
            Put(CODE_REF, key, b"") for v in versions for key in ref_keys(v) if key not in refs
        ]
        if missing:
            await self.store.transact(missing)
        live = {d for v in versions for d in digests(v)} | {key.split("/", 1)[0] for key in refs}
        if self.shared:
            await self._drop_expired_holds()
            live |= {key.split("/", 1)[0] for key in await self._holds()}
        stored = set((await self.store.usage()).blobs) | set(await asyncio.to_thread(self._dirs))
        removed = 0
        for digest in sorted(stored - live):
            async with self._locked(digest):
                if self.shared and await self._referenced(digest):
                    continue  # another node referred to it since the scan
                removed += await self._delete(digest)
        await asyncio.to_thread(self._remove_partial_unpacks)
        return removed

    async def _drop_expired_holds(self) -> None:
        now = self.clock.time()
        expired = [k for k, expiry in await self.store.scan(CODE_HOLD) if float(expiry) <= now]
        if expired:
            await self.store.transact([Delete(CODE_HOLD, key) for key in expired])

    def _dirs(self) -> list[str]:
        if not self.cache.root.is_dir():
            return []
        return [e.name for e in os.scandir(self.cache.root) if len(e.name) == 64 and e.is_dir()]

    def _remove_partial_unpacks(self) -> None:
        if self.cache.root.is_dir():
            for entry in os.scandir(self.cache.root):
                if entry.name.endswith(".tmp"):
                    shutil.rmtree(entry.path, ignore_errors=True)
