"""The composition root: build store → control → engine → api, and own every background task."""

from __future__ import annotations

import logging
from pathlib import Path

from lamina.clock import Clock
from lamina.config import Settings
from lamina.control.aliases import AliasService
from lamina.control.arns import Arns
from lamina.control.code import CodeCache
from lamina.control.functions import FunctionService
from lamina.errors import LaminaError
from lamina.store.base import Store
from lamina.store.sqlite import SqliteStore

log = logging.getLogger("lamina.node")


def open_store(settings: Settings) -> tuple[Store, str]:
    """The store named by `--store`, and a short name for it."""
    if settings.store in ("sqlite", ""):
        return SqliteStore(Path(settings.data_dir)), "sqlite"
    if settings.store.startswith(("redis://", "rediss://", "unix://")):
        raise LaminaError("the Redis store is not available yet; use --store sqlite")
    raise LaminaError(f"unknown --store {settings.store!r}: use sqlite or redis://host:port/db")


class Node:
    """One Lamina node: its store, services and background tasks."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.store, self.store_kind = open_store(settings)
        self.arns = Arns(settings.region, settings.account_id)
        self.code = CodeCache(Path(settings.data_dir) / "code")
        self.functions = FunctionService(self.store, self.arns, self.code, self.clock)
        self.aliases = AliasService(self.functions)

    async def start(self) -> None:
        await self.store.open()
        log.info("store opened: %s at %s", self.store_kind, self.settings.data_dir)

    async def stop(self) -> None:
        await self.store.close()
        log.info("store closed")
