"""The function, version and alias documents in the store: kinds, keys and (de)serialisation."""

from __future__ import annotations

from typing import TypeVar

import msgspec

from lamina.control.models import LATEST, Alias, FunctionMeta, VersionConfig
from lamina.store.base import Delete, Expect, Op, Put, Store

T = TypeVar("T")

FUNCTION = "function"
VERSION = "version"
ALIAS = "alias"

_enc = msgspec.msgpack.Encoder()
_dec_meta = msgspec.msgpack.Decoder(FunctionMeta)
_dec_version = msgspec.msgpack.Decoder(VersionConfig)
_dec_alias = msgspec.msgpack.Decoder(Alias)


def version_key(name: str, version: str) -> str:
    """Keys sort $LATEST first, then versions numerically."""
    return f"{name}/{version}" if version == LATEST else f"{name}/{int(version):010d}"


def encode(record: msgspec.Struct) -> bytes:
    return _enc.encode(record)


class FunctionDocs:
    """Typed reads and write-op builders for function, version and alias documents."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def meta(self, name: str) -> tuple[FunctionMeta, bytes] | None:
        raw = await self.store.get(FUNCTION, name)
        return None if raw is None else (_dec_meta.decode(raw), raw)

    async def all_meta(self) -> list[FunctionMeta]:
        return [_dec_meta.decode(v) for _, v in await self.store.scan(FUNCTION)]

    async def version(self, name: str, version: str) -> VersionConfig | None:
        raw = await self.store.get(VERSION, version_key(name, version))
        return None if raw is None else _dec_version.decode(raw)

    async def versions(self, name: str) -> list[VersionConfig]:
        return [_dec_version.decode(v) for _, v in await self.store.scan(VERSION, f"{name}/")]

    async def all_versions(self) -> list[VersionConfig]:
        return [_dec_version.decode(v) for _, v in await self.store.scan(VERSION)]

    async def alias(self, name: str, alias: str) -> Alias | None:
        raw = await self.store.get(ALIAS, f"{name}/{alias}")
        return None if raw is None else _dec_alias.decode(raw)

    async def aliases(self, name: str) -> list[Alias]:
        return [_dec_alias.decode(v) for _, v in await self.store.scan(ALIAS, f"{name}/")]

    @staticmethod
    def put_meta(meta: FunctionMeta) -> Put:
        return Put(FUNCTION, meta.name, encode(meta))

    @staticmethod
    def expect_meta(name: str, raw: bytes | None) -> Expect:
        return Expect(FUNCTION, name, raw)

    @staticmethod
    def delete_meta(name: str) -> Delete:
        return Delete(FUNCTION, name)

    @staticmethod
    def put_version(v: VersionConfig) -> Put:
        return Put(VERSION, version_key(v.name, v.version), encode(v))

    @staticmethod
    def delete_version(name: str, version: str) -> Delete:
        return Delete(VERSION, version_key(name, version))

    @staticmethod
    def put_alias(a: Alias) -> Put:
        return Put(ALIAS, f"{a.function}/{a.name}", encode(a))

    @staticmethod
    def delete_alias(name: str, alias: str) -> Delete:
        return Delete(ALIAS, f"{name}/{alias}")

    async def commit(self, ops: list[Op]) -> bool:
        return await self.store.transact(ops)
