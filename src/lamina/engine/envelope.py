"""The envelope of an environment: its limits, its user, its private /tmp, freeze and kill.

`Envelopes` is the node's policy, decided once at start (`Envelopes.setup`): the isolation
mode (`cgroup`: a cgroup per environment; `process`: resource limits and the process group),
whether idle environments are frozen, whether environments run as unprivileged users (the
node is root) in a private mount namespace (the node may mount). `Envelopes.envelope(spec)`
makes one environment's `Envelope` off the warm path, before its process starts: its cgroup,
its code directory's group, the JSON the child applies to itself (`lamina.runtime.envelope`).
The environment then freezes, thaws, kills and asks it about out-of-memory kills.

Users: each function runs as its own uid, `UID_BASE` + a hash of its name (no /etc/passwd
entry is needed to setuid to a number); each code directory is group-owned by a gid hashed
from its name, mode 0750, so only the functions running that code read it and none writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lamina.engine.cgroups import Cgroup, CgroupsUnavailable, Hierarchy
from lamina.engine.launcher import EnvironmentSpec
from lamina.runtime import protocol
from lamina.runtime.envelope import ENVELOPE_ENV

log = logging.getLogger("lamina.engine.envelope")

#: First uid of function users; a function's uid is UID_BASE + hash(name) % ID_SPAN.
UID_BASE = 1_000_000
#: First gid of code-directory groups.
GID_BASE = 3_000_000
#: How many uids (and gids) the hash spreads over.
ID_SPAN = 1_000_000
#: The one shared user when per-function uids cannot be used (nobody).
SHARED_UID = 65534
#: Descriptors an environment may open, as on AWS.
MAX_OPEN_FILES = 1024
#: Processes and threads per function user in process mode (cgroup mode: pids.max).
MAX_PROCESSES = 1024
#: How long an idle environment runs on before it is frozen (seconds; AWS freezes it once
#: the runtime asks for its next event, which is not instantaneous either).
FREEZE_GRACE_S = 0.010
#: A busy environment (BUSY_AFTER invocations in a row, each within this long of the last
#: answer) is frozen this long after its answer: under a steady stream it is not frozen
#: and thawed between every two invocations.
BUSY_FREEZE_GRACE_S = 0.100
BUSY_AFTER = 3

#: Run in a throwaway child at start: can we unshare a mount namespace, mount, setuid?
_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
private = 16384 | 262144
can_mount = libc.unshare(0x20000) == 0 and libc.mount(b"none", b"/", None, private, None) == 0
can_mount = can_mount and libc.mount(b"tmpfs", sys.argv[1].encode(), b"tmpfs", 0, None) == 0
can_mount = can_mount and libc.syscall(428, -100, b"/", 1 | 0x8000 | os.O_CLOEXEC) >= 0
try:
    os.setgroups([]); os.setgid(int(sys.argv[2])); os.setuid(int(sys.argv[2])); per_uid = True
except OSError:
    per_uid = False
print(int(can_mount), int(per_uid))
"""


def _hashed(name: str, base: int) -> int:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return base + int.from_bytes(digest, "big") % ID_SPAN


