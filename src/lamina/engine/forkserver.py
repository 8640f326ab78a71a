"""Fork server: one pre-imported template process per interpreter that forks environments.

A spawned runtime spends most of its cold start starting Python and importing the runtime
(and boto3, when the handler does); a fork of a template that did so once takes a few ms. The
template (`lamina.runtime.template`, run from the node's runtime directory) is a child of the
node; its children are the environments, in their own sessions as spawned ones are, so a
SIGKILL of the process group works the same. Exit statuses travel back over the socket, since
only the template can reap them.

The launcher (`engine/launcher.py`) owns the `ForkServer`s of a node, one per interpreter, and
decides when to fork rather than spawn. A SnapStart version's template (`snapshot`) is a
`ForkServer` too, over a child of an interpreter's template (`engine/version_templates.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from lamina.engine.interpreters import Interpreter
from lamina.engine.pipes import Pipes
from lamina.engine.process_groups import kill_group
from lamina.runtime.template import (
    Exited,
    Fork,
    Forked,
    Snapshotted,
    decode_from_template,
    encode,
)

log = logging.getLogger("lamina.engine.forkserver")

#: How long a fork request may take before the caller spawns instead.
FORK_TIMEOUT_S = 5.0
#: Largest message from the template.
MAX_REPLY_BYTES = 65536

#: `python -c` program of the template (the runtime directory is on its PYTHONPATH): serve
#: on fd argv[2], children's sys.path ending as this one does after its script directory.
_TEMPLATE_BOOTSTRAP = (
    "import sys;del sys.path[0];"
    "__import__(sys.argv[1]+'.template',fromlist=['serve']).serve(int(sys.argv[2]),sys.path[:])"
)


class ForkedChild:
    """An environment process forked by the template; `wait()` as asyncio's Process."""

    def __init__(self, pid: int, loop: asyncio.AbstractEventLoop) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = loop.create_future()

    def _set_exited(self, returncode: int) -> None:
        if self.returncode is None:
            self.returncode = returncode
            self._exited.set_result(None)

    async def wait(self) -> int:
        await asyncio.shield(self._exited)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        kill_group(self.pid)


