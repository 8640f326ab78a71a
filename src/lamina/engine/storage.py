"""Storage housekeeping and visibility: space given back in small steps, and bytes by kind.

`StorageKeeper.run` (a node background task) returns free database pages to the file system a
megabyte at a time with a pause between steps, so no write waits long behind it, and refreshes
the usage report. `report` answers `GET /lamina/v1/storage` and `lamina storage`;
`statistics()` hands the last report to the node's snapshot, which `/metrics` shows as
`lamina_storage_bytes{kind}` and `lamina_function_storage_bytes{function, kind}`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.control.code import CodeCache
from lamina.control.function_docs import FunctionDocs
from lamina.store.base import Store

log = logging.getLogger("lamina.storage")

#: Seconds between housekeeping rounds.
HOUSEKEEPING_INTERVAL_S = 10.0
#: Bytes of free pages given back per step, and the pause between steps.
RECLAIM_STEP_BYTES = 2**20
RECLAIM_PAUSE_S = 0.02
#: Kinds of bytes reported, in order.
KINDS = ("code", "unpacked_code", "logs", "events", "queues", "database", "wal")
FUNCTION_KINDS = ("code", "unpacked_code", "logs", "events")

Report = dict[str, Any]


@dataclass(frozen=True)
class StorageStatistics:
    """Bytes by kind (KINDS) for the node and (FUNCTION_KINDS) per function, as of the last
    housekeeping round; empty before the first."""

    totals: Mapping[str, int] = field(default_factory=dict)
    functions: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


class StorageKeeper:
    """Reclaims free space and reports what the node stores."""

    def __init__(self, store: Store, code: CodeCache) -> None:
        self.store = store
        self.code = code
        self.last: Report | None = None
        self._unpacked: dict[str, int] = {}  # digest -> bytes (a directory never changes)

    async def run(self) -> None:
        """Forever: reclaim free pages in small steps, then refresh the report."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
            try:
                await self.reclaim()
                await self.report()
            except Exception as exc:  # a full disk or a busy store: try again next round
                log.warning("storage housekeeping failed: %s", exc)

    async def reclaim(self) -> int:
        """Give every free page back, one step at a time; return the bytes given back."""
        given = 0
        left = await self.store.reclaim_space(RECLAIM_STEP_BYTES)
        while left > 0:
            await asyncio.sleep(RECLAIM_PAUSE_S)
            now_left = await self.store.reclaim_space(RECLAIM_STEP_BYTES)
            if now_left >= left:
                break
            given += left - now_left
            left = now_left
        return given

    async def report(self) -> Report:
        """Bytes by kind for the node, per function and per queue."""
        used = await self.store.usage()
        versions = await FunctionDocs(self.store).all_versions()
        digests = {v.code_digest for v in versions} | set(used.blobs)
        unpacked = await asyncio.to_thread(self._unpacked_sizes, digests)
        functions: dict[str, dict[str, int]] = {}
        code_of: dict[str, set[str]] = {}
        for v in versions:
            code_of.setdefault(v.name, set()).add(v.code_digest)
        for name, owned in sorted(code_of.items()):
            functions[name] = {
                "code": sum(used.blobs.get(d, 0) for d in owned),
                "unpacked_code": sum(unpacked.get(d, 0) for d in owned),
                "logs": used.logs.get(f"/aws/lambda/{name}", 0),
                "events": used.events.get(name, 0),
            }
        totals = {
            "code": sum(used.blobs.values()),
            "unpacked_code": sum(unpacked.values()),
            "logs": sum(used.logs.values()),
            "events": sum(used.events.values()),
            "queues": sum(used.queues.values()),
            "database": used.files.get("database", 0),
            "wal": used.files.get("wal", 0),
        }
        on_disk = totals["code"] + totals["unpacked_code"] + totals["database"] + totals["wal"]
        self.last = {
            "totals": totals,
            "on_disk_bytes": on_disk,
            "functions": functions,
            "queues": dict(used.queues),
        }
        return self.last

    def statistics(self) -> StorageStatistics:
        last = self.last
        if last is None:
            return StorageStatistics()
        return StorageStatistics(totals=last["totals"], functions=last["functions"])

    def _unpacked_sizes(self, digests: set[str]) -> dict[str, int]:
        self._unpacked = {d: n for d, n in self._unpacked.items() if d in digests}
        for digest in digests - set(self._unpacked):
            path = self.code.path(digest)
            if path.is_dir():
                self._unpacked[digest] = tree_bytes(path)
        return dict(self._unpacked)


def tree_bytes(root: Path) -> int:
    """Bytes of every file under `root` (files removed meanwhile are skipped)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue
    return total