@dataclass
class Envelopes:
    """The node's isolation policy, and the factory of every environment's envelope."""

    mode: str = "process"
    freeze: bool = False
    hierarchy: Hierarchy | None = None
    #: Environments drop to unprivileged users (the node is root).
    drop_user: bool = False
    #: One uid per function (else SHARED_UID for all).
    per_function_uid: bool = False
    #: Environments get a private mount namespace (/tmp on tmpfs, the code read-only).
    private_mounts: bool = False
    #: Host directories environments see at their own paths.
    share: tuple[str, ...] = ()
    _granted: set[str] = field(default_factory=set)

    @classmethod
    def setup(cls, isolation: str, *, freeze: bool, share: tuple[Path, ...] = ()) -> Envelopes:
        """Decide the policy: `isolation` auto, cgroup or process; logged once.

        Raises:
            CgroupsUnavailable: `isolation` is "cgroup" and this node may not create cgroups.
        """
        envelopes = cls(freeze=freeze, share=tuple(str(Path(p).absolute()) for p in share))
        why = ""
        if isolation != "process":
            try:
                envelopes.hierarchy = Hierarchy.create(f"lamina-{os.getpid()}")
                envelopes.mode = "cgroup"
            except CgroupsUnavailable as exc:
                if isolation == "cgroup":
                    raise
                why = f" (no cgroups: {exc})"
        if os.geteuid() == 0:
            envelopes.drop_user = True
            envelopes.private_mounts, envelopes.per_function_uid = _probe()
        users = (
            ("per-function users" if envelopes.per_function_uid else f"user {SHARED_UID}")
            if envelopes.drop_user
            else "the node's user"
        )
        log.info(
            "isolation %s%s: environments run as %s, %s, freeze %s",
            envelopes.mode,
            why,
            users,
            "private /tmp" if envelopes.private_mounts else "shared /tmp",
            "on" if freeze else "off",
        )
        return envelopes

    def uid(self, function_name: str) -> int:
        return _hashed(function_name, UID_BASE) if self.per_function_uid else SHARED_UID

    async def envelope(self, spec: EnvironmentSpec) -> Envelope:
        """The envelope of a new environment of `spec`: its cgroup made, its code readable."""
        return await asyncio.to_thread(self._make, spec)

    def _make(self, spec: EnvironmentSpec) -> Envelope:
        cgroup = None
        if self.hierarchy is not None:
            cgroup = self.hierarchy.group(uuid.uuid4().hex, spec.memory_mb)
        rlimits = {"NOFILE": [MAX_OPEN_FILES, MAX_OPEN_FILES], "CORE": [0, 0]}
        description: dict[str, object] = {
            "cgroups": cgroup.procs if cgroup is not None else [],
            "fds_env": protocol.FDS_ENV,
            "rlimits": rlimits,
        }
        code_dirs = [d for d in (spec.code_dir, spec.opt_dir) if d is not None]
        uid = self.uid(spec.function_name) if self.drop_user else None
        if uid is not None:
            groups = [self._grant(d) for d in code_dirs]
            description.update(uid=uid, gid=uid, groups=groups)
            if cgroup is None:  # without pids.max: per-user limit (the user is the function's)
                rlimits["NPROC"] = [MAX_PROCESSES, MAX_PROCESSES]
        tmpdir = None
        if self.private_mounts:
            dirs = [str(d) for d in code_dirs]
            description.update(
                mounts=True,
                tmp_mb=spec.ephemeral_storage_mb,
                keep=[*dirs, *self.share],
                readonly=dirs,
            )
            if spec.opt_dir is not None:  # the merged layers at AWS's /opt
                description["opt"] = str(spec.opt_dir)
        else:
            tmpdir = tempfile.mkdtemp(prefix="lamina-env-")
            if uid is not None:
                os.chown(tmpdir, uid, uid)
        return Envelope(self, json.dumps(description), cgroup, tmpdir)

    def _grant(self, directory: Path) -> int:
        """Make `directory` (code or layers) readable by its group only; its gid."""
        gid = _hashed(directory.name, GID_BASE)
        key = str(directory)
        if key not in self._granted:
            grant(directory, gid)
            self._granted.add(key)
        return gid

    def close(self) -> None:
        """Remove the node's cgroup (after every environment closed)."""
        if self.hierarchy is not None:
            self.hierarchy.remove()


