"""SnapStart version templates: one process per SnapStart version, its init run once.

AWS snapshots a SnapStart version's initialized microVM when it is published and restores
every environment of the version from that snapshot. Lamina's snapshot is a process: the
interpreter's template forks it (`Launcher.snapshot`), it enters the version's envelope (its
own cgroup, mounts, limits and the function's user), imports the handler, runs the
before-snapshot hooks and then forks the version's environments itself
(`Launcher.restore`), each a copy of the initialized interpreter that only runs its
after-restore hooks (`lamina.runtime.snapshot`).

`VersionTemplates` (owned by the pool) keeps them by version and revision: made when the version
is published (engine/snapstart.py), or on the first cold start that needs one (after a node
restart), once even when many callers ask together; stopped when their version is deleted and
when the node stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import IO

from lamina.engine import logs, reports
from lamina.engine.envelope import Envelope, Envelopes
from lamina.engine.forkserver import ForkServer
from lamina.engine.launcher import EnvironmentSpec, Launcher, child_environment
from lamina.engine.reports import Ending, Exchange, ExchangeEnd
from lamina.engine.sandbox import Sandbox
from lamina.errors import LaminaError, SnapStartError, SnapStartTimeout

#: How long making a snapshot (init and before-snapshot hooks) may take: max(this, timeout).
SNAPSHOT_INIT_TIMEOUT_S = 130.0
#: How long a restore (fork and after-restore hooks) may take (reference D.6).
RESTORE_TIMEOUT_S = 10.0
#: errorType of a snapshot whose init ran out of time.
INIT_TIMEOUT = "Sandbox.Timedout"
#: How much of a snapshot's init output is kept for the function's log.
MAX_INIT_OUTPUT_BYTES = 1 << 20

_Key = tuple[str, str, str]  # (function name, version, revision)


class SnapshotFailed(LaminaError):
    """A version's snapshot could not be made: its init or a before-snapshot hook failed."""

    def __init__(self, error_type: str, message: str, output: str = "", stream: str = "") -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        #: What init printed, and the log stream it belongs to.
        self.output = output
        self.stream = stream


@dataclass
class VersionTemplate:
    """One SnapStart version's template process and what it holds."""

    server: ForkServer
    envelope: Envelope | None
    tmpdir: str | None
    output: IO[bytes]
    #: The template's log stream, and what its init printed there.
    stream: str = ""
    init_output: str = ""

    async def close(self) -> None:
        await _free(self.server, self.envelope, self.tmpdir, self.output)


