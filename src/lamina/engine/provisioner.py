"""Provisioned concurrency at work: keep each configured version's environments initialised.

After any change to a function or to its configs, the function's configs are resolved to
versions (an alias to its primary version) and the pool is brought to the requested number
of provisioned environments per version: missing ones are pre-initialised in the background
(Status IN_PROGRESS → READY, or FAILED with a StatusReason), surplus ones become ordinary
on-demand environments. `maintain` tops up environments that died (a crash, a timeout).

`ProvisionedBook` keeps the figures: which versions have provisioned concurrency, how many of
their environments live and are busy, and which invocations they served (provisioned) or
spilled over to on-demand environments. The invoker tells it what served each invocation.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from lamina.control.aliases import AliasService
from lamina.control.models import VersionConfig
from lamina.control.provisioned import ProvisionedConfig, ProvisionedService
from lamina.engine.environment import Environment
from lamina.engine.launcher import EnvironmentSpec
from lamina.engine.leases import NodeLeases
from lamina.engine.pool import Pool
from lamina.errors import LaminaError, ResourceNotFound, TooManyRequests

log = logging.getLogger("lamina.provisioner")

IN_PROGRESS, READY, FAILED = "IN_PROGRESS", "READY", "FAILED"

#: (allocated, status, status reason) of one config.
Figures = tuple[int, str, str | None]


def cluster_figures(per_node: list[Figures]) -> Figures:
    """One config's figures for a cluster whose every node keeps its own provisioned
    environments: FAILED if any node failed, READY once every node is, and the allocation that
    every node has (the smallest)."""
    allocated = min(f[0] for f in per_node)
    failed = next((f for f in per_node if f[1] == FAILED), None)
    if failed is not None:
        return allocated, FAILED, failed[2]
    if any(f[1] == IN_PROGRESS for f in per_node):
        return allocated, IN_PROGRESS, None
    return allocated, READY, None


@dataclass
class Allocation:
    """Where one config stands."""

    version: str | None = None
    status: str = IN_PROGRESS
    reason: str | None = None


@dataclass(frozen=True)
class ProvisionedStatistics:
    """Per function: live provisioned environments and busy ones, and what they served."""

    environments: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    invocations: Mapping[str, int] = field(default_factory=dict)
    spillover_invocations: Mapping[str, int] = field(default_factory=dict)


class ProvisionedBook:
    """Versions with provisioned concurrency, their environments, and what they served."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self._keys: set[tuple[str, str]] = set()
        self._invocations: Counter[str] = Counter()
        self._spillover: Counter[str] = Counter()

    def mark(self, function: str, version: str, on: bool) -> None:
        """Count invocations of this version as provisioned or spill-over (or stop)."""
        if on:
            self._keys.add((function, version))
        else:
            self._keys.discard((function, version))

    def served(self, spec: EnvironmentSpec, env: Environment) -> None:
        """Count one invocation of `spec` that `env` serves (a no-op for other versions)."""
        if self._keys and (spec.function_name, spec.version) in self._keys:
            served = self._invocations if env.provisioned else self._spillover
            served[spec.function_name] += 1

    def count(self, function: str, version: str) -> tuple[int, int]:
        """Live provisioned environments of a version: (all, busy)."""
        live = [
            idle for env, idle in self.pool.provisioned(function) if env.spec.version == version
        ]
        return len(live), sum(1 for idle in live if not idle)

    def trim(self, function: str, version: str, keep: int) -> None:
        """Keep at most `keep` provisioned environments of a version; the rest (idle ones
        first) become ordinary on-demand environments, reaped when idle."""
        live = sorted(
            (pair for pair in self.pool.provisioned(function) if pair[0].spec.version == version),
            key=lambda pair: pair[1],
        )
        for env, _ in live[keep:]:
            self.pool.demote(env)

    def statistics(self) -> ProvisionedStatistics:
        environments: dict[str, tuple[int, int]] = {}
        for function in sorted(self.pool.provisioned_functions()):
            pairs = self.pool.provisioned(function)
            if pairs:
                environments[function] = (len(pairs), sum(1 for _, idle in pairs if not idle))
        return ProvisionedStatistics(
            environments=environments,
            invocations=dict(self._invocations),
            spillover_invocations=dict(self._spillover),
        )


