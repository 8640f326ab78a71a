"""A SnapStart version's template: init once, before-snapshot hooks, then restore by fork.

The interpreter's template forks this process on a `Fork` of kind "snapshot", with two fds: a
socket to the node and a file for init's output. It becomes the function's process as a forked
environment does (session, cwd, variables with AWS_LAMBDA_INITIALIZATION_TYPE=snap-start,
envelope, sys.path), imports the handler (init), runs the before-snapshot hooks of
`snapshot_restore_py` in reverse registration order, answers `Snapshotted` and then serves fork
requests with the template's loop. Its memory at that moment is the version's "snapshot": each
child is an environment restored from it, which re-seeds `random`, runs the after-restore hooks
in registration order (after the node's go, once the node has put it in its own cgroup) and
then serves invokes without importing anything.

Standard library only, Python 3.9 syntax.
"""

from __future__ import annotations

import gc
import os
import random
import socket
import sys
import time
from typing import Any

from . import __main__ as runtime_main
from . import protocol, template
from .handler import Handler, InitError, error_document, load, user_stack_trace

#: errorType of a before-snapshot hook that raised (the version goes Failed).
BEFORE_SNAPSHOT_ERROR = "Runtime.BeforeSnapshotError"
#: errorType of an after-restore hook that raised (the caller gets SnapStartException).
AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"
#: The hooks module handlers import (this runtime's, or a copy the function bundles).
HOOKS_MODULE = "snapshot_restore_py"


def become_template(
    request: template.Fork,
    fds: list[int],
    template_fds: tuple[int, ...],
    base_path: list[str],
    preloaded: frozenset[str],
    shim_modules: frozenset[str],
) -> None:
    """Become the version's template: init, hooks, then serve restores; never returns."""
    code = 1
    try:
        sock_fd, output_w = fds
        template.detach(template_fds, output_w)
        template.take_on(request, str(sock_fd), base_path)  # the envelope, before init
        del os.environ[protocol.FDS_ENV]
        for name in shim_modules:
            sys.modules.pop(name, None)
        template.unload_if_bundled(request.sys_path, preloaded)
        sock = socket.socket(fileno=sock_fd)
        function = _init(sock)
        if function is not None:
            template.serve_forks(sock, lambda r, f, t: _restored(r, f, t, function))
            code = 0
    finally:
        os._exit(code)


def _init(sock: socket.socket) -> Handler | None:
    """Import the handler and run the before-snapshot hooks; tell the node how it went."""
    try:
        function = load(os.environ["_HANDLER"])
    except InitError as exc:
        _answer(sock, template.Snapshotted(exc.error_type, exc.payload.decode()))
        return None
    failure = run_hooks(reversed(hooks("get_before_snapshot")), BEFORE_SNAPSHOT_ERROR)
    if failure is not None:
        _answer(sock, template.Snapshotted(BEFORE_SNAPSHOT_ERROR, failure.decode()))
        return None
    _warn_threads()
    # What init made is never scanned by a restored environment's collector: its pages stay
    # shared with the template instead of being copied by the first full collection.
    gc.freeze()
    _answer(sock, template.Snapshotted())
    return function


def _warn_threads() -> None:
    """One log line when init left threads running: a restore is a fork, which copies only
    the forking thread (AWS restores them with the snapshot)."""
    threading = sys.modules.get("threading")
    count = threading.active_count() - 1 if threading is not None else 0
    if count > 0:
        sys.stdout.write(
            f"[WARNING] Lamina: init left {count} thread(s) running; they do not run in"
            " environments restored from this snapshot (start them in an after-restore hook).\n"
        )


def _answer(sock: socket.socket, message: template.Snapshotted) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    sock.send(template.encode(message))


def hooks(getter: str) -> list[Any]:
    """The registered hooks (`get_before_snapshot` / `get_after_restore`), if the function's
    code imported the hooks module at all."""
    module = sys.modules.get(HOOKS_MODULE)
    found = getattr(module, getter, None) if module is not None else None
    return list(found()) if found is not None else []


def run_hooks(registered: Any, error_type: str) -> bytes | None:
    """Call each (func, args, kwargs) in order; the error document of the first that raises."""
    for func, args, kwargs in registered:
        try:
            func(*args, **kwargs)
        except Exception as exc:
            trace = user_stack_trace(exc.__traceback__)
            return error_document(str(exc), error_type, trace)
    return None


def reseed() -> None:
    """What must differ between environments restored from one snapshot: `random`'s state."""
    random.seed()


def _restored(
    request: template.Fork, fds: list[int], template_fds: tuple[int, ...], function: Handler
) -> None:
    """Become one restored environment; never returns."""
    code = 1
    try:
        to_child_r, from_child_w, output_w = fds
        template.detach(template_fds, output_w)
        os.environ.clear()
        os.environ.update(request.env)
        os.environ[protocol.FDS_ENV] = f"{to_child_r},{from_child_w}"
        time.tzset()
        code = template.run(lambda: runtime_main.restore(function))
    finally:
        os._exit(code)
