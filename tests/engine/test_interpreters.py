"""Finding a runtime's CPython: overrides, PATH, pyenv and uv, and what counts as a match."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lamina.engine import interpreters
from lamina.engine.interpreters import find, missing_message, parse_overrides, probe
from lamina.errors import LaminaError


def _fake_python(path: Path, version: str, implementation: str = "cpython") -> Path:
    """An executable that answers the probe as a Python of `version` would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho {implementation} {version} "$0"\n')
    path.chmod(0o755)
    return path


def _shim(path: Path) -> Path:
    """A pyenv shim with no version selected: it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PATH, pyenv root and uv directory, all under tmp_path."""
    for name in ("bin", "pyenv", "uv"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv"))
    monkeypatch.setattr(interpreters, "_SYSTEM_DIRS", ())
    return tmp_path


def test_a_failing_shim_on_path_is_skipped_for_pyenvs_install(machine: Path) -> None:
    _shim(machine / "bin" / "python3.12")
    real = _fake_python(machine / "pyenv" / "versions" / "3.12.4" / "bin" / "python3.12", "3.12.4")
    found = find("python3.12")
    assert found is not None and found.path == str(real) and found.version == "3.12.4"


def test_the_newest_pyenv_patch_release_comes_before_uvs(machine: Path) -> None:
    _fake_python(machine / "pyenv" / "versions" / "3.13.0" / "bin" / "python3.13", "3.13.0")
    _fake_python(machine / "pyenv" / "versions" / "3.13.1" / "bin" / "python3.13", "3.13.1")
    _fake_python(machine / "uv" / "cpython-3.13.2-linux" / "bin" / "python3.13", "3.13.2")
    found = find("python3.13")
    assert found is not None and found.version == "3.13.1"


def test_uvs_install_is_found_when_nothing_else_is(machine: Path) -> None:
    _fake_python(
        machine / "uv" / "cpython-3.10.9-linux-x86_64-gnu" / "bin" / "python3.10", "3.10.9"
    )
    found = find("python3.10")
    assert found is not None and found.version == "3.10.9"


def test_only_cpython_of_the_runtimes_version_counts(machine: Path) -> None:
    _fake_python(machine / "bin" / "python3.12", "3.11.2")
    _fake_python(machine / "pyenv" / "versions" / "pypy" / "bin" / "python3.12", "3.12.1", "pypy")
    assert find("python3.12") is None
    assert probe(str(machine / "bin" / "python3.12"), "python3.11") is not None


def test_the_nodes_own_version_is_the_nodes_interpreter(machine: Path) -> None:
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = find(runtime)
    assert found is not None and found.native and found.path == sys.executable


def test_an_override_is_probed_not_trusted(machine: Path) -> None:
    other = _fake_python(machine / "elsewhere" / "py", "3.12.7")
    found = find("python3.12", str(other))
    assert found is not None and found.path == str(other)
    assert find("python3.13", str(other)) is None


def test_overrides_parse_and_refuse_what_is_not_runtime_equals_path() -> None:
    assert parse_overrides(["python3.12=/opt/py/bin/python3.12", " python3.13 = ~/py "]) == {
        "python3.12": "/opt/py/bin/python3.12",
        "python3.13": str(Path("~/py").expanduser()),
    }
    for bad in ("python3.12", "nodejs20.x=/usr/bin/node", "python3.12=", "python3.8=/x"):
        with pytest.raises(LaminaError, match="--runtime"):
            parse_overrides([bad])


def test_python38_is_never_run_and_says_so(machine: Path) -> None:
    _fake_python(machine / "bin" / "python3.8", "3.8.18")
    assert find("python3.8") is None
    assert "Lamina runs python3.9 and newer" in missing_message("python3.8")
    assert "--runtime python3.12=/path/to/python3.12" in missing_message("python3.12")
