"""The runtime is standard library only and Python 3.9 syntax: every module of it imports on
every CPython found here (the oldest one, 3.9, catches newer syntax creeping in)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lamina.engine import runtime_dir
from lamina.engine.interpreters import KNOWN_PYTHON_RUNTIMES, find

MODULES = ("__main__", "protocol", "context", "handler", "template", "runtime_api", "envelope")


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_dir.prepare(tmp_path_factory.mktemp("runtime"))


@pytest.mark.parametrize("runtime", KNOWN_PYTHON_RUNTIMES)
def test_every_runtime_module_imports_on_the_interpreter(runtime: str, directory: Path) -> None:
    interpreter = find(runtime)
    if interpreter is None:
        pytest.skip(f"no {runtime} here")
    package = runtime_dir.RUNTIME_PACKAGE
    imports = ";".join(f"import {package}.{module}" for module in MODULES)
    done = subprocess.run(
        [
            interpreter.path,
            "-S",
            "-c",
            f"import sys;sys.path.insert(0,{str(directory)!r});{imports}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
