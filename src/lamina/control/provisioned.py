"""Provisioned concurrency configurations: how many environments a version or alias keeps
initialised. Stored like every control-plane record; `engine/provisioner.py` acts on them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from lamina.clock import Clock
from lamina.control.aliases import AliasService
from lamina.control.models import LATEST
from lamina.control.validate import check_range
from lamina.errors import InvalidParameterValue, ProvisionedConcurrencyConfigNotFound
from lamina.store.base import Delete, Put, Store

KIND = "provisioned"


class ProvisionedConfig(msgspec.Struct, frozen=True, kw_only=True):
    function: str
    qualifier: str  # a version number or an alias name
    requested: int
    last_modified: float


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(ProvisionedConfig).decode

Listener = Callable[[str], Awaitable[None]]


async def _unwatched(function: str) -> None:
    """The default listener: nothing runs provisioned environments (unit tests)."""


def _key(function: str, qualifier: str) -> str:
    return f"{function}:{qualifier}"


class ProvisionedService:
    """CRUD of provisioned concurrency configs with AWS's validation."""

    def __init__(
        self,
        store: Store,
        aliases: AliasService,
        clock: Clock,
        unreserved_floor: int,
        account_limit: int,
        changed: Listener = _unwatched,
    ) -> None:
        self.store = store
        self.aliases = aliases
        self.clock = clock
        self.unreserved_floor = unreserved_floor
        self.account_limit = account_limit
        self._changed = changed  # told `function` after a config of it is put or deleted

    async def all(self, function: str | None = None) -> list[ProvisionedConfig]:
        prefix = f"{function}:" if function else ""
        return [_decode(v) for _, v in await self.store.scan(KIND, prefix)]

    async def get(self, function: str, qualifier: str | None) -> ProvisionedConfig:
        if not qualifier or qualifier == LATEST:  # Get / Delete word it so (recorded)
            raise InvalidParameterValue(
                "The function resource provided must be an alias or a published version."
            )
        await self._check_qualifier(function, qualifier)
        assert qualifier is not None
        raw = await self.store.get(KIND, _key(function, qualifier))
        if raw is None:
            raise ProvisionedConcurrencyConfigNotFound(
                "No Provisioned Concurrency Config found for this function"
            )
        return _decode(raw)

    async def _check_qualifier(self, function: str, qualifier: str | None) -> None:
        if not qualifier or qualifier == LATEST:
            raise InvalidParameterValue(
                "Provisioned Concurrency Configs cannot be applied to unpublished function"
                " versions."
            )
        is_alias = not qualifier.isdigit()
        if is_alias and await self.aliases.records.alias(function, qualifier) is None:
            raise self.aliases.alias_not_found(function, qualifier)
        version, _ = await self.aliases.resolve(function, qualifier, route=False)  # NotFound
        if version.snap_started:  # reference D.4 / D.6: the two exclude each other
            raise InvalidParameterValue(
                "Provisioned Concurrency Configs cannot be applied to a function version with"
                " SnapStart enabled."
            )
        if not qualifier.isdigit():
            alias = await self.aliases.records.alias(function, qualifier)
            if alias is not None and alias.additional_weights:
                raise InvalidParameterValue(
                    "Alias with weights can not be used with Provisioned Concurrency"
                )

    async def put(self, function: str, qualifier: str | None, requested: int) -> ProvisionedConfig:
        check_range(requested, "provisionedConcurrentExecutions", 1, 2**31 - 1)
        await self._check_qualifier(function, qualifier)
        assert qualifier is not None
        async with self.aliases.functions.lock(function):
            meta, _ = await self.aliases.functions.meta(function)
            others = sum(c.requested for c in await self.all(function) if c.qualifier != qualifier)
            total = others + requested
            if meta.reserved_concurrency is not None and total > meta.reserved_concurrency:
                raise InvalidParameterValue(
                    "Requested Provisioned Concurrency should not be greater than the"
                    " reservedConcurrentExecution for function"
                )
            if meta.reserved_concurrency is None:
                room = await self._unreserved_room(function)
                if total > room:
                    raise InvalidParameterValue(
                        f"Requested Provisioned Concurrency ({total}) exceeds the account's"
                        f" unreserved concurrency less its minimum [{room}]."
                    )
            config = ProvisionedConfig(
                function=function,
                qualifier=qualifier,
                requested=requested,
                last_modified=self.clock.time(),
            )
            await self.store.transact([Put(KIND, _key(function, qualifier), _encode(config))])
        await self._changed(function)
        return config

    async def _unreserved_room(self, function: str) -> int:
        """What a function without a reservation may provision: the unreserved pool (the
        account less every reservation) less its minimum, less what the other functions
        without a reservation already provision from it."""
        metas = await self.aliases.functions.records.all_meta()
        reserving = {m.name for m in metas if m.reserved_concurrency is not None}
        unreserved = self.account_limit - sum(m.reserved_concurrency or 0 for m in metas)
        taken = sum(
            c.requested
            for c in await self.all()
            if c.function != function and c.function not in reserving
        )
        return unreserved - self.unreserved_floor - taken

    async def delete(self, function: str, qualifier: str | None) -> None:
        config = await self.get(function, qualifier)
        await self.store.transact([Delete(KIND, _key(function, config.qualifier))])
        await self._changed(function)

    async def forget(self, function: str) -> None:
        """Drop every config of a deleted function."""
        stale = await self.all(function)
        if stale:
            await self.store.transact([Delete(KIND, _key(function, c.qualifier)) for c in stale])
