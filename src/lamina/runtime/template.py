"""The fork-server template: a process with the runtime pre-imported that forks environments.

Started by `lamina.engine.forkserver` as `python -S -u -c …` with one end of a SOCK_SEQPACKET
socket pair as fd 3 (number in argv). Before serving, the template imports what AWS's Python
runtime ships (boto3, botocore) when the node can import them, so a handler's `import boto3`
costs a forked environment nothing; a function whose code bundles its own copy of one of them
gets them unloaded again in its child, so its copy wins as on AWS. Each request is a msgpack
`Fork` plus three fds (frames in, frames out, output); the template forks, replies
`Forked(token, pid)`, and reports `Exited(pid, returncode)` when it reaps a child. The child
becomes what a spawned `python -m lamina.runtime` would be: own session, fds 0/1/2, cwd,
environment, sys.path, then `main()`. The template exits when the node's end of the socket
closes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import socket
import sys
import time

import msgspec

from lamina.runtime import __main__ as runtime_main
from lamina.runtime import envelope, protocol

#: Largest request message (environment variables are at most 4 KB on AWS).
MAX_MESSAGE_BYTES = 1 << 20
#: What AWS's Python runtimes ship besides the standard library, imported by the template.
PRELOADED = ("boto3", "botocore")


class Fork(msgspec.Struct, frozen=True, tag="fork"):
    """Start one environment: `env` replaces os.environ, `sys_path` as the bootstrap's."""

    token: int
    env: dict[str, str]
    cwd: str
    sys_path: list[str]


class Forked(msgspec.Struct, frozen=True, tag="forked"):
    """The answer to `Fork`: the child's pid, or 0 and the error text."""

    token: int
    pid: int
    error: str = ""


class Exited(msgspec.Struct, frozen=True, tag="exited"):
    """A forked child was reaped; `returncode` as subprocess spells it (-9 for SIGKILL)."""

    pid: int
    returncode: int


FromTemplate = Forked | Exited
encoder = msgspec.msgpack.Encoder()
fork_decoder: msgspec.msgpack.Decoder[Fork] = msgspec.msgpack.Decoder(Fork)
template_decoder: msgspec.msgpack.Decoder[Forked | Exited] = msgspec.msgpack.Decoder(FromTemplate)


def serve(sock_fd: int, base_path: list[str]) -> None:
    """Answer fork requests until the node closes its end of the socket.

    `base_path` is sys.path as the interpreter set it up (before the libraries were added),
    so a child's sys.path comes out exactly as a spawned runtime's does.
    """
    preloaded = preload()
    sock = socket.socket(fileno=sock_fd)
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
            request = fork_decoder.decode(message)
            try:
                pid = os.fork()
            except OSError as exc:
                sock.send(encoder.encode(Forked(request.token, 0, str(exc))))
            else:
                if pid == 0:
                    template_fds = (sock.fileno(), wake_r, wake_w)
                    _child(request, fds, template_fds, base_path, preloaded)
                sock.send(encoder.encode(Forked(request.token, pid)))
            finally:
                for fd in fds:
                    os.close(fd)
        _reap(sock)


def preload() -> frozenset[str]:
    """Import PRELOADED (those the node has); the top-level names of the modules outside the
    standard library that they brought into sys.modules."""
    before = set(sys.modules)
    for name in PRELOADED:
        with contextlib.suppress(Exception):
            __import__(name)
    tops = {m.partition(".")[0] for m in set(sys.modules) - before}
    return frozenset(m for m in tops - sys.stdlib_module_names if not m.startswith("_"))


def unload_if_bundled(code_dir: str, preloaded: frozenset[str]) -> None:
    """Forget the preloaded modules when the function's code has its own copy of any of them
    (a directory or module of the same name), so its imports find the code's copy."""
    bundled = any(
        os.path.exists(os.path.join(code_dir, name))
        or os.path.exists(os.path.join(code_dir, name + ".py"))
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
        sock.send(encoder.encode(Exited(pid, os.waitstatus_to_exitcode(status))))


def _child(
    request: Fork,
    fds: list[int],
    template_fds: tuple[int, ...],
    base_path: list[str],
    preloaded: frozenset[str],
) -> None:
    """Become the environment process; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in template_fds:
            os.close(fd)
        os.setsid()
        to_child_r, from_child_w, output_w = fds
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output_w, 1)
        os.dup2(output_w, 2)
        for fd in (devnull, output_w):
            os.close(fd)
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.env)
        os.environ[protocol.FDS_ENV] = f"{to_child_r},{from_child_w}"
        envelope.enter()  # cgroups, mounts, limits, fds, then the function's user
        time.tzset()
        sys.argv[1:] = []
        sys.path[:] = [request.sys_path[0], *base_path]
        sys.path.extend(p for p in request.sys_path[1:] if p not in sys.path)
        unload_if_bundled(request.cwd, preloaded)
        code = _run()
    finally:
        os._exit(code)


def _run() -> int:
    code = 0
    try:
        runtime_main.main()
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