class Envelope:
    """One environment's envelope; `attach` it to the process once it runs."""

    def __init__(
        self, policy: Envelopes, description: str, cgroup: Cgroup | None, tmpdir: str | None
    ) -> None:
        self.policy = policy
        self.description = description
        self.cgroup = cgroup
        #: The environment's TMPDIR and HOME: its private /tmp, else a directory of its own.
        self.tmpdir = tmpdir or "/tmp"
        self._own_tmpdir = tmpdir
        self._pid = 0
        self.frozen = False
        self._freezing: asyncio.TimerHandle | None = None
        self._answered_at: float | None = None  # loop time of the last freeze request
        self._quick_returns = 0  # invocations in a row that came within BUSY_FREEZE_GRACE_S

    @property
    def limits_memory(self) -> bool:
        """Whether the kernel enforces MemorySize (a cgroup), so no RSS watch is needed."""
        return self.cgroup is not None

    def variables(self) -> dict[str, str]:
        """What to add to the process's environment for it to enter the envelope."""
        return {ENVELOPE_ENV: self.description}

    def attach(self, pid: int) -> None:
        self._pid = pid

    def enroll(self, pid: int) -> bool:
        """Move process `pid` into this envelope's cgroup from the node's side: an environment
        restored from a SnapStart version template cannot join it itself (it already runs as
        the function's user); it waits for the node's go until this is done. False when it
        could not be moved (it is gone, or the cgroup is)."""
        if self.cgroup is None:
            return True
        try:
            for procs in self.cgroup.procs:
                with open(procs, "w") as f:
                    f.write(str(pid))
        except OSError as exc:
            log.warning("process %d could not join its cgroup: %s", pid, exc)
            return False
        return True

    def initialized(self) -> None:
        """Init is over: from now on the environment gets its CPU share only."""
        if self.cgroup is not None:
            self.cgroup.throttle()

    def freeze(self) -> None:
        """Stop the environment until `thaw` (no-op with --no-freeze), after a grace of
        FREEZE_GRACE_S (BUSY_FREEZE_GRACE_S when busy): an environment that gets its next
        invocation within it (a queue being drained) is never frozen and thawed, which
        costs two freezer writes of up to ~0.1 ms each on the event loop."""
        if not self.policy.freeze or self.frozen or not self._pid or self._freezing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (shutdown paths): at once
            self._freeze_now()
            return
        self._answered_at = loop.time()
        busy = self._quick_returns >= BUSY_AFTER
        self._freezing = loop.call_later(
            BUSY_FREEZE_GRACE_S if busy else FREEZE_GRACE_S, self._freeze_now
        )

    def _cancel_freeze(self) -> None:
        if self._freezing is not None:
            self._freezing.cancel()
            self._freezing = None

    def _freeze_now(self) -> None:
        self._freezing = None
        if self.frozen or not self._pid:
            return
        if self.cgroup is not None:
            self.cgroup.freeze()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self._answered_at is not None:
            gap = _loop_time() - self._answered_at
            self._quick_returns = self._quick_returns + 1 if gap < BUSY_FREEZE_GRACE_S else 0
        self._cancel_freeze()  # still in its grace: never stopped
        if not self.frozen:
            return
        self.frozen = False
        if self.cgroup is not None:
            self.cgroup.thaw()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, signal.SIGCONT)

    def kill(self) -> bool:
        """SIGKILL everything in the cgroup; False in process mode (kill the group instead)."""
        self._cancel_freeze()
        if self.cgroup is None:
            if self.frozen and self._pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._pid, signal.SIGCONT)  # a stopped group dies on SIGKILL
            return False
        self.cgroup.kill_all()
        return True

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a task of this environment for exceeding MemorySize."""
        return self.cgroup is not None and self.cgroup.oom_kills() > 0

    async def close(self) -> None:
        """Kill what is left, remove the cgroup and the temporary directory."""
        self._cancel_freeze()
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is not None:
            await asyncio.to_thread(cgroup.remove)
        tmpdir, self._own_tmpdir = self._own_tmpdir, None
        if tmpdir is not None:
            await asyncio.to_thread(shutil.rmtree, tmpdir, True)


def _loop_time() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:  # no loop: a gap that counts as long
        return float("inf")


def grant(directory: Path, gid: int) -> None:
    """Owner unchanged (the node), group `gid`, no access for others, nobody may write but
    the owner: dirs 0750, files 0640 (0750 if executable). The top directory goes last, so
    its mode says the whole tree is done."""
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            path = os.path.join(root, name)
            os.chown(path, -1, gid, follow_symlinks=False)
            os.chmod(path, 0o750)
        for name in files:
            path = os.path.join(root, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            os.chown(path, -1, gid)
            os.chmod(path, 0o750 if mode & 0o100 else 0o640)
    os.chown(directory, -1, gid)
    os.chmod(directory, 0o750)


def harden_data_dir(data_dir: Path) -> None:
    """The node's data directory: traversable (0711) to reach code and the runtime directory
    (whose modules environments import as their own user: a restarted node must not lock them
    out of it), the rest owner-only (SQLite creates its -wal and -shm files with the
    database's mode)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o711)
    (data_dir / "code").mkdir(exist_ok=True)
    for entry in data_dir.iterdir():
        if entry.name in ("code", "runtime") and entry.is_dir():
            os.chmod(entry, 0o711)
        elif not entry.is_symlink():
            os.chmod(entry, 0o700 if entry.is_dir() else 0o600)


def _probe() -> tuple[bool, bool]:
    """(private mounts work, per-function uids work), tried in a throwaway child."""
    with tempfile.TemporaryDirectory(prefix="lamina-probe-") as target:
        try:
            done = subprocess.run(
                [sys.executable, "-S", "-c", _PROBE, target, str(UID_BASE + ID_SPAN - 1)],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
            mounts, per_uid = (bool(int(x)) for x in done.stdout.split())
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            log.warning("sandbox probe failed (%s): no private mounts, one shared user", exc)
            return False, False
    return mounts, per_uid
