"""FunctionService: create, read, update, publish and delete functions and their versions."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import msgspec

from lamina.clock import Clock
from lamina.control.arns import Arns
from lamina.control.code import CodeCache, CodePackage
from lamina.control.code_gc import CodeCollector, digests, ref_ops
from lamina.control.function_docs import FunctionDocs
from lamina.control.layers import check_total_size, checked_size, zip_kept
from lamina.control.models import LATEST, FunctionMeta, LayerRef, VersionConfig
from lamina.control.new_function import NewFunction
from lamina.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lamina.store.base import Op, Store

#: Told the name of a function after any change to it (the node's one fan-out).
Listener = Callable[[str], Awaitable[None]]
#: Told of every newly published version (the node snapshots SnapStart ones).
PublishListener = Callable[[VersionConfig], Awaitable[None]]
#: State of a SnapStart version while its snapshot is made (reference D.6).
SNAPSHOT_PENDING = {
    "state": "Pending",
    "state_reason": "The function is being created.",
    "state_reason_code": "Creating",
}


async def _unwatched(name: str) -> None:
    """The default listener: nothing depends on this service's changes."""


async def _unpublished(version: VersionConfig) -> None:
    """The default publish listener: nothing is snapshotted."""


class FunctionService:
    """The only writer of function, version and alias records."""

    def __init__(
        self,
        store: Store,
        arns: Arns,
        code: CodeCache,
        clock: Clock,
        changed: Listener = _unwatched,
        *,
        shared_store: bool = False,
    ) -> None:
        self.records = FunctionDocs(store)
        self.store = store
        self.arns = arns
        self.code = code
        self.collector = CodeCollector(store, code, clock, shared=shared_store)
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._changed = changed
        #: Called after a version is published (the node sets it: engine/snapstart.py).
        self.published: PublishListener = _unpublished

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def changed(self, name: str) -> None:
        """Tell the node that function `name` changed (code, config, alias, delete)."""
        await self._changed(name)

    def not_found(self, name: str, qualifier: str | None = None) -> ResourceNotFound:
        return ResourceNotFound(f"Function not found: {self.arns.function(name, qualifier)}")

    # -- reads --------------------------------------------------------------------------------
    async def meta(self, name: str) -> tuple[FunctionMeta, bytes]:
        found = await self.records.meta(name)
        if found is None:
            raise self.not_found(name)
        return found

    async def version(self, name: str, version: str) -> VersionConfig:
        v = await self.records.version(name, version)
        if v is None:
            raise self.not_found(name, None if version == LATEST else version)
        return v

    async def code_zip(self, digest: str) -> bytes | None:
        """The stored code zip with this SHA-256 hex digest (GetFunction's Code.Location)."""
        return await self.store.get_blob(digest)

    async def list_latest(self) -> list[VersionConfig]:
        out = []
        for meta in await self.records.all_meta():
            v = await self.records.version(meta.name, LATEST)
            if v is not None:
                out.append(v)
        return out

    async def list_all_versions(self) -> list[VersionConfig]:
        return await self.records.all_versions()

    async def list_versions(self, name: str) -> list[VersionConfig]:
        await self.meta(name)
        return await self.records.versions(name)

    # -- writes -------------------------------------------------------------------------------
    async def commit(
        self, name: str, old_raw: bytes | None, meta: FunctionMeta, ops: list[Op]
    ) -> None:
        """Write `ops` with meta's generation bumped, if nobody changed the function meanwhile."""
        bumped = msgspec.structs.replace(meta, generation=meta.generation + 1)
        ok = await self.records.commit(
            [self.records.expect_meta(name, old_raw), self.records.put_meta(bumped), *ops]
        )
        if not ok:
            raise ResourceConflict(
                "The operation cannot be performed at this time. An update is in progress for"
                f" resource: {self.arns.function(name)}"
            )

    async def create(self, req: NewFunction) -> VersionConfig:
        """Create `req.name` ($LATEST, and version 1 when publishing).

        Raises:
            ResourceConflict: the function exists.
            InvalidParameterValue: its code and layers unzip past 250 MB.
        """
        check_total_size(req.code.unzipped_size, req.layers)
        held = {req.code.digest, *(layer.code_digest for layer in req.layers)}
        async with self._holding(held, req.layers):
            await self.store.put_blob(req.code.digest, req.code.data)
            await self.code.ensure(req.code.digest, req.code.data)
            return await self._create(req)

    async def _create(self, req: NewFunction) -> VersionConfig:
        now = self.clock.time()
        arn = self.arns.function(req.name)
        latest = VersionConfig(
            name=req.name,
            version=LATEST,
            arn=arn,
            runtime=req.runtime,
            handler=req.handler,
            role=req.role,
            code_digest=req.code.digest,
            code_sha256=req.code.code_sha256,
            code_size=req.code.size,
            code_unzipped_size=req.code.unzipped_size,
            layers=list(req.layers),
            description=req.description,
            timeout=req.timeout,
            memory_size=req.memory_size,
            ephemeral_storage=req.ephemeral_storage,
            variables=req.variables,
            dead_letter_target=req.dead_letter_target,
            architectures=list(req.architectures),
            tracing_mode=req.tracing_mode,
            snap_start=req.snap_start,
            log_group=f"/aws/lambda/{req.name}",
            last_modified=now,
            revision_id=_rev(),
        )
        meta = FunctionMeta(name=req.name, arn=arn, created=now, tags=dict(req.tags or {}))
        ops: list[Op] = [self.records.put_version(latest), *ref_ops(None, latest)]
        published = None
        if req.publish:
            published = self._snapshot(latest, 1)
            meta = msgspec.structs.replace(meta, last_version=1)
            ops += [self.records.put_version(published), *ref_ops(None, published)]
        async with self.lock(req.name):
            if not await self.records.commit(
                [self.records.expect_meta(req.name, None), self.records.put_meta(meta), *ops]
            ):
                raise ResourceConflict(f"Function already exist: {req.name}")
        if published is not None:
            await self.published(published)
        return published or latest

    def _snapshot(self, latest: VersionConfig, number: int) -> VersionConfig:
        version = msgspec.structs.replace(
            latest, version=str(number), revision_id=_rev(), last_modified=self.clock.time()
        )
        if version.snap_started:  # Pending until its snapshot is made (engine/snapstart.py)
            version = msgspec.structs.replace(version, **SNAPSHOT_PENDING)
        return version

    async def set_state(
        self, name: str, version: str, state: str, reason: str | None, reason_code: str | None
    ) -> VersionConfig | None:
        """Set a published version's State (its snapshot is made, or failed); None when the
        version is gone meanwhile."""
        async with self.lock(name):
            found = await self.records.meta(name)
            current = await self.records.version(name, version)
            if found is None or current is None:
                return None
            meta, raw = found
            updated = msgspec.structs.replace(
                current, state=state, state_reason=reason, state_reason_code=reason_code
            )
            await self.commit(name, raw, meta, [self.records.put_version(updated)])
        return updated

    async def update_code(
        self,
        name: str,
        code: CodePackage,
        *,
        publish: bool,
        revision_id: str | None,
        dry_run: bool = False,
    ) -> VersionConfig:
        """Replace $LATEST's code (and publish when asked); free the old code if nothing else
        refers to it."""
        changes = {
            "code_digest": code.digest,
            "code_sha256": code.code_sha256,
            "code_size": code.size,
            "code_unzipped_size": code.unzipped_size,
        }
        if dry_run:
            return await self._update_latest(name, changes, revision_id, publish, dry_run)
        async with self.collector.holding(code.digest):
            await self.store.put_blob(code.digest, code.data)
            await self.code.ensure(code.digest, code.data)
            return await self._update_latest(name, changes, revision_id, publish, dry_run)

    async def update_configuration(
        self, name: str, changes: dict[str, Any], *, revision_id: str | None
    ) -> VersionConfig:
        """Apply `changes` (VersionConfig field → value, `layers` already resolved) to $LATEST."""
        layers: list[LayerRef] = changes.get("layers") or []
        async with self._holding({layer.code_digest for layer in layers}, layers):
            return await self._update_latest(name, changes, revision_id, False, False)

    @contextlib.asynccontextmanager
    async def _holding(
        self, held: set[str], layers: Sequence[LayerRef] = ()
    ) -> AsyncIterator[None]:
        """Keep `held` from collection while a version referring to them is written (taken in
        one order, so two writers never wait on each other), then check that each of `layers`
        still has its zip: a layer version deleted since it was resolved may have taken it."""
        async with contextlib.AsyncExitStack() as stack:
            for digest in sorted(held):
                await stack.enter_async_context(self.collector.holding(digest))
            for layer in layers:
                if not await zip_kept(self.store, layer.code_digest):
                    raise InvalidParameterValue(f"Layer version {layer.arn} does not exist.")
            yield

    async def _update_latest(
        self,
        name: str,
        changes: dict[str, Any],
        revision_id: str | None,
        publish: bool,
        dry_run: bool,
    ) -> VersionConfig:
        async with self.lock(name):
            meta, raw = await self.meta(name)
            latest = await self.version(name, LATEST)
            if revision_id is not None and revision_id != latest.revision_id:
                raise _stale_revision()
            updated = msgspec.structs.replace(
                latest, **changes, last_modified=self.clock.time(), revision_id=_rev()
            )
            updated = await checked_size(self.store, updated)
            if dry_run:
                return updated
            ops: list[Op] = [self.records.put_version(updated), *ref_ops(latest, updated)]
            result = updated
            if publish:
                meta, result, extra = await self._publish_ops(meta, updated, "")
                ops += extra
            await self.commit(name, raw, meta, ops)
        await self.changed(name)
        if publish and result.version != LATEST:
            await self.published(result)
        await self.collector.release(digests(latest) - digests(updated))
        return result

    async def publish(
        self, name: str, *, code_sha256: str | None, description: str, revision_id: str | None
    ) -> VersionConfig:
        """Snapshot $LATEST as the next version, or return the last one if nothing changed."""
        async with self.lock(name):
            meta, raw = await self.meta(name)
            latest = await self.version(name, LATEST)
            if code_sha256 is not None and code_sha256 != latest.code_sha256:
                raise InvalidParameterValue(
                    f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST"
                    f" ({latest.code_sha256}). Please try again with the CodeSHA256 in $LATEST."
                )
            if revision_id is not None and revision_id != latest.revision_id:
                raise _stale_revision()
            new_meta, version, ops = await self._publish_ops(meta, latest, description)
            if ops:
                await self.commit(name, raw, new_meta, ops)
        if ops:
            await self.published(version)
        return version

    async def _publish_ops(
        self, meta: FunctionMeta, latest: VersionConfig, description: str
    ) -> tuple[FunctionMeta, VersionConfig, list[Op]]:
        if meta.last_version:
            last = await self.records.version(meta.name, str(meta.last_version))
            if last is not None and last.same_content(
                msgspec.structs.replace(latest, description=last.description)
            ):
                return meta, last, []
        number = meta.last_version + 1
        version = self._snapshot(latest, number)
        if description:
            version = msgspec.structs.replace(version, description=description)
        meta = msgspec.structs.replace(meta, last_version=number)
        return meta, version, [self.records.put_version(version), *ref_ops(None, version)]

    async def delete(self, name: str, qualifier: str | None) -> None:
        """Delete the whole function, or one published version of it, and free code that
        nothing refers to any more."""
        if qualifier == LATEST:  # answered before the lookup, as AWS does (recorded)
            raise InvalidParameterValue(
                "$LATEST version cannot be deleted without deleting the function."
            )
        async with self.lock(name):
            meta, raw = await self.meta(name)
            if qualifier is None:
                versions = await self.records.versions(name)
                ops: list[Op] = [self.records.expect_meta(name, raw)]
                for v in versions:
                    ops += [self.records.delete_version(name, v.version), *ref_ops(v, None)]
                ops += [
                    self.records.delete_alias(name, a.name)
                    for a in await self.records.aliases(name)
                ]
                ops.append(self.records.delete_meta(name))
                if not await self.records.commit(ops):
                    raise ResourceConflict("The function changed during the delete; try again.")
                dropped = {d for v in versions for d in digests(v)}
            else:
                dropped = await self._delete_version(meta, raw, qualifier)
        await self.changed(name)
        await self.collector.release(dropped)

    async def _delete_version(self, meta: FunctionMeta, raw: bytes, qualifier: str) -> set[str]:
        """Delete one published version; return the digests it kept alive (none: no version)."""
        if not qualifier.isdigit():
            raise InvalidParameterValue(
                "Deletion of aliases or $LATEST is not supported with this request; use"
                " DeleteAlias, or DeleteFunction without a qualifier."
            )
        doomed = await self.records.version(meta.name, qualifier)
        if doomed is None:
            return set()  # AWS answers 204 for a version that does not exist (issue 13, item 3)
        users = [
            a.name
            for a in await self.records.aliases(meta.name)
            if a.function_version == qualifier or qualifier in (a.additional_weights or {})
        ]
        if users:
            raise ResourceConflict(
                f"Unable to delete version because the following aliases reference it: {users}"
            )
        ops = [self.records.delete_version(meta.name, qualifier), *ref_ops(doomed, None)]
        await self.commit(meta.name, raw, meta, ops)
        return digests(doomed)

    async def set_tags(self, name: str, tags: Mapping[str, str], remove: list[str]) -> None:
        async with self.lock(name):
            meta, raw = await self.meta(name)
            merged = {k: v for k, v in {**meta.tags, **tags}.items() if k not in remove}
            await self.commit(name, raw, msgspec.structs.replace(meta, tags=merged), [])

    async def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        async with self.lock(name):
            meta, raw = await self.meta(name)
            new = msgspec.structs.replace(meta, reserved_concurrency=value)
            await self.commit(name, raw, new, [])
        await self.changed(name)


def _rev() -> str:
    return str(uuid.uuid4())


def _stale_revision() -> PreconditionFailed:
    return PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/"
        "GetAlias API to retrieve the latest Revision Id"
    )
