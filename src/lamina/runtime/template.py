"""The fork-server template: a process with the runtime pre-imported that forks environments.

Started by `lamina.engine.forkserver` as `python -S -u -c …` on one interpreter (a template
per interpreter), with the runtime directory (LAMBDA_RUNTIME_DIR) on its PYTHONPATH and one end
of a SOCK_SEQPACKET socket pair as an fd (number in argv). Before serving, the template imports
what AWS's Python runtime ships (boto3, botocore) from the runtime directory when that works on
this interpreter, so a handler's `import boto3` costs a forked environment nothing; a function
whose code (or layers) bundle their own copy of one of them gets them unloaded again in its
child, so its copy wins as on AWS. Each request is a JSON `Fork` plus three fds (frames in,
frames out, output); the template forks, replies `Forked(token, pid)`, and reports
`Exited(pid, returncode)` when it reaps a child. The child becomes what a spawned runtime would
be: own session, fds 0/1/2, cwd, environment, sys.path, then `main()`. The template exits when
the node's end of the socket closes. A `Fork` of kind "snapshot" makes a SnapStart version's
template instead (`snapshot.py`): it runs the function's init once and then answers fork
requests with this module's loop (`serve_forks`), its children restored from it.

Standard library only, Python 3.9 syntax.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import sys
import time
from typing import Callable, NamedTuple, Union

from . import __main__ as runtime_main
from . import envelope, protocol

#: Largest request message (environment variables are at most 4 KB on AWS).
MAX_MESSAGE_BYTES = 1 << 20
#: What AWS's Python runtimes ship besides the standard library, imported by the template.
PRELOADED = ("boto3", "botocore")


class Fork(NamedTuple):
    """Start one environment: `env` replaces os.environ; `sys_path` goes before the runtime's
    own entries (the code directory first, then the layers' directories)."""

    token: int
    env: dict[str, str]
    cwd: str
    sys_path: list[str]
    #: "environment"; "snapshot" (a version template: fds are its socket and its output).
    kind: str = "environment"


class Forked(NamedTuple):
    """The answer to `Fork`: the child's pid, or 0 and the error text."""

    token: int
    pid: int
    error: str = ""


class Exited(NamedTuple):
    """A forked child was reaped; `returncode` as subprocess spells it (-9 for SIGKILL)."""

    pid: int
    returncode: int


class Snapshotted(NamedTuple):
    """A version template's init is over: `error_type` empty when it serves forks now, else
    the errorType and error document of its failed init or before-snapshot hook."""

    error_type: str = ""
    payload: str = ""


FromTemplate = Union[Forked, Exited, Snapshotted]
#: What the serving loop does in a forked child, given the request, its fds and the
#: template's own fds (to close); never returns.
ChildMain = Callable[[Fork, "list[int]", "tuple[int, ...]"], None]


def encode(message: Fork | Forked | Exited | Snapshotted) -> bytes:
    """One socket message: a JSON array, the message's kind first."""
    return json.dumps([type(message).__name__, *message], separators=(",", ":")).encode()


def decode_fork(data: bytes) -> Fork:
    kind, *fields = json.loads(data)
    if kind != "Fork":
        raise ValueError(f"not a fork request: {kind!r}")
    return Fork(*fields)


def decode_from_template(data: bytes) -> FromTemplate:
    kind, *fields = json.loads(data)
    if kind == "Snapshotted":
        return Snapshotted(*fields)
    return Forked(*fields) if kind == "Forked" else Exited(*fields)


def serve(sock_fd: int, base_path: list[str]) -> None:
    """Answer fork requests until the node closes its end of the socket.

    `base_path` is sys.path as the interpreter set it up without its script directory (the
    runtime directory from PYTHONPATH, then the standard library), so a child's sys.path comes
    out exactly as a spawned runtime's does.
    """
    preloaded = preload()
    shim_modules = preload_runtime_api()

    def child(request: Fork, fds: list[int], template_fds: tuple[int, ...]) -> None:
        if request.kind == "snapshot":
            from . import snapshot

            snapshot.become_template(request, fds, template_fds, base_path, preloaded, shim_modules)
        _child(request, fds, template_fds, base_path, preloaded, shim_modules)

    serve_forks(socket.socket(fileno=sock_fd), child)


def serve_forks(sock: socket.socket, child: ChildMain) -> None:
    """The serving loop: fork on each request (the child runs `child`), report reaped
    children, return when the node closes its end of `sock`."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                while len(os.read(wake_r, 4096)) == 4096:
                    pass
        if sock.fileno() in ready:
            message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE_BYTES, 3)
            if not message:
                return
            request = decode_fork(message)
            try:
                pid = os.fork()
            except OSError as exc:
                sock.send(encode(Forked(request.token, 0, str(exc))))
            else:
                if pid == 0:
                    try:
                        child(request, fds, (sock.fileno(), wake_r, wake_w))
                    finally:
                        os._exit(1)
                sock.send(encode(Forked(request.token, pid)))
            finally:
                for fd in fds:
                    os.close(fd)
        _reap(sock)


def preload() -> frozenset[str]:
    """Import PRELOADED from the runtime directory (when they import on this interpreter, else
    nothing); the top-level names of the modules they brought in from there."""
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "")
    if not runtime_dir:
        return frozenset()
    before = set(sys.modules)
    try:
        for name in PRELOADED:
            __import__(name)
    except Exception:  # not on this interpreter (say, urllib3 2.x on 3.9): leave no debris
        for name in set(sys.modules) - before:
            del sys.modules[name]
        return frozenset()
    prefix = os.path.join(runtime_dir, "")
    return frozenset(
        name.partition(".")[0]
        for name, module in list(sys.modules.items())
        if (getattr(module, "__file__", None) or "").startswith(prefix)
        and not name.startswith(__package__ or "-")
    )


def preload_runtime_api() -> frozenset[str]:
    """Import the custom runtimes' Runtime API (http.server and what it needs); the names of
    the modules that brought, which a Python environment forgets again (a handler's own `html`
    or `mimetypes` must not be shadowed by modules its runtime never needed)."""
    before = set(sys.modules)
    from . import runtime_api  # noqa: F401

    return frozenset(set(sys.modules) - before)


def unload_if_bundled(dirs: list[str], preloaded: frozenset[str]) -> None:
    """Forget the preloaded modules when the function's code or layers (`dirs`) have their own
    copy of any of them (a directory or module of the same name), so imports find that copy."""
    bundled = any(
        os.path.exists(os.path.join(directory, name))
        or os.path.exists(os.path.join(directory, name + ".py"))
        for directory in dirs
        for name in preloaded
    )
    if bundled:
        for module in [m for m in sys.modules if m.partition(".")[0] in preloaded]:
            del sys.modules[module]


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.send(encode(Exited(pid, os.waitstatus_to_exitcode(status))))


def _child(
    request: Fork,
    fds: list[int],
    template_fds: tuple[int, ...],
    base_path: list[str],
    preloaded: frozenset[str],
    shim_modules: frozenset[str],
) -> None:
    """Become the environment process; never returns."""
    code = 1
    try:
        to_child_r, from_child_w, output_w = fds
        detach(template_fds, output_w)
        take_on(request, f"{to_child_r},{from_child_w}", base_path)
        if request.env.get(protocol.KIND_ENV) != "custom":
            for name in shim_modules:
                sys.modules.pop(name, None)
        unload_if_bundled(request.sys_path, preloaded)
        code = _run()
    finally:
        os._exit(code)


def take_on(request: Fork, fds: str, base_path: list[str]) -> None:
    """A forked child becomes what `request` describes: its cwd and environment, its
    envelope entered (cgroups, mounts, limits, fds but `fds`, then the function's user;
    `fds` stays in FDS_ENV for the runtime), argv and sys.path as a spawned runtime's."""
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    os.environ[protocol.FDS_ENV] = fds
    envelope.enter()
    time.tzset()
    sys.argv[1:] = []
    sys.path[:] = [*request.sys_path, *base_path]


def detach(template_fds: tuple[int, ...], output_w: int) -> None:
    """A forked child leaves its template: default signals, the template's fds closed, a
    session of its own, stdin from /dev/null and stdout/stderr to `output_w`."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in template_fds:
        os.close(fd)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(output_w, 1)
    os.dup2(output_w, 2)
    for fd in (devnull, output_w):
        os.close(fd)


def run(main: Callable[[], None]) -> int:
    """Run `main` as the environment's program; its exit code (atexit handlers run)."""
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream must not change the exit code
            stream.flush()
    return code


def _run() -> int:
    return run(runtime_main.main)