class _TemplateProcess(Protocol):
    """A template's process: an interpreter's (a subprocess) or a version's (a forked child)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def kill(self) -> None: ...

    async def wait(self) -> int: ...


class ForkServer:
    """The node's end of one template process."""

    def __init__(self, process: _TemplateProcess, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._process = process
        self._sock = sock
        self._tokens = itertools.count(1)
        self._pending: dict[int, asyncio.Future[ForkedChild]] = {}
        self._children: dict[int, ForkedChild] = {}
        #: A version template's answer once its init is over (`wait_snapshotted`).
        self._snapshotted: asyncio.Future[Snapshotted] = self._loop.create_future()
        self.alive = True
        #: What the log says when the template dies unexpectedly.
        self.lost_message = "fork server exited; environments are spawned until it restarts"
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._on_message)

    @classmethod
    async def start(cls, interpreter: Interpreter, runtime_dir: Path, package: str) -> ForkServer:
        """Start a template on `interpreter`, its runtime `package` in `runtime_dir`.

        Raises:
            OSError: the template could not be started.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LD_LIBRARY_PATH")}
        env.update(
            LANG="en_US.UTF-8",
            TZ=":UTC",
            PYTHONPATH=str(runtime_dir),
            LAMBDA_RUNTIME_DIR=str(runtime_dir),
        )
        try:
            process = await asyncio.create_subprocess_exec(
                interpreter.path,
                "-S",
                "-u",
                "-c",
                _TEMPLATE_BOOTSTRAP,
                package,
                str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                env=env,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(process, ours)

    async def fork(
        self, env: Mapping[str, str], cwd: Path, sys_path: Sequence[str]
    ) -> tuple[ForkedChild, Pipes]:
        """Fork one environment process; its ends of the returned pipes are closed here.

        Raises:
            OSError: the template failed or is gone (the caller spawns instead).
        """
        if not self.alive:
            raise OSError("the fork server is not running")
        token = next(self._tokens)
        request = Fork(token, dict(env), str(cwd), list(sys_path))
        pipes = Pipes.open()
        waiter: asyncio.Future[ForkedChild] = self._loop.create_future()
        self._pending[token] = waiter
        try:
            socket.send_fds(
                self._sock,
                [encode(request)],
                [pipes.child_read, pipes.child_write, pipes.child_output],
            )
            child = await asyncio.wait_for(waiter, FORK_TIMEOUT_S)
        except BaseException as exc:
            pipes.close_parent_ends()
            self._pending.pop(token, None)
            if isinstance(exc, ConnectionError):  # the template is gone (its end closed)
                self._lost()
            if isinstance(exc, (TimeoutError, BlockingIOError)):
                raise OSError(f"fork request failed: {exc!r}") from exc
            raise
        finally:
            pipes.close_child_ends()
        return child, pipes

    def _on_message(self) -> None:
        while True:
            try:
                data = self._sock.recv(MAX_REPLY_BYTES)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            message = decode_from_template(data)
            if isinstance(message, Forked):
                self._forked(message)
            elif isinstance(message, Snapshotted):
                if not self._snapshotted.done():
                    self._snapshotted.set_result(message)
            elif isinstance(message, Exited):
                child = self._children.pop(message.pid, None)
                if child is not None:
                    child._set_exited(message.returncode)

    async def snapshot(
        self, env: Mapping[str, str], cwd: Path, sys_path: Sequence[str], output_fd: int
    ) -> ForkServer:
        """Fork a SnapStart version's template (init runs in it next: `wait_snapshotted`);
        its stdout and stderr go to `output_fd`.

        Raises:
            OSError: the template failed or is gone.
        """
        if not self.alive:
            raise OSError("the fork server is not running")
        token = next(self._tokens)
        request = Fork(token, dict(env), str(cwd), list(sys_path), "snapshot")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        waiter: asyncio.Future[ForkedChild] = self._loop.create_future()
        self._pending[token] = waiter
        try:
            socket.send_fds(self._sock, [encode(request)], [theirs.fileno(), output_fd])
            child = await asyncio.wait_for(waiter, FORK_TIMEOUT_S)
        except BaseException as exc:
            ours.close()
            self._pending.pop(token, None)
            if isinstance(exc, ConnectionError):
                self._lost()
            if isinstance(exc, (TimeoutError, BlockingIOError)):
                raise OSError(f"fork request failed: {exc!r}") from exc
            raise
        finally:
            theirs.close()
        return ForkServer(child, ours)

    async def wait_snapshotted(self, timeout_s: float) -> Snapshotted:
        """A version template's answer once its init and before-snapshot hooks are over.

        Raises:
            TimeoutError: no answer within `timeout_s`.
            OSError: the template exited first.
        """
        return await asyncio.wait_for(asyncio.shield(self._snapshotted), timeout_s)

    def _forked(self, message: Forked) -> None:
        waiter = self._pending.pop(message.token, None)
        if message.pid == 0:
            if waiter is not None and not waiter.done():
                waiter.set_exception(OSError(message.error))
            return
        child = ForkedChild(message.pid, self._loop)
        self._children[message.pid] = child
        if waiter is None or waiter.done():  # the caller gave up: nobody owns this child
            kill_group(child.pid)
        else:
            waiter.set_result(child)

    @property
    def pid(self) -> int:
        return self._process.pid

    def _lost(self, *, expected: bool = False) -> None:
        """The template is gone: its children can no longer be reaped by us; kill them."""
        if not self.alive:
            return
        self.alive = False
        if not expected:
            log.warning("%s", self.lost_message)
        self._loop.remove_reader(self._sock.fileno())
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(OSError("the fork server exited"))
        if not self._snapshotted.done():
            self._snapshotted.set_exception(OSError("the template exited during init"))
            self._snapshotted.exception()  # retrieved: nobody may be waiting
        self._pending.clear()
        for child in self._children.values():
            kill_group(child.pid)
            child._set_exited(-signal.SIGKILL)
        self._children.clear()

    async def close(self) -> None:
        """Stop the template (its environments are the pool's to close first)."""
        if self.alive:
            self._lost(expected=True)
        self._sock.close()
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        await self._process.wait()
