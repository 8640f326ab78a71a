"""The child side of an environment's envelope: what a process applies to itself first.

Every environment first switches to SCHED_BATCH (see `_batch_scheduling`). The node describes
the envelope as JSON in `ENVELOPE_ENV`; `enter` applies it before any function code runs, in
this order, and removes the variable:

1. join the environment's cgroups (write our pid into each `cgroup.procs`);
2. a private mount namespace: a tmpfs on /tmp sized by EphemeralStorage, every directory a
   non-root user cannot traverse (such as /root) hidden under an empty tmpfs, the paths the
   process needs (its interpreter, sys.path, the code, shared directories) bound back at
   their own paths, the code read-only;
3. resource limits; 4. close every inherited descriptor but 0-2 and the protocol's;
5. no new privileges, then setgroups / setgid / setuid to the environment's user, last.

Any failure raises: a half-applied envelope must not run user code. Standard library only,
Python 3.9 syntax: this runs on every interpreter a runtime may ask for, and right before a
custom runtime's bootstrap is exec'd.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import stat
import sys

#: Variable holding the envelope's JSON description; absent means "no envelope".
ENVELOPE_ENV = "_LAMINA_ENVELOPE"

_CLONE_NEWNS = 0x00020000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_SET_NO_NEW_PRIVS = 38
_SYS_OPEN_TREE = 428  # the same number on every architecture since Linux 5.2
_SYS_MOVE_MOUNT = 429
_OPEN_TREE_CLONE = 1
_AT_RECURSIVE = 0x8000
_AT_FDCWD = -100
_MOVE_EMPTY = 4  # MOVE_MOUNT_F_EMPTY_PATH


def enter() -> None:
    """Apply the envelope described in the environment (if any) to this process."""
    _batch_scheduling()
    raw = os.environ.pop(ENVELOPE_ENV, None)
    if not raw:
        return
    envelope = json.loads(raw)
    os.umask(0o022)  # the node's own is stricter; user code gets the usual one
    pid = str(os.getpid()).encode()
    for procs in envelope.get("cgroups", ()):
        fd = os.open(procs, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)
    if envelope.get("mounts"):
        _private_mounts(envelope)
    for name, limits in envelope.get("rlimits", {}).items():
        resource.setrlimit(getattr(resource, "RLIMIT_" + name), (limits[0], limits[1]))
    _close_inherited(envelope.get("fds_env", ""))
    uid = envelope.get("uid")
    if uid is not None:
        _libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        os.setgroups(envelope.get("groups", []))
        os.setgid(envelope.get("gid", uid))
        os.setuid(uid)


def _batch_scheduling() -> None:
    """SCHED_BATCH for the environment and all it starts: woken (by its next invocation, say),
    it does not preempt the node that woke it, which has more to hand out; it runs on a free
    core at once, or when the node's thread yields. Its CPU share is unchanged."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or refused: as it was
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc: ctypes.CDLL, source: str, target: str, fstype: str, flags: int, data: str) -> None:
    encoded = [x.encode() if x else None for x in (source, target, fstype, data)]
    if libc.mount(encoded[0], encoded[1], encoded[2], flags, encoded[3]) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source or fstype} on {target}: {os.strerror(errno)}")


def _needed_paths(envelope: dict) -> list[str]:  # type: ignore[type-arg]
    """What must stay reachable: the interpreter, sys.path, and what the node lists."""
    paths = [sys.base_prefix, sys.prefix, sys.exec_prefix, *sys.path, *envelope.get("keep", ())]
    real = {os.path.realpath(p) for p in paths if p and os.path.isabs(p) and os.path.exists(p)}
    return sorted(real)


def _hidden_ancestor(path: str) -> str | None:
    """The outermost ancestor of `path` other users cannot traverse (e.g. /root), or None."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None


def _private_mounts(envelope: dict) -> None:  # type: ignore[type-arg]
    """A private /tmp, unreachable directories hidden, needed paths bound back."""
    libc = _libc()
    cwd = os.getcwd()
    needed = _needed_paths(envelope)
    covers = {"/tmp": f"size={envelope.get('tmp_mb', 512)}m,mode=1777"}
    for path in needed:
        hidden = _hidden_ancestor(path)
        if hidden is not None and not any(_under(hidden, c) for c in covers):
            covers[hidden] = "size=1m,mode=755"
    hidden_paths = [p for p in needed if any(_under(p, c) and p != c for c in covers)]
    kept = [p for p in hidden_paths if not any(_under(p, k) and p != k for k in hidden_paths)]
    readonly = [os.path.realpath(p) for p in envelope.get("readonly", ()) if os.path.exists(p)]
    if libc.unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    _mount(libc, "", "/", "", _MS_REC | _MS_PRIVATE, "")
    opt = envelope.get("opt")
    if opt and os.path.isdir("/opt"):  # the function's merged layers, read-only, as on AWS
        _mount(libc, opt, "/opt", "", _MS_BIND | _MS_REC, "")
        _mount(libc, "", "/opt", "", _MS_BIND | _MS_REMOUNT | _MS_RDONLY, "")
    fds = {p: _clone_tree(libc, p) for p in kept}  # detached copies, attached again below
    for cover, options in sorted(covers.items()):
        _mount(libc, "tmpfs", cover, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
    for path in kept:  # shortest first: a parent's bind holds its children's mount points
        if not os.path.lexists(path):
            if stat.S_ISDIR(os.fstat(fds[path]).st_mode):
                os.makedirs(path, 0o755)
            else:
                os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        target = path.encode()
        if libc.syscall(_SYS_MOVE_MOUNT, fds[path], b"", _AT_FDCWD, target, _MOVE_EMPTY) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"move_mount {path}: {os.strerror(errno)}")
        os.close(fds[path])
    for path in readonly:
        _mount(libc, path, path, "", _MS_BIND | _MS_REC, "")
        _mount(libc, "", path, "", _MS_BIND | _MS_REMOUNT | _MS_RDONLY, "")
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")


def _clone_tree(libc: ctypes.CDLL, path: str) -> int:
    flags = _OPEN_TREE_CLONE | _AT_RECURSIVE | os.O_CLOEXEC
    fd = int(libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, path.encode(), flags))
    if fd < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"open_tree {path}: {os.strerror(errno)}")
    return fd


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _close_inherited(fds_env: str) -> None:
    """Close every descriptor but 0-2 and those named in the protocol's variable."""
    keep = {0, 1, 2}
    if fds_env and os.environ.get(fds_env):
        keep.update(int(fd) for fd in os.environ[fds_env].split(","))
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
