"""Starting environment processes: what an environment runs, its variables, fork or spawn.

`EnvironmentSpec` is one function version at one revision. `child_environment` gives the
process the variables AWS gives a function, pointed at this node. The `Launcher` (one per
node, owned by the node and handed to the pool) starts the process: forked from its fork
server's pre-imported template when the runtime is the node's own Python and the function's
variables do not change how Python starts, else spawned. The fork server starts in the
background on the first cold start (or at once with `start`) and stops with `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lamina.auth.keys import NODE_KEY
from lamina.clock import Clock
from lamina.engine import logs
from lamina.engine.forkserver import ForkServer
from lamina.engine.interpreters import Interpreters
from lamina.engine.sandbox import Sandbox
from lamina.runtime import protocol

log = logging.getLogger("lamina.engine.launcher")

#: The node key (auth/keys.py): boto3 inside a handler signs requests to this node with it.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": NODE_KEY.key_id,
    "AWS_SECRET_ACCESS_KEY": NODE_KEY.secret,
    "AWS_SESSION_TOKEN": "lamina-local-session-token",
}
#: Variables that change how the interpreter or libc start: a function setting one spawns.
STARTUP_VARIABLE_PREFIXES = ("PYTHON", "LC_", "LD_", "MALLOC_", "GLIBC_", "OPENBLAS_")
STARTUP_VARIABLES = frozenset({"LANG", "LANGUAGE"})


@dataclass(frozen=True)
class EnvironmentSpec:
    """What an environment runs: one function version at one revision."""

    function_name: str
    function_arn: str
    version: str
    handler: str
    runtime: str
    code_dir: Path
    memory_mb: int
    timeout_s: int
    ephemeral_storage_mb: int
    variables: Mapping[str, str]
    region: str
    account_id: str
    endpoint_url: str
    revision: str
    #: The function's layers merged in layer order (AWS's /opt); None without layers.
    opt_dir: Path | None = None


def child_environment(
    spec: EnvironmentSpec, log_stream: str, tmpdir: str, init_type: str
) -> dict[str, str]:
    """The process environment AWS gives a function, pointed at this node.

    Non-reserved defaults first, then the function's variables, then the reserved ones
    (which configuration cannot override)."""
    env = {"LANG": "en_US.UTF-8", "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    if "LD_LIBRARY_PATH" in os.environ:
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    env.update(spec.variables)
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": logs.log_group_name(spec.function_name),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(protocol.__file__).parent),
            "TZ": ":UTC",
            "TMPDIR": tmpdir,
            # boto3 reads ~/.aws; the node user's profile must not leak into functions.
            "HOME": tmpdir,
            "AWS_ENDPOINT_URL": spec.endpoint_url,
            **DUMMY_CREDENTIALS,
        }
    )
    return env


def can_fork(variables: Mapping[str, str]) -> bool:
    """Whether a function with these variables may run in a forked environment."""
    return not any(
        key in STARTUP_VARIABLES or key.startswith(STARTUP_VARIABLE_PREFIXES) for key in variables
    )


class Launcher:
    """Starts the runtime process of an environment; owns the fork server.

    Parameters:
        clock: the time source of every sandbox it starts.
        fork: whether environments may be forked from the template (else always spawned).
    """

    def __init__(self, clock: Clock | None = None, *, fork: bool = True) -> None:
        self.clock = clock or Clock()
        self.fork = fork
        self.interpreters = Interpreters()
        self._server: ForkServer | None = None
        self._starting: asyncio.Task[None] | None = None
        self._closed = False
        #: Templates started again after one died (counted in /metrics).
        self.template_restarts = 0

    async def start(self) -> bool:
        """Start the fork server now and wait until it serves; True when it runs.

        The node calls it at startup so that even the first cold start forks."""
        if not self.fork:
            return False
        if self._running_server() is None and self._starting is not None:
            await asyncio.shield(self._starting)
        return self._running_server() is not None

    async def launch(self, spec: EnvironmentSpec, env: dict[str, str]) -> Sandbox:
        """Start the runtime of `spec` with the variables `env`: forked (a few ms) when
        possible, else spawned (~50 ms).

        Raises:
            OSError: the interpreter could not be started.
        """
        sentinel = os.urandom(16).hex().encode()
        interpreter = await self.interpreters.resolve(spec.runtime)
        sys_path = interpreter.sys_path(spec.code_dir)
        forkable = self.fork and interpreter.native and can_fork(spec.variables)
        server = self._running_server() if forkable else None
        if server is not None:
            env[protocol.SENTINEL_ENV] = sentinel.hex()
            try:
                child, pipes = await server.fork(env, spec.code_dir, sys_path)
            except OSError as exc:
                log.warning("fork failed (%s); spawning %s", exc, spec.function_name)
                del env[protocol.SENTINEL_ENV]
            else:
                return await Sandbox.adopt(child, pipes, sentinel, spec.memory_mb, self.clock)
        env[protocol.SYS_PATH_ENV] = sys_path
        return await Sandbox.spawn(
            interpreter.argv(),
            env=env,
            cwd=spec.code_dir,
            memory_limit_mb=spec.memory_mb,
            sentinel=sentinel,
            clock=self.clock,
        )

    def template_pids(self) -> set[int]:
        """Pid of the running template, if any (for tests that count environment processes)."""
        server = self._server
        return {server.pid} if server is not None and server.alive else set()

    def _running_server(self) -> ForkServer | None:
        """The running fork server, or None (then one is started in the background)."""
        server = self._server
        if server is not None and server.alive:
            return server
        if self._starting is None and not self._closed:
            self._starting = asyncio.create_task(
                self._start_server(), name="lamina-fork-server-start"
            )
        return None

    async def _start_server(self) -> None:
        try:
            old, self._server = self._server, None
            if old is not None:
                self.template_restarts += 1
                await old.close()
            self._server = await ForkServer.start()
        except OSError as exc:
            log.warning("fork server could not start (%s); environments are spawned", exc)
        finally:
            self._starting = None

    async def close(self) -> None:
        """Stop the fork server; the node (or a test) calls it after closing the pool."""
        self._closed = True
        starting = self._starting
        if starting is not None:
            with contextlib.suppress(Exception):
                await starting
        server, self._server = self._server, None
        if server is not None:
            await server.close()
