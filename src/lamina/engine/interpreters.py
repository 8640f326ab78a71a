"""Which CPython runs a `python3.X` runtime: found on this machine, or named by `--runtime`.

A runtime runs on exactly its CPython version, never on a substitute. The node's own
interpreter serves its own version. Other versions are looked for, in this order: a
`--runtime python3.12=/path` override; `python3.12` on PATH; pyenv's installs
(`$PYENV_ROOT/versions/*/bin`); uv's managed installs (`$UV_PYTHON_INSTALL_DIR`, else
`~/.local/share/uv/python`); /usr/local/bin and /usr/bin. A candidate counts only when running
it reports CPython of that version (a pyenv shim with no version selected does not), and the
binary it reports is the one used (so a working shim costs no shell per start).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lamina.errors import LaminaError

log = logging.getLogger("lamina.engine.interpreters")

#: How long a candidate interpreter may take to say what it is.
INTERPRETER_PROBE_TIMEOUT_S = 10.0
#: A runtime found missing is looked for again after this long (someone may install it).
MISSING_RECHECK_S = 10.0
#: Oldest CPython the runtime runs on (3.8 functions can exist, as on AWS, but not run here).
MIN_MINOR = 9
#: `python3.X` runtimes Lamina knows, oldest first; newer ones are found when installed.
KNOWN_PYTHON_RUNTIMES = tuple(f"python3.{minor}" for minor in range(MIN_MINOR, 15))
#: OS-only runtimes: a `bootstrap` executable speaking the Runtime API.
CUSTOM_RUNTIMES = ("provided.al2023", "provided.al2")
#: Where a system's own Pythons live, looked at last.
_SYSTEM_DIRS = ("/usr/local/bin", "/usr/bin")
PYTHON_RUNTIME_RE = re.compile(r"^python3\.(\d{1,2})$")
#: What a probe runs: implementation, version, and the binary really running.
_PROBE = (
    "import sys,platform;print(sys.implementation.name,platform.python_version(),sys.executable)"
)


@dataclass(frozen=True)
class Interpreter:
    """A CPython to run environments with; `native` when it is the node's own."""

    path: str
    version: str  #: "3.12.1"
    native: bool = False

    @property
    def minor(self) -> str:
        """ "3.12"."""
        return ".".join(self.version.split(".")[:2])

    @property
    def bin_dir(self) -> str:
        """The directory of the binary, first on a Python function's PATH (AWS's /var/lang/bin)."""
        return os.path.dirname(self.path)


def native_interpreter() -> Interpreter:
    return Interpreter(sys.executable, platform.python_version(), native=True)


def is_python(runtime: str) -> bool:
    return PYTHON_RUNTIME_RE.match(runtime) is not None


def parse_overrides(values: Iterable[str]) -> dict[str, str]:
    """`--runtime python3.12=/path/to/python` values as {runtime: path}.

    Raises:
        LaminaError: a value is not RUNTIME=PATH for a python3.X runtime.
    """
    found: dict[str, str] = {}
    for value in values:
        runtime, sep, path = value.partition("=")
        supported = is_python(runtime.strip()) and int(runtime.split(".")[1]) >= MIN_MINOR
        if not sep or not supported or not path.strip():
            raise LaminaError(
                f"--runtime {value!r}: expected python3.X=/path/to/python, X >= {MIN_MINOR}"
                " (e.g. python3.12=/usr/bin/python3.12)"
            )
        found[runtime.strip()] = os.path.expanduser(path.strip())
    return found