class VersionTemplates:
    """The running version templates of a node."""

    def __init__(self, launcher: Launcher) -> None:
        self._launcher = launcher
        self._templates: dict[_Key, VersionTemplate] = {}
        self._building: dict[_Key, asyncio.Task[VersionTemplate]] = {}
        self._closed = False

    async def ensure(self, spec: EnvironmentSpec, envelopes: Envelopes | None) -> VersionTemplate:
        """The running template of SnapStart version `spec`, made now if there is none.

        Raises:
            SnapshotFailed: its init or a before-snapshot hook failed, or it could not start.
        """
        key = (spec.function_name, spec.version, spec.revision)
        found = self._templates.get(key)
        if found is not None and found.server.alive:
            return found
        if found is not None:  # it died: a new one is made
            del self._templates[key]
            await found.close()
        if self._closed:
            raise SnapshotFailed(reports.UNKNOWN, "the node is stopping")
        task = self._building.get(key)
        if task is None:
            task = asyncio.create_task(self._build(spec, envelopes), name="lamina-snapshot")
            self._building[key] = task
            task.add_done_callback(lambda _: self._building.pop(key, None))
        return await asyncio.shield(task)

    async def ready(self, spec: EnvironmentSpec, envelopes: Envelopes | None) -> VersionTemplate:
        """`ensure`, for an environment about to be restored from the template.

        Raises:
            SnapStartError: the version's snapshot could not be made.
        """
        try:
            return await self.ensure(spec, envelopes)
        except SnapshotFailed as exc:
            raise SnapStartError(f"The snapshot of this version could not be made: {exc}") from exc

    async def restore(
        self, spec: EnvironmentSpec, envelopes: Envelopes | None, env: dict[str, str]
    ) -> tuple[Sandbox, float]:
        """Fork a new environment of SnapStart version `spec` from its template (`Sandbox.go`
        then lets it restore); also how long it waited for the template to be made (after a
        restart), which counts neither to the restore limit nor to Restore Duration.

        Raises:
            SnapStartError: the version's snapshot could not be made.
            OSError: the fork failed.
        """
        clock = self._launcher.clock
        started = clock.monotonic()
        template = await self.ready(spec, envelopes)
        waited = clock.monotonic() - started
        try:
            return await self._launcher.restore(template.server, spec, env), waited
        except OSError:
            if template.server.alive:
                raise
        template = await self.ready(spec, envelopes)  # it died since: made again (self-healing)
        return await self._launcher.restore(template.server, spec, env), clock.monotonic() - started

    async def _build(self, spec: EnvironmentSpec, envelopes: Envelopes | None) -> VersionTemplate:
        envelope = await envelopes.envelope(spec) if envelopes is not None else None
        tmpdir = None if envelope is not None else tempfile.mkdtemp(prefix="lamina-snap-")
        stream = logs.log_stream_name(spec.version, uuid.uuid4().hex, self._launcher.clock.time())
        env = child_environment(
            spec, stream, envelope.tmpdir if envelope else tmpdir or "", "snap-start"
        )
        if envelope is not None:
            env.update(envelope.variables())
        output = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the template)
        server: ForkServer | None = None
        try:
            server = await self._launcher.snapshot(spec, env, output.fileno())
            server.lost_message = (
                f"SnapStart template of {spec.function_name}:{spec.version} exited; its"
                " environments are killed, and it is made again on the next cold start"
            )
            if envelope is not None:
                envelope.attach(server.pid)
            limit_s = max(SNAPSHOT_INIT_TIMEOUT_S, float(spec.timeout_s))
            answer = await server.wait_snapshotted(limit_s)
        except BaseException as exc:
            printed = _read(output)
            await _free(server, envelope, tmpdir, output)
            if isinstance(exc, TimeoutError):
                message = "the snapshot's init timed out"
                raise SnapshotFailed(INIT_TIMEOUT, message, printed, stream) from exc
            if isinstance(exc, (OSError, LaminaError)):
                raise SnapshotFailed(reports.UNKNOWN, str(exc), printed, stream) from exc
            raise
        printed = await asyncio.to_thread(_read, output)
        template = VersionTemplate(server, envelope, tmpdir, output, stream, printed)
        if answer.error_type:
            await template.close()
            raise SnapshotFailed(answer.error_type, _message(answer.payload), printed, stream)
        if self._closed:
            await template.close()
            raise SnapshotFailed(reports.UNKNOWN, "the node is stopping")
        self._templates[(spec.function_name, spec.version, spec.revision)] = template
        return template

    async def retire(self, function_name: str, keep: set[str] | None = None) -> None:
        """Stop the templates of `function_name`'s versions not in `keep` (None: all)."""
        doomed = [
            key
            for key in self._templates
            if key[0] == function_name and (keep is None or key[1] not in keep)
        ]
        for key in doomed:
            await self._templates.pop(key).close()

    async def close(self) -> None:
        """Stop every template (the pool's environments are closed first)."""
        self._closed = True
        for task in list(self._building.values()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        templates, self._templates = list(self._templates.values()), {}
        for template in templates:
            await template.close()


async def _free(
    server: ForkServer | None, envelope: Envelope | None, tmpdir: str | None, output: IO[bytes]
) -> None:
    if server is not None:
        await server.close()
    if envelope is not None:
        await envelope.close()
    if tmpdir is not None:
        await asyncio.to_thread(shutil.rmtree, tmpdir, True)
    output.close()


def restore_error(failure: Ending | Exchange | None) -> LaminaError:
    """What the caller of an environment whose restore failed gets (reference B.4: an
    after-restore hook raised → SnapStartException 400; over RESTORE_TIMEOUT_S → 408)."""
    if isinstance(failure, Exchange) and failure.end is ExchangeEnd.TIMED_OUT:
        return SnapStartTimeout("Lambda couldn't restore the snapshot within the timeout limit.")
    error_type = failure.error_type if isinstance(failure, Ending) else reports.EXIT_ERROR
    return SnapStartError(
        f"The afterRestore() runtime hook failed ({error_type}). For more information, check"
        " the Amazon CloudWatch logs."
    )


def _read(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read(MAX_INIT_OUTPUT_BYTES).decode(errors="replace")


def _message(payload: str) -> str:
    """The errorMessage of an AWS error document (or the text itself)."""
    try:
        return str(json.loads(payload).get("errorMessage", payload))
    except (ValueError, AttributeError):
        return payload
