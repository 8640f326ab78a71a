"""Aliases and qualifier resolution: $LATEST, a version number, or an alias (weighted)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping

import msgspec

from lamina.control.arns import ALIAS_RE
from lamina.control.functions import FunctionService
from lamina.control.models import LATEST, Alias, VersionConfig
from lamina.control.validate import constraint
from lamina.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)


class AliasService:
    """Alias CRUD and the resolution of any qualifier to the version it runs."""

    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions
        self.records = functions.records

    def alias_not_found(self, name: str, alias: str) -> ResourceNotFound:
        arn = self.functions.arns.function(name, alias)
        return ResourceNotFound(f"Cannot find alias arn: {arn}")  # AWS's text (recorded)

    async def _check_target(
        self, name: str, version: str, weights: Mapping[str, float] | None
    ) -> None:
        if version != LATEST:
            await self.functions.version(name, version)
        if not weights:
            return
        if len(weights) > 1:
            raise InvalidParameterValue(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        for extra, weight in weights.items():
            if not 0.0 <= weight <= 1.0:
                raise constraint(
                    weight,
                    "routingConfig.additionalVersionWeights",
                    "Member must have value between 0.0 and 1.0",
                )
            if extra == version:
                raise InvalidParameterValue(
                    f"Invalid function version {extra}. Function version {extra} is already"
                    " included in routing configuration."
                )
            if extra == LATEST or version == LATEST:
                raise InvalidParameterValue(
                    "$LATEST is not supported for an alias pointing to more than 1 version"
                )
            await self.functions.version(name, extra)

    async def create(
        self,
        name: str,
        alias: str,
        version: str,
        description: str,
        weights: Mapping[str, float] | None,
    ) -> Alias:
        if not ALIAS_RE.match(alias):
            raise constraint(
                alias,
                "name",
                "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
            )
        async with self.functions.lock(name):
            meta, raw = await self.functions.meta(name)
            await self._check_target(name, version, weights)
            if await self.records.alias(name, alias) is not None:
                raise ResourceConflict(
                    f"Alias already exists: {self.functions.arns.function(name, alias)}"
                )
            record = Alias(
                function=name,
                name=alias,
                arn=self.functions.arns.function(name, alias),
                function_version=version,
                description=description,
                additional_weights=dict(weights) if weights else None,
                revision_id=_rev(),
            )
            await self.functions.commit(name, raw, meta, [self.records.put_alias(record)])
        await self.functions.changed(name)
        return record

    async def get(self, name: str, alias: str) -> Alias:
        await self.functions.meta(name)
        record = await self.records.alias(name, alias)
        if record is None:
            raise self.alias_not_found(name, alias)
        return record

    async def list(self, name: str, version: str | None) -> list[Alias]:
        await self.functions.meta(name)
        found = await self.records.aliases(name)
        return [a for a in found if version is None or a.function_version == version]

    async def update(
        self,
        name: str,
        alias: str,
        *,
        version: str | None,
        description: str | None,
        weights: Mapping[str, float] | None,
        weights_given: bool,
        revision_id: str | None,
    ) -> Alias:
        async with self.functions.lock(name):
            meta, raw = await self.functions.meta(name)
            record = await self.get(name, alias)
            if revision_id is not None and revision_id != record.revision_id:
                raise PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. Call the"
                    " GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            new_version = version if version is not None else record.function_version
            new_weights = dict(weights or {}) if weights_given else record.additional_weights
            await self._check_target(name, new_version, new_weights)
            record = msgspec.structs.replace(
                record,
                function_version=new_version,
                revision_id=_rev(),
                description=record.description if description is None else description,
                additional_weights=new_weights or None,
            )
            await self.functions.commit(name, raw, meta, [self.records.put_alias(record)])
        await self.functions.changed(name)
        return record

    async def delete(self, name: str, alias: str) -> None:
        async with self.functions.lock(name):
            meta, raw = await self.functions.meta(name)
            await self.functions.commit(name, raw, meta, [self.records.delete_alias(name, alias)])
        await self.functions.changed(name)

    async def resolve(
        self, name: str, qualifier: str | None, *, route: bool = True
    ) -> tuple[VersionConfig, str]:
        """The version that `name:qualifier` runs now, and the ARN the caller invoked.

        With `route=False` an alias resolves to its primary version, ignoring its weights:
        GetFunction / GetFunctionConfiguration describe the alias, they do not invoke it.
        Raises ResourceNotFound for an unknown function, version or alias.
        """
        fns = self.functions
        if qualifier is None or qualifier == LATEST:
            v = await fns.records.version(name, LATEST)
            if v is None:
                raise fns.not_found(name, qualifier)
            return v, fns.arns.function(name, qualifier)
        if qualifier.isdigit():
            v = await fns.records.version(name, qualifier)
            if v is None:
                raise fns.not_found(name, qualifier)
            return v, v.qualified_arn
        record = await self.records.alias(name, qualifier)
        if record is None:
            raise fns.not_found(name, qualifier)
        target = record.function_version
        for extra, weight in (record.additional_weights or {}).items() if route else ():
            if random.random() < weight:
                target = extra
        v = await fns.records.version(name, target)
        if v is None:
            raise fns.not_found(name, qualifier)
        return v, record.arn


def _rev() -> str:
    return str(uuid.uuid4())
