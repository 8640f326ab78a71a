"""Which Python runs a function's environments, and how that child bootstraps the runtime.

A runtime such as "python3.12" runs on that interpreter when it is installed and can import
the runtime (it needs msgspec); otherwise on the node's own interpreter (`native`). A native
child starts with -S and receives the node's library paths ready-made, instead of re-reading
every .pth file on each cold start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import site
import sys
from dataclasses import dataclass
from pathlib import Path

from lamina.control.layer_dirs import python_paths
from lamina.runtime import protocol

log = logging.getLogger("lamina.engine.interpreters")

#: How long a candidate interpreter may take to prove it can run the runtime.
INTERPRETER_PROBE_TIMEOUT_S = 10.0

#: `python -c` program that puts the code root first on sys.path, the node's libraries
#: last, and starts the runtime.
_BOOTSTRAP = (
    "import os,sys;p=os.environ['" + protocol.SYS_PATH_ENV + "'].split(os.pathsep);"
    "sys.path[0]=p[0];sys.path.extend(x for x in p[1:] if x not in sys.path);"
    "from lamina.runtime.__main__ import main;main()"
)


@dataclass(frozen=True)
class Interpreter:
    """A Python to run environments with; `native` when it is the node's own."""

    path: str
    native: bool

    def argv(self) -> list[str]:
        flags = ["-S", "-u"] if self.native else ["-u"]
        return [self.path, *flags, "-c", _BOOTSTRAP]

    def sys_path(self, code_dir: Path, opt_dir: Path | None = None, runtime: str = "") -> str:
        """The child's sys.path: code root first, its layers, then the runtime and the node's
        libraries."""
        libraries = node_library_paths() if self.native else node_library_paths()[:1]
        layers = python_paths(opt_dir, runtime)
        return os.pathsep.join([str(code_dir), *layers, *libraries])


@functools.cache
def node_library_paths() -> tuple[str, ...]:
    """Where `lamina` lives, then the node's site-packages and what their .pth files add."""
    lamina_root = str(Path(protocol.__file__).resolve().parents[2])
    site_dirs = {*site.getsitepackages(), site.getusersitepackages()}
    first = next((i for i, p in enumerate(sys.path) if p in site_dirs), len(sys.path))
    paths = [lamina_root, *(p for p in sys.path[first:] if p)]
    return tuple(dict.fromkeys(paths))


class Interpreters:
    """Finds the interpreter of each runtime once, and remembers it."""

    def __init__(self) -> None:
        self._found: dict[str, Interpreter] = {}

    async def resolve(self, runtime: str) -> Interpreter:
        """The interpreter for `runtime` ("python3.12"): that Python if installed and able to
        run the runtime, else the node's own."""
        native = Interpreter(sys.executable, native=True)
        if runtime == f"python{sys.version_info.major}.{sys.version_info.minor}":
            return native
        if runtime not in self._found:
            path = shutil.which(runtime) if runtime.startswith("python") else None
            if path is not None and await _probe(path):
                self._found[runtime] = Interpreter(path, native=False)
            else:
                log.warning("runtime %s is not usable here; running it on %s", runtime, sys.version)
                self._found[runtime] = native
        return self._found[runtime]


async def _probe(path: str) -> bool:
    env = {**os.environ, "PYTHONPATH": node_library_paths()[0]}
    try:
        process = await asyncio.create_subprocess_exec(
            path,
            "-c",
            "import msgspec, lamina.runtime.protocol",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return False
    try:
        async with asyncio.timeout(INTERPRETER_PROBE_TIMEOUT_S):
            return await process.wait() == 0
    except TimeoutError:
        process.kill()
        await process.wait()
        return False
