"""SnapStart: make a published version's snapshot, and say whether a version may run.

A version published while its function's SnapStart.ApplyOn is PublishedVersions is stored
`Pending` (control/functions.py) and handed to `SnapStart.published`, which makes its version
template in the background (engine/version_templates.py: init once, before-snapshot hooks)
and then sets the version `Active`, or `Failed` with the reason when init or a hook failed
(reference D.6, A.5). Until then invokes of it get SnapStartNotReadyException (409); a
Failed one gets ResourceConflictException. A node that restarts finishes the snapshots a
stopped node left Pending (`resume`); an Active version's template is made again on the first
cold start that needs it (lazily: a restarted node starts no user code for versions nobody
invokes). Templates of deleted versions stop when their function changes (`changed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from lamina.control.functions import FunctionService
from lamina.control.models import VersionConfig
from lamina.engine.launcher import EnvironmentSpec
from lamina.engine.log_sink import LogSink
from lamina.engine.pool import Pool
from lamina.engine.version_templates import INIT_TIMEOUT, SnapshotFailed
from lamina.errors import ResourceConflict, SnapStartNotReady

log = logging.getLogger("lamina.engine.snapstart")

#: StateReasonCode of a version whose snapshot failed (botocore's StateReasonCode enum).
FAILED_REASON_CODE = "FunctionError"
#: ... and of one whose init ran out of time.
TIMED_OUT_REASON_CODE = "FunctionError.InitTimeout"


def check_ready(version: VersionConfig) -> None:
    """Raise what AWS answers an invoke of a SnapStart version that cannot run yet.

    Raises:
        SnapStartNotReady: its snapshot is still being made (State Pending).
        ResourceConflict: its snapshot failed (State Failed).
    """
    if not version.snap_started or version.state == "Active":
        return
    if version.state == "Pending":
        raise SnapStartNotReady(
            "Lambda is initializing your function. You can invoke the function when the"
            " function state becomes Active."
        )
    raise ResourceConflict(
        "The operation cannot be performed at this time. The function is currently in the"
        f" following state: {version.state}"
    )


class SnapStart:
    """Makes the snapshots of published SnapStart versions on this node.

    Parameters:
        functions: where the versions' State is written.
        pool: owns the version templates (`pool.versions`) and the isolation policy.
        spec: the environment spec of a version (the invoker's, so both agree).
        logs: where a snapshot's init output goes (the function's log group).
    """

    def __init__(
        self,
        functions: FunctionService,
        pool: Pool,
        spec: Callable[[VersionConfig], Awaitable[EnvironmentSpec]],
        logs: LogSink,
    ) -> None:
        self._functions = functions
        self._pool = pool
        self._spec = spec
        self._logs = logs
        self._making: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def published(self, version: VersionConfig) -> None:
        """A version was published: make its snapshot in the background if it needs one."""
        key = (version.name, version.version)
        if not version.snap_started or version.state != "Pending" or key in self._making:
            return
        task = asyncio.create_task(self._make(version), name=f"lamina-snapstart-{version.name}")
        self._making[key] = task
        task.add_done_callback(lambda _: self._making.pop(key, None))

    async def _make(self, version: VersionConfig) -> None:
        name, number = version.name, version.version
        try:
            spec = await self._spec(version)
            template = await self._pool.versions.ensure(spec, self._pool.envelopes)
        except SnapshotFailed as exc:
            log.info("snapshot of %s:%s failed: %s", name, number, exc)
            self._logs.add(version.log_group, exc.stream, exc.output)
            code = TIMED_OUT_REASON_CODE if exc.error_type == INIT_TIMEOUT else FAILED_REASON_CODE
            await self._functions.set_state(name, number, "Failed", str(exc), code)
            return
        except Exception as exc:  # the code could not be unpacked, the store failed, …
            log.exception("snapshot of %s:%s failed", name, number)
            await self._functions.set_state(name, number, "Failed", str(exc), FAILED_REASON_CODE)
            return
        self._logs.add(version.log_group, template.stream, template.init_output)
        if await self._functions.set_state(name, number, "Active", None, None) is None:
            await self._pool.versions.retire(name, {v.version for v in await self._versions(name)})
        log.info("snapshot of %s:%s ready", name, number)

    async def wait_made(self) -> None:
        """Until every snapshot being made now is done (tests, benchmarks)."""
        while self._making:
            await asyncio.wait(list(self._making.values()))

    async def resume(self) -> None:
        """Make the snapshots a stopped node left Pending (the node calls it at start)."""
        for version in await self._functions.list_all_versions():
            await self.published(version)

    async def changed(self, name: str) -> None:
        """Function `name` changed: stop the templates of its versions that are gone."""
        keep = {v.version for v in await self._versions(name)}
        await self._pool.versions.retire(name, keep)

    async def _versions(self, name: str) -> list[VersionConfig]:
        return await self._functions.records.versions(name)

    async def stop(self) -> None:
        """Cancel the snapshots being made (their versions stay Pending until `resume`)."""
        for task in list(self._making.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
