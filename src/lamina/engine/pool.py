"""Execution environments per function version: warm reuse, cold start, scale-out, reaping.

Idle environments of a version form a stack: the most recently used is handed out
first (so the rest age out and get reaped), and a caller that finds none idle
cold-starts a new one. Pre-warmed (provisioned) environments are handed out before any
other, are never reaped or evicted, and become ordinary ones when `demote`d; which versions
want how many is the provisioner's business (`engine/provisioner.py`). The pool starts
processes through the node's `Launcher`, at most `init_budget` inits at once
(`engine/init_slots.py`); environments of a SnapStart version are restored from its version
template (`versions`, engine/version_templates.py). Every pool mutation is synchronous
between awaits, so any number of concurrent `environment()` calls are safe on one event loop.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from lamina.engine.concurrency import Lease
from lamina.engine.envelope import Envelopes
from lamina.engine.environment import Environment
from lamina.engine.environment_status import EnvironmentStatus
from lamina.engine.init_slots import InitSlots
from lamina.engine.launcher import EnvironmentSpec, Launcher
from lamina.engine.version_templates import VersionTemplates
from lamina.errors import LaminaError, TooManyRequests

#: Environments idle longer than this are reaped (AWS does not document its value).
DEFAULT_IDLE_TIMEOUT_S = 300.0

_Key = tuple[str, str]  # (function name, version)
#: TooManyRequests Reason when no room can be made for a new environment.
MEMORY_BUDGET_EXCEEDED = "NodeMemoryBudgetExceeded"


class PoolClosed(LaminaError):
    """The pool was closed; no environment can be handed out."""


@dataclass(frozen=True)
class FunctionPoolStatistics:
    """Environments of one function, by status; `idle` are READY and waiting in the pool."""

    starting: int = 0
    ready: int = 0
    busy: int = 0
    idle: int = 0


@dataclass(frozen=True)
class PoolStatistics:
    """A snapshot of the pool, for /lamina/v1 stats and /metrics."""

    total: int
    starting: int
    ready: int
    busy: int
    idle: int
    cold_starts: int
    functions: Mapping[str, FunctionPoolStatistics] = field(default_factory=dict)
    evictions: int = 0
    memory_in_use_mb: int = 0
    memory_budget_mb: int | None = None
    #: Inits (process start + handler import) running now, the most seen at once, the cap.
    inits_running: int = 0
    inits_max_seen: int = 0
    init_budget: int | None = None
    #: Callers waiting for an init slot (or a warm environment) now.
    inits_waiting: int = 0
    #: Environments found dead (when picked, or before their handler ran) and replaced.
    replaced: int = 0
    #: Fork-server templates started again after one died.
    template_restarts: int = 0


class Pool:
    """Owns every execution environment of the node."""

    def __init__(
        self,
        launcher: Launcher,
        *,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        memory_budget_mb: int | None = None,
        init_budget: int | None = None,
        envelopes: Envelopes | None = None,
    ) -> None:
        self.launcher = launcher
        #: The node's isolation policy; None runs environments as plain child processes.
        self.envelopes = envelopes
        self.replaced = 0
        self._clock = launcher.clock
        self.idle_timeout_s = idle_timeout_s
        #: Cap on the sum of MemorySize of live environments (None: no cap).
        self.memory_budget_mb = memory_budget_mb
        self.evictions = 0
        self._idle: dict[_Key, list[Environment]] = {}
        self._all: set[Environment] = set()
        self._provisioned: set[Environment] = set()
        self._closed = False
        self._cold_starts = 0
        #: Inits running, waiting and the cap on them (budget None: no cap).
        self.inits = InitSlots(init_budget, self._give_back)
        #: The templates SnapStart versions' environments are restored from.
        self.versions = VersionTemplates(launcher)

    @asynccontextmanager
    async def environment(self, spec: EnvironmentSpec, lease: Lease) -> AsyncIterator[Environment]:
        """Borrow an environment of `spec` for one invocation, under a concurrency lease.

        Yields an idle warm environment of the same function, version and revision
        (pre-warmed ones first, then most recently used), or a new one, started under an
        init slot (scale out: one environment per concurrent caller; a failed init is
        returned by its first `invoke`). When the init budget is taken the caller waits for
        a slot or for a warm environment of `spec`, whichever comes first. On exit the
        environment returns to idle, or is discarded if it died or was retired meanwhile.

        Parameters:
            spec: the function version and revision to run.
            lease: the caller's concurrency lease for this function (held for the block).

        Raises:
            PoolClosed: `close()` was called.
            TooManyRequests: the memory budget has no room for a new environment.
        """
        if self._closed:
            raise PoolClosed("the environment pool is closed")
        if lease.function != spec.function_name:
            raise ValueError(f"a lease of {lease.function} cannot borrow {spec.function_name}")
        env, stale = self._take_idle(spec)
        while env is not None and not env.alive:  # died while idle: never hand it out
            self.replaced += 1
            stale.append(env)
            env, more = self._take_idle(spec)
            stale.extend(more)
        for old in stale:
            await self._discard(old)
        if env is None:
            env = await self._new_or_handed(spec)
        try:
            yield env
        finally:
            await self._give_back(env)

    async def _new_or_handed(self, spec: EnvironmentSpec) -> Environment:
        """A warm environment handed over while waiting, or a new one started under a slot."""
        handed = await self.inits.acquire(spec)
        if isinstance(handed, Environment):
            return handed
        try:
            doomed = self._make_room(spec.memory_mb)
            env = Environment(spec, self.launcher, envelopes=self.envelopes, versions=self.versions)
            self._all.add(env)
            self._cold_starts += 1
            await self._discard_all(doomed)
            try:
                await env.start()
            except BaseException:
                await self._discard(env)
                raise
        finally:
            self.inits.release()
        return env

    def code_dirs_in_use(self) -> set[str]:
        """Names of the code directories of every live environment, busy or idle."""
        return {env.spec.code_dir.name for env in self._all}

    @property
    def memory_in_use_mb(self) -> int:
        """Sum of MemorySize over every live environment, busy or idle."""
        return sum(env.spec.memory_mb for env in self._all)

    def _make_room(self, need_mb: int) -> list[Environment]:
        """Take idle on-demand environments out of the pool, least recently used first, until
        `need_mb` more fits in the memory budget; the caller closes them. Synchronous, so
        concurrent cold starts never both count the same free memory.

        Raises:
            TooManyRequests: not enough idle environments to evict.
        """
        if self.memory_budget_mb is None:
            return []
        used = self.memory_in_use_mb
        if used + need_mb <= self.memory_budget_mb:
            return []
        candidates = sorted(
            (env for idle in self._idle.values() for env in idle if not env.provisioned),
            key=lambda env: env.last_used,
        )
        doomed: list[Environment] = []
        for env in candidates:
            if used + need_mb <= self.memory_budget_mb:
                break
            doomed.append(env)
            used -= env.spec.memory_mb
        if used + need_mb > self.memory_budget_mb:
            raise TooManyRequests(
                MEMORY_BUDGET_EXCEEDED,
                f"Rate Exceeded: this node's memory budget ({self.memory_budget_mb} MB) is held"
                f" by running environments; {need_mb} MB more do not fit.",
            )
        gone = {id(env) for env in doomed}
        for key, idle in self._idle.items():
            self._idle[key] = [env for env in idle if id(env) not in gone]
        self._all.difference_update(doomed)
        self.evictions += len(doomed)
        return doomed

    def _take_idle(self, spec: EnvironmentSpec) -> tuple[Environment | None, list[Environment]]:
        """Pop the MRU idle environment of `spec`. Idle ones of another revision (or any
        other difference in spec) are stale: they run code or configuration now replaced."""
        idle = self._idle.get((spec.function_name, spec.version))
        if not idle:
            return None, []
        if self._provisioned:
            for i in range(len(idle) - 1, -1, -1):  # provisioned environments serve first
                if idle[i].provisioned and idle[i].spec == spec:
                    return idle.pop(i), []
        if idle[-1].spec is spec:  # the common case: the invoker's cached spec, unchanged
            return idle.pop(), []
        stale = [env for env in idle if env.spec != spec]
        if stale:
            idle[:] = [env for env in idle if env.spec == spec]
        return (idle.pop() if idle else None), stale

    async def _give_back(self, env: Environment) -> None:
        if self._closed or env.retired or env.status is not EnvironmentStatus.READY:
            await self._discard(env)
            return
        env.last_used = self._clock.monotonic()
        if self.inits.waiting and self.inits.hand_over(env):
            return
        self._idle.setdefault((env.spec.function_name, env.spec.version), []).append(env)

    async def _discard(self, env: Environment) -> None:
        self.replaced += env.replacements  # moved here, so counted once
        env.replacements = 0
        self._all.discard(env)
        self._provisioned.discard(env)
        await env.close()

    def provisioned(self, function_name: str) -> list[tuple[Environment, bool]]:
        """Live pre-warmed environments of a function, each with whether it is idle now."""
        idle = {id(e) for e in self._idle_of(function_name)}
        return [
            (env, id(env) in idle)
            for env in self._provisioned
            if env.spec.function_name == function_name and env.status is not EnvironmentStatus.DEAD
        ]

    def provisioned_functions(self) -> set[str]:
        """Functions with at least one pre-warmed environment."""
        return {env.spec.function_name for env in self._provisioned}

    def _idle_of(self, function_name: str) -> list[Environment]:
        return [e for (f, _), stack in self._idle.items() if f == function_name for e in stack]

    def demote(self, env: Environment) -> None:
        """Make a pre-warmed environment an ordinary on-demand one (reaped when idle)."""
        env.provisioned = False
        self._provisioned.discard(env)

    async def prewarm(
        self, spec: EnvironmentSpec, count: int, errors: list[str] | None = None
    ) -> int:
        """Start `count` environments of `spec` and park them idle (provisioned concurrency).

        Their first invoke reports no Init Duration, as on AWS.

        Parameters:
            spec: the function version and revision to run.
            count: how many environments to start, concurrently.
            errors: if given, gets the errorType of every environment whose init failed.

        Returns how many are READY; the others failed init and were discarded.

        Raises:
            PoolClosed: `close()` was called.
            TooManyRequests: the memory budget has no room for them.
        """
        if self._closed:
            raise PoolClosed("the environment pool is closed")
        doomed = self._make_room(spec.memory_mb * count)
        envs = [
            Environment(spec, self.launcher, provisioned=True, envelopes=self.envelopes)
            for _ in range(count)
        ]
        self._all.update(envs)
        self._provisioned.update(envs)
        await self._discard_all(doomed)
        started = await asyncio.gather(*(self._start_under_slot(env) for env in envs))
        for env, ok in zip(envs, started, strict=True):
            if ok:
                await self._give_back(env)
            else:
                if errors is not None:
                    errors.append(env.init_error or "Runtime.Unknown")
                await self._discard(env)
        return sum(started)

    async def _start_under_slot(self, env: Environment) -> bool:
        await self.inits.acquire(None)
        try:
            return await env.start()
        finally:
            self.inits.release()

    async def retire(self, function_name: str, version: str | None = None) -> None:
        """Retire the environments of a function (one version, or all): after a code or
        configuration update, or a delete. Idle ones die now, busy ones after their call.

        Parameters:
            function_name: the function's name.
            version: "$LATEST", "1", …; None for every version.
        """
        for env in list(self._all):
            same = env.spec.function_name == function_name
            if same and (version is None or env.spec.version == version):
                env.retired = True
        doomed: list[Environment] = []
        for key, idle in self._idle.items():
            doomed.extend(env for env in idle if env.retired)
            self._idle[key] = [env for env in idle if not env.retired]
        await self._discard_all(doomed)

    async def reap_idle(self) -> int:
        """Kill environments idle longer than `idle_timeout_s`; the node calls it periodically.

        Returns how many were killed.
        """
        horizon = self._clock.monotonic() - self.idle_timeout_s
        doomed: list[Environment] = []
        for key, idle in self._idle.items():
            old = [env for env in idle if env.last_used < horizon and not env.provisioned]
            if old:
                doomed.extend(old)
                self._idle[key] = [env for env in idle if env not in old]
        await self._discard_all(doomed)
        return len(doomed)

    async def close(self) -> None:
        """Kill every environment, busy ones included, and reap every child process."""
        self._closed = True
        self._idle.clear()
        self.inits.close(PoolClosed("the environment pool is closed"))
        await self._discard_all(list(self._all))
        await self.versions.close()
        if self.envelopes is not None:
            await asyncio.to_thread(self.envelopes.close)

    async def _discard_all(self, envs: list[Environment]) -> None:
        if envs:
            await asyncio.gather(*(self._discard(env) for env in envs))

    def statistics(self) -> PoolStatistics:
        """Counts of environments by status, in total and per function."""
        idle_ids = {id(env) for idle in self._idle.values() for env in idle}
        per_function: dict[str, Counter[str]] = {}
        for env in self._all:
            counts = per_function.setdefault(env.spec.function_name, Counter())
            counts[env.status.value] += 1
            if id(env) in idle_ids:
                counts["idle"] += 1
        functions = {
            name: FunctionPoolStatistics(c["starting"], c["ready"], c["busy"], c["idle"])
            for name, c in per_function.items()
        }
        return PoolStatistics(
            total=len(self._all),
            starting=sum(f.starting for f in functions.values()),
            ready=sum(f.ready for f in functions.values()),
            busy=sum(f.busy for f in functions.values()),
            idle=len(idle_ids),
            cold_starts=self._cold_starts,
            functions=functions,
            evictions=self.evictions,
            memory_in_use_mb=self.memory_in_use_mb,
            memory_budget_mb=self.memory_budget_mb,
            inits_running=self.inits.running,
            inits_max_seen=self.inits.max_seen,
            init_budget=self.inits.budget,
            inits_waiting=self.inits.waiting,
            replaced=self.replaced + sum(env.replacements for env in self._all),
            template_restarts=self.launcher.template_restarts,
        )