class Provisioner:
    """Brings the pool to what the provisioned concurrency configs ask for."""

    def __init__(
        self,
        configs: ProvisionedService,
        aliases: AliasService,
        spec: Callable[[VersionConfig], Awaitable[EnvironmentSpec]],
        pool: Pool,
        book: ProvisionedBook,
    ) -> None:
        self.configs = configs
        self.aliases = aliases
        self._spec = spec
        self.pool = pool
        self.book = book
        self._state: dict[tuple[str, str], Allocation] = {}
        self._requested: dict[tuple[str, str], int] = {}
        self._versions: dict[str, set[str]] = {}  # function → versions marked provisioned
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: Changes per function: a plan settles its configs only if none came after it began.
        self._changes: Counter[str] = Counter()
        self._nodes: Callable[[], Awaitable[list[NodeLeases]]] | None = None
        self._publish: Callable[[], Awaitable[None]] | None = None

    def share(
        self,
        nodes: Callable[[], Awaitable[list[NodeLeases]]],
        publish: Callable[[], Awaitable[None]],
    ) -> None:
        """Nodes share a store: answer for every live node (`nodes()` lists the other live
        nodes' records, which carry their provisioned figures), and `publish()` this node's
        figures when its configs start planning or settle, so the others see it at once."""
        self._nodes = nodes
        self._publish = publish

    async def start(self) -> None:
        for function in {c.function for c in await self.configs.all()}:
            await self.changed(function)

    async def changed(self, function: str) -> None:
        """Re-plan `function` in the background (a listener of functions and configs)."""
        self._changes[function] += 1
        keys = [k for k in self._state if k[0] == function]
        for key in keys:
            self._state[key].status = IN_PROGRESS
        if keys:
            await self._published()
        task = asyncio.create_task(self._plan(function), name=f"lamina-provision-{function}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def maintain(self) -> None:
        """Top up READY configs whose environments died."""
        for function in {k[0] for k, a in self._state.items() if a.status == READY}:
            for version in self._versions.get(function, ()):
                wanted = self._wanted(function, version)
                if self.book.count(function, version)[0] < wanted:
                    await self.changed(function)
                    break

    def _wanted(self, function: str, version: str) -> int:
        return sum(
            self._requested.get((function, q), 0)
            for (f, q), a in self._state.items()
            if f == function and a.version == version
        )

    async def _plan(self, function: str) -> None:
        async with self._locks.setdefault(function, asyncio.Lock()):
            change = self._changes[function]
            try:
                configs = await self.configs.all(function)
                if configs:
                    await self.aliases.functions.meta(function)  # ResourceNotFound if deleted
            except ResourceNotFound:
                await self.configs.forget(function)
                configs = []
            per_version: dict[str, list[ProvisionedConfig]] = defaultdict(list)
            keys = {(function, c.qualifier) for c in configs}
            for key in [k for k in self._state if k[0] == function and k not in keys]:
                del self._state[key]
                self._requested.pop(key, None)
            for c in configs:
                state = self._state.setdefault((function, c.qualifier), Allocation())
                self._requested[(function, c.qualifier)] = c.requested
                try:
                    version, _ = await self.aliases.resolve(function, c.qualifier, route=False)
                except ResourceNotFound:
                    state.status, state.reason = FAILED, "The qualifier no longer exists."
                    continue
                state.version = version.version
                per_version[version.version].append(c)
            for old in self._versions.get(function, set()) - set(per_version):
                self.book.mark(function, old, False)
                self.book.trim(function, old, 0)
            self._versions[function] = set(per_version)
            await asyncio.gather(
                *(self._fill(function, v, cs, change) for v, cs in per_version.items())
            )

    async def _fill(
        self, function: str, version: str, configs: list[ProvisionedConfig], change: int
    ) -> None:
        wanted = sum(c.requested for c in configs)
        states = [self._state[(function, c.qualifier)] for c in configs]
        self.book.mark(function, version, True)
        self.book.trim(function, version, wanted)
        missing = wanted - self.book.count(function, version)[0]
        errors: list[str] = []
        reason: str | None = None
        try:
            if missing > 0:
                v, _ = await self.aliases.resolve(function, version)
                spec = await self._spec(v)
                await self.pool.launcher.interpreter(spec.runtime)  # InvalidRuntime: none here
                ready = await self.pool.prewarm(spec, missing, errors)
                log.info(
                    "%s:%s: %d/%d provisioned environments ready", function, version, ready, missing
                )
        except TooManyRequests as exc:
            reason = f"Not enough capacity on this node: {exc.message}"
        except LaminaError as exc:
            reason = str(exc)
        if errors:
            reason = f"FUNCTION_ERROR_INIT_FAILURE: init failed with {errors[0]}"
        if self._changes[function] != change:
            return  # changed again meanwhile: the next plan settles these configs
        for state in states:
            state.status, state.reason = (FAILED, reason) if reason else (READY, None)
        await self._published()

    async def _published(self) -> None:
        if self._publish is not None:
            try:
                await self._publish()
            except LaminaError as exc:  # the next regular publication carries it
                log.warning("could not publish provisioned figures: %s", exc)

    def all_figures(self) -> dict[str, tuple[int, str, str]]:
        """Every config of this node: "function:qualifier" -> (allocated, status, reason)."""
        out: dict[str, tuple[int, str, str]] = {}
        for (function, qualifier), requested in self._requested.items():
            allocated, status, reason = self.figures(function, qualifier, requested)
            out[f"{function}:{qualifier}"] = (allocated, status, reason or "")
        return out

    async def cluster_figures(self, function: str, qualifier: str, requested: int) -> Figures:
        """`figures` of this node, or on a shared store of every live node together."""
        mine = self.figures(function, qualifier, requested)
        if self._nodes is None:
            return mine
        per_node = [mine]
        for record in await self._nodes():
            got = record.provisioned.get(f"{function}:{qualifier}")
            per_node.append((got[0], got[1], got[2] or None) if got else (0, IN_PROGRESS, None))
        return cluster_figures(per_node)

    def figures(self, function: str, qualifier: str, requested: int) -> Figures:
        """(allocated, status, status reason) of one config."""
        state = self._state.get((function, qualifier))
        if state is None:
            return 0, IN_PROGRESS, None
        live = self.book.count(function, state.version)[0] if state.version else 0
        return min(live, requested), state.status, state.reason

    def statistics(self) -> ProvisionedStatistics:
        return self.book.statistics()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