def probe(path: str, runtime: str) -> Interpreter | None:
    """The interpreter at `path` if it runs and reports CPython of `runtime`'s version."""
    try:
        done = subprocess.run(
            [path, "-S", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=INTERPRETER_PROBE_TIMEOUT_S,
            env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    parts = done.stdout.split(maxsplit=2)
    if done.returncode != 0 or len(parts) != 3 or parts[0] != "cpython":
        return None
    _, version, executable = parts
    if f"python{'.'.join(version.split('.')[:2])}" != runtime:
        return None
    executable = executable.strip()
    real = executable if executable and os.access(executable, os.X_OK) else path
    return Interpreter(real, version, native=os.path.realpath(real) == _native_real())


def _native_real() -> str:
    return os.path.realpath(sys.executable)


def candidates(runtime: str) -> list[str]:
    """Paths that may hold `runtime`'s CPython, most specific first (not yet probed)."""
    name = runtime  # "python3.12" is also the binary's name
    found: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    version = runtime.removeprefix("python")
    found += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}*", "bin", name)))[
        ::-1
    ]
    uv_root = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "uv", "python"
    )
    found += sorted(glob.glob(os.path.join(uv_root, f"cpython-{version}.*", "bin", name)))[::-1]
    found += [os.path.join(d, name) for d in _SYSTEM_DIRS]
    return [p for p in dict.fromkeys(found) if os.path.exists(p)]


def find(runtime: str, override: str | None = None) -> Interpreter | None:
    """The interpreter of a `python3.X` runtime on this machine, or None (blocking: probes)."""
    native = native_interpreter()
    if override is None and runtime == f"python{native.minor}":
        return native
    if int(runtime.split(".")[1]) < MIN_MINOR:
        return None
    for path in [override] if override is not None else candidates(runtime):
        found = probe(path, runtime)
        if found is not None:
            return found
    return None


def installed_runtimes() -> list[str]:
    """Every python3.X runtime worth listing: the known ones and any newer found installed."""
    names = set(KNOWN_PYTHON_RUNTIMES)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for path in glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3.*")):
        name = os.path.basename(path)
        if PYTHON_RUNTIME_RE.match(name) and int(name.split(".")[1]) >= MIN_MINOR:
            names.add(name)
    return sorted(names, key=lambda n: int(n.split(".")[1]))


def missing_message(runtime: str) -> str:
    """What an invoke of a runtime with no interpreter here says: what is missing, how to add it."""
    version = runtime.removeprefix("python")
    if int(version.split(".")[1]) < MIN_MINOR:
        return f"The runtime {runtime} is not supported: Lamina runs python3.{MIN_MINOR} and newer."
    return (
        f"The runtime {runtime} has no interpreter on this Lamina node: no CPython {version}"
        f" answered as {runtime} on PATH, in pyenv or in uv's Python installs. Install one"
        f" (for example `uv python install {version}` or `pyenv install {version}`) or start"
        f" the node with --runtime {runtime}=/path/to/{runtime}; `lamina runtimes` lists what"
        " this node can run."
    )


class Interpreters:
    """Finds the interpreter of each runtime once, and remembers it (a miss for a while)."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self.overrides = dict(overrides or {})
        self._found: dict[str, Interpreter] = {}
        self._missing: dict[str, float] = {}  # runtime -> when it was found missing
        self._locks: dict[str, asyncio.Lock] = {}

    async def check_overrides(self) -> None:
        """Probe every `--runtime` override now.

        Raises:
            LaminaError: one does not run, or is not CPython of its runtime's version.
        """
        for runtime, path in self.overrides.items():
            found = await asyncio.to_thread(probe, path, runtime)
            if found is None:
                raise LaminaError(
                    f"--runtime {runtime}={path}: that is not a working CPython"
                    f" {runtime.removeprefix('python')}"
                )
            self._found[runtime] = found

    async def resolve(self, runtime: str) -> Interpreter | None:
        """The interpreter of a `python3.X` runtime, or None when this node has none."""
        found = self._found.get(runtime)
        if found is not None:
            return found
        lock = self._locks.setdefault(runtime, asyncio.Lock())
        async with lock:
            found = self._found.get(runtime)
            missed = self._missing.get(runtime)
            if found is not None or (
                missed is not None and time.monotonic() - missed < MISSING_RECHECK_S
            ):
                return found
            found = await asyncio.to_thread(find, runtime, self.overrides.get(runtime))
            if found is None:
                self._missing[runtime] = time.monotonic()
                log.warning("runtime %s: no interpreter on this node", runtime)
                return None
            self._missing.pop(runtime, None)
            self._found[runtime] = found
            log.info("runtime %s runs on %s (%s)", runtime, found.path, found.version)
            return found
