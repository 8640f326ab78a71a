"""Control groups: one per environment, under one per node (cgroup v2, else v1).

`Hierarchy.create()` makes the node's own group under the cgroup the node runs in: on a
unified (v2) mount one directory with the memory, cpu and pids controllers enabled; on v1 one
directory in each of the `memory`, `cpu`, `pids` and `freezer` hierarchies. Each environment
gets a `Cgroup` below it with its limits: memory = MemorySize (no swap), a CPU quota of
MemorySize / 1,769 MB vCPUs capped at the machine's cores (from the end of init on), at most
1,024 tasks. The
environment's process joins it itself (`lamina.runtime.envelope`), so everything it starts
is inside. A `Cgroup` freezes, thaws, kills every task in it and counts its OOM kills; its
control files are opened once so that freeze and thaw are one write each.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

#: Where cgroup hierarchies are mounted.
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The v1 controllers an environment's group needs.
V1_CONTROLLERS = ("freezer", "memory", "cpu", "pids")  # freezer first: see sweep_stale
#: MemorySize that buys one vCPU, as on AWS.
MB_PER_VCPU = 1769
#: CFS period of every environment's CPU quota. Shorter than the kernel's 100 ms default so a
#: small function over its share behaves like a slower CPU rather than stop-and-go: at 128 MB
#: (7 % of a vCPU) a throttled environment waits at most ~19 ms for its next slice, not ~93.
CPU_PERIOD_US = 20_000
#: Most processes and threads an environment may have, as on AWS.
MAX_TASKS = 1024
#: An empty v1 group kept frozen for the node's life. The kernel switches its freezer on (a
#: static key: code patched on every CPU) when the first group freezes and off when the last
#: thaws, 0.1-5 ms each time; with one group always frozen, freeze and thaw cost a few µs.
KEEPER = "keeper"
#: How long `remove` waits for killed tasks to leave a group before giving up.
REMOVE_TIMEOUT_S = 2.0


class CgroupsUnavailable(OSError):
    """This node may not create cgroups (no writable hierarchy, or not permitted)."""


def own_path(version: int, controller: str = "") -> str:
    """The cgroup this process is in, in the v2 hierarchy or in v1's `controller` one."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if version == 2 and controllers == "":
            return path
        if version == 1 and controller in controllers.split(","):
            return path
    raise CgroupsUnavailable(f"this process is in no {controller or 'v2'} cgroup")


def cpu_quota_us(memory_mb: int, cores: int | None = None) -> int:
    """CFS quota per CPU_PERIOD_US: MemorySize / 1,769 MB of a vCPU, at most every core."""
    cores = cores or os.cpu_count() or 1
    return max(1000, int(min(memory_mb / MB_PER_VCPU, cores) * CPU_PERIOD_US))


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class Cgroup:
    """One environment's group; `procs` are the files its process writes its pid into."""

    def __init__(self, version: int, dirs: dict[str, Path], cpu_quota_us: int) -> None:
        self.version = version
        self.dirs = dirs
        self.cpu_quota_us = cpu_quota_us
        main = dirs["memory"]
        self.procs = sorted({str(d / "cgroup.procs") for d in dirs.values()})
        freezer = dirs["freezer"] / ("cgroup.freeze" if version == 2 else "freezer.state")
        self._freezer_fd = os.open(freezer, os.O_WRONLY)
        events = main / ("memory.events" if version == 2 else "memory.oom_control")
        self._events_fd = os.open(events, os.O_RDONLY)
        self._frozen, self._thawed = (b"1", b"0") if version == 2 else (b"FROZEN", b"THAWED")
        self.frozen = False

    def throttle(self) -> None:
        """Apply the CPU quota. Init runs without it, so a cold start is not slowed down."""
        if self.version == 2:
            _write(self.dirs["cpu"] / "cpu.max", f"{self.cpu_quota_us} {CPU_PERIOD_US}")
        else:
            _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(self.cpu_quota_us))

    def freeze(self) -> None:
        """Stop every task of the group (returns at once; the kernel finishes the job)."""
        os.write(self._freezer_fd, self._frozen)
        self.frozen = True

    def thaw(self) -> None:
        os.write(self._freezer_fd, self._thawed)
        self.frozen = False

    def oom_kills(self) -> int:
        """How many tasks of the group the kernel killed for exceeding its memory limit."""
        for line in os.pread(self._events_fd, 4096, 0).split(b"\n"):
            if line.startswith(b"oom_kill "):
                return int(line.split()[1])
        return 0

    def pids(self) -> list[int]:
        text = (self.dirs["memory"] / "cgroup.procs").read_text()
        return [int(pid) for pid in text.split()]

    def kill_all(self) -> None:
        """SIGKILL every task: frozen first, so nothing forks while the list is read."""
        if self.version == 2 and (self.dirs["memory"] / "cgroup.kill").exists():
            _write(self.dirs["memory"] / "cgroup.kill", "1")
            return
        self.freeze()
        try:
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        finally:
            self.thaw()

    def remove(self) -> None:
        """Kill what is left and remove the group's directories (blocking; run in a thread)."""
        self.kill_all()
        deadline = time.monotonic() + REMOVE_TIMEOUT_S
        for fd in (self._freezer_fd, self._events_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        for directory in set(self.dirs.values()):
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # tasks still exiting
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.005)


