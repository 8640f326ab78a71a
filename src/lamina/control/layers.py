"""LayerService: publish, read, list and delete layer versions; resolve a function's `Layers`.

A layer is a name (document kind `layer`, holding the highest version number ever published,
so numbers are never reused after a delete, as on AWS) and its versions (kind `layer-version`,
key `<name>/<version, 10 digits>`). A version's zip is a content-addressed blob like function
code, held by a code reference written in the same transaction as the version
(control/code_gc.py), so it is shared by every node on a Redis store and collected once nothing
refers to it. Functions keep their own references to the zips of the layers they use: deleting
a layer version never breaks a function that uses it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from lamina.clock import Clock
from lamina.control.arns import Arns
from lamina.control.code import MAX_UNZIPPED_BYTES, CodePackage, unzipped_size
from lamina.control.code_gc import CODE_REF, CodeCollector, layer_ref_key
from lamina.control.models import LayerMeta, LayerRef, LayerVersion, VersionConfig
from lamina.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lamina.store.base import Delete, Expect, Op, Put, Store

LAYER = "layer"
LAYER_VERSION = "layer-version"
#: A layer version's policy (control/layer_policies.py), keyed as the version.
LAYER_POLICY = "layer-policy"

#: Most layers one function may use.
MAX_LAYERS = 5
#: Attempts at publishing when other writers keep taking the next version number.
PUBLISH_ATTEMPTS = 10

#: A versioned layer ARN, as a function's `Layers` names one.
LAYER_VERSION_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[A-Za-z0-9_-]+):(?P<version>[0-9]+)$"
)
_LAYER_ARN_RE = re.compile(
    r"^arn:[a-zA-Z0-9-]+:lambda:(?P<region>[a-zA-Z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[A-Za-z0-9_-]+)$"
)
_NOT_FOUND = "The resource you requested does not exist."

_enc = msgspec.msgpack.Encoder()
_dec_meta = msgspec.msgpack.Decoder(LayerMeta)
_dec_version = msgspec.msgpack.Decoder(LayerVersion)


def version_key(name: str, version: int) -> str:
    """Keys sort a layer's versions numerically."""
    return f"{name}/{version:010d}"


@dataclass(frozen=True)
class NewLayerVersion:
    """What PublishLayerVersion asks for, already validated by the route."""

    name: str
    code: CodePackage
    description: str = ""
    license_info: str | None = None
    compatible_runtimes: list[str] | None = None
    compatible_architectures: list[str] | None = None


