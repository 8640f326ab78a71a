"""Starting environment processes: what an environment runs, its variables, fork or spawn.

`EnvironmentSpec` is one function version at one revision. `child_environment` gives the
process the variables AWS gives a function, pointed at this node. The `Launcher` (one per
node, owned by the node and handed to the pool) starts the process on the runtime's own
interpreter (`interpreters.py`; a custom runtime's Runtime API runs on the node's), with the
runtime directory (`runtime_dir.py`) after the code and layers on sys.path: forked from that
interpreter's pre-imported template when the function's variables do not change how Python
starts, else spawned. A template starts in the background on the first cold start of its
interpreter (the node's own at once, with `start`), again after it died, and stops with
`close`.
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
from lamina.control.layer_dirs import python_paths
from lamina.engine import logs, runtime_dir
from lamina.engine.forkserver import ForkServer
from lamina.engine.interpreters import (
    CUSTOM_RUNTIMES,
    Interpreter,
    Interpreters,
    is_python,
    missing_message,
    native_interpreter,
)
from lamina.engine.sandbox import Sandbox
from lamina.errors import InvalidRuntime
from lamina.runtime import protocol
from lamina.runtime.runtime_api import BOOTSTRAPS_ENV

log = logging.getLogger("lamina.engine.launcher")

#: The node key (auth/keys.py): boto3 inside a handler signs requests to this node with it.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": NODE_KEY.key_id,
    "AWS_SECRET_ACCESS_KEY": NODE_KEY.secret,
    "AWS_SESSION_TOKEN": "lamina-local-session-token",
}
#: Where AWS's X-Ray SDK sends segments (AWS: 169.254.79.129:2000); nothing listens on a node.
XRAY_DAEMON_ADDRESS = "127.0.0.1:2000"
#: AWS_LAMBDA_RUNTIME_API of a managed Python runtime's environment: set, as on AWS, but the
#: runtime is built into the process (port 0 refuses every connection at once).
NO_RUNTIME_API = "127.0.0.1:0"
#: `python -c` program of a spawned runtime: sys.path = the code and layer directories (from
#: SYS_PATH_ENV), then the interpreter's own (PYTHONPATH's runtime directory, the standard
#: library); then the runtime package named by argv[1] runs.
_SPAWN_BOOTSTRAP = (
    "import os,sys;p=os.environ.pop('" + protocol.SYS_PATH_ENV + "').split(os.pathsep);"
    "r=os.environ['LAMBDA_RUNTIME_DIR'];b=sys.path[1:];b+=[r] if r not in b else [];"
    "sys.path[:]=p+b;__import__(sys.argv[1]+'.__main__',fromlist=['main']).main()"
)
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
    #: A SnapStart version: its environments are restored from its version template.
    snap_start: bool = False


def child_environment(
    spec: EnvironmentSpec, log_stream: str, tmpdir: str, init_type: str
) -> dict[str, str]:
    """The process environment AWS gives a function, pointed at this node.

    Non-reserved defaults first, then the function's variables, then the reserved ones
    (which configuration cannot override). The launcher adds what depends on the interpreter
    and the runtime directory (`Launcher.launch`)."""
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    libraries = [os.environ.get("LD_LIBRARY_PATH", ""), str(spec.code_dir), f"{spec.code_dir}/lib"]
    if spec.opt_dir is not None:  # layers: /opt/bin and /opt/lib, as on AWS
        path += f":{spec.opt_dir}/bin"
        libraries.append(f"{spec.opt_dir}/lib")
    env = {
        "LANG": "en_US.UTF-8",
        "PATH": path,
        "LD_LIBRARY_PATH": ":".join(x for x in libraries if x),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": XRAY_DAEMON_ADDRESS,
        "_AWS_XRAY_DAEMON_ADDRESS": XRAY_DAEMON_ADDRESS.partition(":")[0],
        "_AWS_XRAY_DAEMON_PORT": XRAY_DAEMON_ADDRESS.partition(":")[2],
    }
    env.update(spec.variables)
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": logs.log_group_name(spec.function_name),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            # Custom runtimes get their environment's Runtime API here (runtime/runtime_api.py);
            # a managed Python runtime has it built in, so nothing listens at this address.
            "AWS_LAMBDA_RUNTIME_API": NO_RUNTIME_API,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "TZ": ":UTC",
            "TMPDIR": tmpdir,
            # boto3 reads ~/.aws; the node user's profile must not leak into functions.
            "HOME": tmpdir,
            "AWS_ENDPOINT_URL": spec.endpoint_url,
            **DUMMY_CREDENTIALS,
        }
    )
    if is_python(spec.runtime):  # OS-only runtimes have no AWS_EXECUTION_ENV on AWS
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{spec.runtime}"
    return env


def can_fork(variables: Mapping[str, str]) -> bool:
    """Whether a function with these variables may run in a forked environment."""
    return not any(
        key in STARTUP_VARIABLES or key.startswith(STARTUP_VARIABLE_PREFIXES) for key in variables
    )


class _Template:
    """The fork server of one interpreter: running, starting in the background, or neither."""

    def __init__(self) -> None:
        self.server: ForkServer | None = None
        self.starting: asyncio.Task[None] | None = None
        #: Its first fork succeeded: its bytecode is compiled (and was offered to the seed).
        self.served = False


class Launcher:
    """Starts the runtime process of an environment; owns a fork server per interpreter.

    Parameters:
        clock: the time source of every sandbox it starts.
        fork: whether environments may be forked from a template (else always spawned).
        runtime_root: where the runtime directory is made (`<data-dir>/runtime` on a node).
        overrides: {runtime: interpreter path} from `--runtime python3.12=/path`.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        fork: bool = True,
        runtime_root: Path | None = None,
        overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.fork = fork
        self.interpreters = Interpreters(overrides)
        self.native = native_interpreter()
        self._runtime_root = runtime_root or runtime_dir.default_root()
        self._runtime_dir: Path | None = None
        self._runtime_dir_lock = asyncio.Lock()
        self._templates: dict[str, _Template] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        #: Templates started again after one died (counted in /metrics).
        self.template_restarts = 0

    async def start(self) -> bool:
        """Make the runtime directory, check `--runtime` overrides, start the node's own
        interpreter's fork server and wait until it serves; True when it runs.

        The node calls it at startup so that even the first cold start forks.

        Raises:
            LaminaError: a `--runtime` override is not a working CPython of its version.
        """
        await self.runtime_dir()
        await self.interpreters.check_overrides()
        if not self.fork:
            return False
        template = self._template(self.native)
        if self._running_server(self.native) is None and template.starting is not None:
            await asyncio.shield(template.starting)
        return self._running_server(self.native) is not None

    async def runtime_dir(self) -> Path:
        """The runtime directory (LAMBDA_RUNTIME_DIR), made on first need."""
        if self._runtime_dir is None:
            async with self._runtime_dir_lock:
                if self._runtime_dir is None:
                    self._runtime_dir = await asyncio.to_thread(
                        runtime_dir.prepare, self._runtime_root
                    )
        return self._runtime_dir

    async def interpreter(self, runtime: str) -> Interpreter:
        """The interpreter an environment of `runtime` runs on (a custom runtime's Runtime API
        runs on the node's own).

        Raises:
            InvalidRuntime: this node has no interpreter for `runtime`.
        """
        if runtime in CUSTOM_RUNTIMES:
            return self.native
        found = await self.interpreters.resolve(runtime) if is_python(runtime) else None
        if found is None:
            raise InvalidRuntime(missing_message(runtime))
        return found

    async def launch(self, spec: EnvironmentSpec, env: dict[str, str]) -> Sandbox:
        """Start the runtime of `spec` with the variables `env`: forked (a few ms) when
        possible, else spawned (~50 ms).

        Raises:
            InvalidRuntime: this node has no interpreter for the function's runtime.
            OSError: the interpreter could not be started.
        """
        sentinel = os.urandom(16).hex().encode()
        interpreter = await self.interpreter(spec.runtime)
        runtime = await self.runtime_dir()
        sys_path = self._prepare_env(spec, env, interpreter, runtime)
        # A custom runtime's variables matter to its bootstrap, which is exec'd anyway.
        custom = spec.runtime in CUSTOM_RUNTIMES
        forkable = self.fork and (custom or can_fork(spec.variables))
        server = self._running_server(interpreter) if forkable else None
        if server is not None:
            env[protocol.SENTINEL_ENV] = sentinel.hex()
            try:
                child, pipes = await server.fork(env, spec.code_dir, sys_path)
            except OSError as exc:
                log.warning("fork failed (%s); spawning %s", exc, spec.function_name)
                del env[protocol.SENTINEL_ENV]
            else:
                self._served(interpreter, runtime)
                return await Sandbox.adopt(child, pipes, sentinel, spec.memory_mb, self.clock)
        env[protocol.SYS_PATH_ENV] = os.pathsep.join(sys_path)
        return await Sandbox.spawn(
            [interpreter.path, "-S", "-u", "-c", _SPAWN_BOOTSTRAP, runtime_dir.RUNTIME_PACKAGE],
            env=env,
            cwd=spec.code_dir,
            memory_limit_mb=spec.memory_mb,
            sentinel=sentinel,
            clock=self.clock,
        )

    async def snapshot(
        self, spec: EnvironmentSpec, env: dict[str, str], output_fd: int
    ) -> ForkServer:
        """Fork the version template of SnapStart version `spec` from its interpreter's
        template (started first if need be); its init runs next (`wait_snapshotted`).

        Raises:
            InvalidRuntime: this node has no interpreter for the function's runtime.
            OSError: no template of that interpreter runs, or the fork failed.
        """
        interpreter = await self.interpreter(spec.runtime)
        runtime = await self.runtime_dir()
        sys_path = self._prepare_env(spec, env, interpreter, runtime)
        server = self._running_server(interpreter) if self.fork else None
        starting = self._template(interpreter).starting
        if server is None and starting is not None:
            await asyncio.shield(starting)
            server = self._running_server(interpreter)
        if server is None:
            raise OSError("SnapStart needs the fork server, which is not running")
        return await server.snapshot(env, spec.code_dir, sys_path, output_fd)

    async def restore(
        self, template: ForkServer, spec: EnvironmentSpec, env: dict[str, str]
    ) -> Sandbox:
        """Fork an environment of SnapStart version `spec` from its version `template`; it
        runs its after-restore hooks once given the go (`Sandbox.go`).

        Raises:
            OSError: the version template failed or is gone.
        """
        sentinel = os.urandom(16).hex().encode()
        env[protocol.SENTINEL_ENV] = sentinel.hex()
        child, pipes = await template.fork(env, spec.code_dir, [])
        return await Sandbox.adopt(child, pipes, sentinel, spec.memory_mb, self.clock)

    def _prepare_env(
        self, spec: EnvironmentSpec, env: dict[str, str], interpreter: Interpreter, runtime: Path
    ) -> list[str]:
        """Add what depends on the interpreter and the runtime directory to `env`; the
        sys.path entries that go before the runtime's (code, then layers)."""
        env["LAMBDA_RUNTIME_DIR"] = str(runtime)
        if spec.runtime in CUSTOM_RUNTIMES:
            env[protocol.KIND_ENV] = "custom"
            opt = [spec.opt_dir / "bootstrap"] if spec.opt_dir is not None else []
            env[BOOTSTRAPS_ENV] = os.pathsep.join(map(str, [spec.code_dir / "bootstrap", *opt]))
            return [str(spec.code_dir)]
        env.setdefault("PYTHONPATH", str(runtime))  # AWS: PYTHONPATH=/var/runtime
        if "PATH" not in spec.variables:  # AWS: /var/lang/bin first
            env["PATH"] = f"{interpreter.bin_dir}:{env['PATH']}"
        # AWS: /opt/python/lib/pythonX.Y/site-packages, then /opt/python
        return [str(spec.code_dir), *python_paths(spec.opt_dir, f"python{interpreter.minor}")]

    def _served(self, interpreter: Interpreter, runtime: Path) -> None:
        """A template forked: what it compiled on its way up goes to the seed, once."""
        template = self._template(interpreter)
        if not template.served:
            template.served = True
            task = asyncio.create_task(asyncio.to_thread(runtime_dir.harvest, runtime))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def template_pids(self) -> set[int]:
        """Pids of the running templates (for tests that count environment processes)."""
        return {
            t.server.pid
            for t in self._templates.values()
            if t.server is not None and t.server.alive
        }

    def _template(self, interpreter: Interpreter) -> _Template:
        return self._templates.setdefault(interpreter.path, _Template())

    def _running_server(self, interpreter: Interpreter) -> ForkServer | None:
        """The running fork server of `interpreter`, or None (then one is started in the
        background: a template that died is started again on its next need)."""
        template = self._template(interpreter)
        server = template.server
        if server is not None and server.alive:
            return server
        if template.starting is None and not self._closed:
            template.starting = asyncio.create_task(
                self._start_server(interpreter, template), name="lamina-fork-server-start"
            )
        return None

    async def _start_server(self, interpreter: Interpreter, template: _Template) -> None:
        try:
            old, template.server = template.server, None
            if old is not None:
                self.template_restarts += 1
                await old.close()
            runtime = await self.runtime_dir()
            template.server = await ForkServer.start(
                interpreter, runtime, runtime_dir.RUNTIME_PACKAGE
            )
        except OSError as exc:
            log.warning(
                "fork server of %s could not start (%s); its environments are spawned",
                interpreter.path,
                exc,
            )
        finally:
            template.starting = None

    async def close(self) -> None:
        """Stop the fork servers; the node (or a test) calls it after closing the pool."""
        self._closed = True
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task
        for template in self._templates.values():
            starting = template.starting
            if starting is not None:
                with contextlib.suppress(Exception):
                    await starting
            server, template.server = template.server, None
            if server is not None:
                await server.close()