def sweep_stale(parent: Path) -> None:
    """Kill and remove what a node killed with -9 left: `lamina-<pid>` groups whose pid is gone
    (their environments, and whatever those started)."""
    for node_group in parent.glob("lamina-*"):
        pid = node_group.name.rpartition("-")[2]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        for group in [*(d for d in node_group.iterdir() if d.is_dir()), node_group]:
            with contextlib.suppress(OSError, ValueError):
                for task in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(task), signal.SIGKILL)
            for thaw, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                with contextlib.suppress(OSError):  # a frozen task dies only once thawed
                    _write(group / thaw, value)
        for group in [*(d for d in node_group.iterdir() if d.is_dir()), node_group]:
            deadline = time.monotonic() + REMOVE_TIMEOUT_S
            while True:
                try:
                    group.rmdir()
                    break
                except OSError:
                    if time.monotonic() > deadline or not group.exists():
                        break
                    time.sleep(0.005)


class Hierarchy:
    """The node's own cgroup, parent of every environment's."""

    def __init__(self, version: int, bases: dict[str, Path]) -> None:
        self.version = version
        self.bases = bases

    @classmethod
    def create(cls, name: str) -> Hierarchy:
        """Make the node's group `name` (v2 if the unified hierarchy has the controllers).

        Raises:
            CgroupsUnavailable: no usable hierarchy, or creating it is not permitted.
        """
        try:
            if (CGROUP_ROOT / "cgroup.controllers").exists():
                return cls._create_v2(name)
            return cls._create_v1(name)
        except CgroupsUnavailable:
            raise
        except OSError as exc:
            raise CgroupsUnavailable(str(exc)) from exc

    @classmethod
    def _create_v1(cls, name: str) -> Hierarchy:
        bases: dict[str, Path] = {}
        for controller in V1_CONTROLLERS:
            mount = CGROUP_ROOT / controller
            if not (mount / "cgroup.procs").exists():
                raise CgroupsUnavailable(f"no cgroup v1 {controller} hierarchy")
            base = mount / own_path(1, controller).lstrip("/") / name
            sweep_stale(base.parent)
            base.mkdir(exist_ok=True)
            bases[controller] = base
        keeper = bases["freezer"] / KEEPER
        keeper.mkdir(exist_ok=True)
        _write(keeper / "freezer.state", "FROZEN")
        return cls(1, bases)

    @classmethod
    def _create_v2(cls, name: str) -> Hierarchy:
        parent = CGROUP_ROOT / own_path(2).lstrip("/")
        wanted = {"memory", "cpu", "pids"}
        if not wanted <= set((parent / "cgroup.controllers").read_text().split()):
            raise CgroupsUnavailable("the v2 hierarchy lacks memory, cpu or pids")
        base = parent / name
        sweep_stale(parent)
        base.mkdir(exist_ok=True)
        _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))
        return cls(2, dict.fromkeys(V1_CONTROLLERS, base))

    def group(self, name: str, memory_mb: int) -> Cgroup:
        """Create the group of one environment with its limits (blocking; a few syscalls)."""
        dirs = {c: base / name for c, base in self.bases.items()}
        for directory in set(dirs.values()):
            directory.mkdir()
        memory = memory_mb * 1024 * 1024
        quota = cpu_quota_us(memory_mb)  # applied after init: see Cgroup.throttle
        if self.version == 2:
            d = dirs["memory"]
            _write(d / "memory.max", str(memory))
            with contextlib.suppress(OSError):
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(MAX_TASKS))
        else:
            _write(dirs["memory"] / "memory.limit_in_bytes", str(memory))
            with contextlib.suppress(OSError):  # without swap accounting there is no memsw
                _write(dirs["memory"] / "memory.memsw.limit_in_bytes", str(memory))
            _write(dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            _write(dirs["pids"] / "pids.max", str(MAX_TASKS))
        return Cgroup(self.version, dirs, quota)

    def remove(self) -> None:
        """Remove the node's group (its environments' groups are removed first)."""
        if self.version == 1:
            with contextlib.suppress(OSError):
                _write(self.bases["freezer"] / KEEPER / "freezer.state", "THAWED")
        for base in set(self.bases.values()):
            for child in base.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                base.rmdir()