class LayerService:
    """The only writer of layer and layer version records."""

    def __init__(self, store: Store, arns: Arns, collector: CodeCollector, clock: Clock) -> None:
        self.store = store
        self.arns = arns
        self.collector = collector
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    def layer_name(self, raw: str) -> str:
        """A LayerName given as a name or as this account's (unversioned) layer ARN."""
        m = _LAYER_ARN_RE.match(raw)
        if m is None:
            return raw
        if m["region"] != self.arns.region or m["account"] != self.arns.account_id:
            raise ResourceNotFound(_NOT_FOUND)
        return m["name"]

    # -- reads --------------------------------------------------------------------------------
    async def get(self, name: str, version: int) -> LayerVersion:
        """Raises InvalidParameterValue (version < 1) or ResourceNotFound."""
        _check_number(version)
        raw = await self.store.get(LAYER_VERSION, version_key(name, version))
        if raw is None:
            raise ResourceNotFound(_NOT_FOUND)
        return _dec_version.decode(raw)

    async def get_by_arn(self, arn: str) -> LayerVersion:
        m = LAYER_VERSION_ARN_RE.match(arn)
        if m is None or m["region"] != self.arns.region or m["account"] != self.arns.account_id:
            raise ResourceNotFound(_NOT_FOUND)
        return await self.get(m["name"], int(m["version"]))

    async def versions(
        self, name: str, runtime: str | None = None, architecture: str | None = None
    ) -> list[LayerVersion]:
        """The versions of `name` matching the filters, newest first ([] for an unknown name)."""
        found = [
            _dec_version.decode(v) for _, v in await self.store.scan(LAYER_VERSION, f"{name}/")
        ]
        return [v for v in reversed(found) if _matches(v, runtime, architecture)]

    async def latest_matching(
        self, runtime: str | None = None, architecture: str | None = None
    ) -> list[LayerVersion]:
        """The newest version of every layer that has one matching the filters, by name."""
        newest: dict[str, LayerVersion] = {}
        for _, raw in await self.store.scan(LAYER_VERSION):
            v = _dec_version.decode(raw)
            if _matches(v, runtime, architecture):
                newest[v.name] = v  # keys sort versions up, so the last one wins
        return [newest[name] for name in sorted(newest)]

    # -- writes -------------------------------------------------------------------------------
    async def publish(self, req: NewLayerVersion) -> LayerVersion:
        """Store the zip and record it as the layer's next version (1 for a new layer)."""
        async with self.collector.holding(req.code.digest):
            await self.store.put_blob(req.code.digest, req.code.data)
            async with self._locks.setdefault(req.name, asyncio.Lock()):
                for _ in range(PUBLISH_ATTEMPTS):
                    published = await self._try_publish(req)
                    if published is not None:
                        return published
        raise ResourceConflict(
            f"The layer {self.arns.layer(req.name)} is being published elsewhere; try again."
        )

    async def _try_publish(self, req: NewLayerVersion) -> LayerVersion | None:
        raw = await self.store.get(LAYER, req.name)
        meta = LayerMeta(name=req.name) if raw is None else _dec_meta.decode(raw)
        number = meta.last_version + 1
        version = LayerVersion(
            name=req.name,
            version=number,
            layer_arn=self.arns.layer(req.name),
            code_digest=req.code.digest,
            code_sha256=req.code.code_sha256,
            code_size=req.code.size,
            unzipped_size=req.code.unzipped_size,
            created=self.clock.time(),
            description=req.description,
            license_info=req.license_info,
            compatible_runtimes=req.compatible_runtimes,
            compatible_architectures=req.compatible_architectures,
        )
        ops: list[Op] = [
            Expect(LAYER, req.name, raw),
            Put(LAYER, req.name, _enc.encode(msgspec.structs.replace(meta, last_version=number))),
            Put(LAYER_VERSION, version_key(req.name, number), _enc.encode(version)),
            Put(CODE_REF, layer_ref_key(req.code.digest, req.name, number), b""),
        ]
        return version if await self.store.transact(ops) else None

    async def delete(self, name: str, version: int) -> None:
        """Delete one version; deleting one that does not exist succeeds (as on AWS)."""
        _check_number(version)
        key = version_key(name, version)
        raw = await self.store.get(LAYER_VERSION, key)
        if raw is None:
            return
        doomed = _dec_version.decode(raw)
        ops: list[Op] = [
            Expect(LAYER_VERSION, key, raw),
            Delete(LAYER_VERSION, key),
            Delete(LAYER_POLICY, key),
            Delete(CODE_REF, layer_ref_key(doomed.code_digest, name, version)),
        ]
        if await self.store.transact(ops):
            await self.collector.release([doomed.code_digest])

    # -- a function's Layers ------------------------------------------------------------------
    async def resolve(self, arns: Sequence[str]) -> list[LayerRef]:
        """The layer versions a function's `Layers` name, in order, checked as AWS checks them.

        Raises:
            InvalidParameterValue: more than 5, two versions of one layer, another region, or a
                version that does not exist.
        """
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValue(f"Cannot reference more than {MAX_LAYERS} layers.")
        parsed = []
        for arn in arns:
            m = LAYER_VERSION_ARN_RE.match(arn)
            if m is None:
                raise InvalidParameterValue(f"Layer version {arn} does not exist.")
            parsed.append(m)
        seen: dict[tuple[str, str, str], str] = {}
        for m in parsed:
            layer = (m["region"], m["account"], m["name"])
            if layer in seen:
                raise InvalidParameterValue(
                    "Two different versions of the same layer are not allowed to be referenced"
                    f" in the same function. {seen[layer]} and {m[0]} are versions of the same"
                    " layer."
                )
            seen[layer] = m[0]
        if any(m["region"] != self.arns.region for m in parsed):
            raise InvalidParameterValue(
                "Layers are not in the same region as the function. Layers are expected to be in"
                f" region {self.arns.region}."
            )
        refs = []
        for m in parsed:
            try:
                refs.append((await self.get_by_arn(m[0])).ref())
            except ResourceNotFound:
                raise InvalidParameterValue(f"Layer version {m[0]} does not exist.") from None
        return refs


async def checked_size(store: Store, v: VersionConfig) -> VersionConfig:
    """`v`, its unzipped code size filled in if it has layers (measured once for a record from
    before layers); raises InvalidParameterValue when code and layers unzip past 250 MB."""
    if not v.layers:
        return v
    if not v.code_unzipped_size:
        data = await store.get_blob(v.code_digest)
        if data is not None:
            size = await asyncio.to_thread(unzipped_size, data)
            v = msgspec.structs.replace(v, code_unzipped_size=size)
    check_total_size(v.code_unzipped_size, v.layers)
    return v


async def zip_kept(store: Store, digest: str) -> bool:
    """The zip `digest` is stored, and (when something refers to it) stays while held."""
    if await store.scan(CODE_REF, f"{digest}/"):
        return True
    return await store.get_blob(digest) is not None


def check_total_size(code_unzipped: int, layers: Sequence[LayerRef]) -> None:
    """Refuse a function whose code and layers together unzip past AWS's 250 MB."""
    total = code_unzipped + sum(layer.unzipped_size for layer in layers)
    if layers and total > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValue(
            "Function code combined with layers exceeds the maximum allowed size of"
            f" {MAX_UNZIPPED_BYTES} bytes. The actual size is {total} bytes."
        )


def _check_number(version: int) -> None:
    if version < 1:
        raise InvalidParameterValue("Layer Version Cannot be less than 1")


def _matches(v: LayerVersion, runtime: str | None, architecture: str | None) -> bool:
    if runtime and runtime not in (v.compatible_runtimes or ()):
        return False
    return not architecture or architecture in (v.compatible_architectures or ())
