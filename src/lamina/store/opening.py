"""Which store a node opens: `--store sqlite` (the default), `memory` or `redis://…`."""

from __future__ import annotations

from pathlib import Path

from lamina.errors import LaminaError
from lamina.store.base import Store
from lamina.store.memory import MemoryStore
from lamina.store.redis_store import RedisStore
from lamina.store.sqlite import SqliteStore


def open_store(store: str, data_dir: Path, *, fsync: bool = False) -> tuple[Store, str]:
    """The store named by `--store`, and a short name for it."""
    if store in ("sqlite", ""):
        return SqliteStore(data_dir, fsync=fsync), "sqlite"
    if store == "memory":  # keeps nothing across restarts: for tests and trials
        return MemoryStore(), "memory"
    if store.startswith(("redis://", "rediss://", "unix://")):
        # Shared by every node on the same URL; --data-dir then holds only local caches.
        return RedisStore.from_url(store), "redis"
    raise LaminaError(f"unknown --store {store!r}: use sqlite, memory or redis://host:port/db")
