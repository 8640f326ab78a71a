"""Environments forked from the pre-imported template, and when they are spawned instead."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest
import uvloop
from envtools import call, child_processes, make_spec

from lamina.engine.interpreters import find
from lamina.engine.launcher import Launcher, can_fork
from lamina.engine.pool import Pool


def _parent_of_first_environment(**changes: object) -> tuple[int, set[int], dict[str, object]]:
    async def main() -> tuple[int, set[int], dict[str, object]]:
        launcher = Launcher()
        pool = Pool(launcher)
        try:
            assert await launcher.start()
            result = await call(pool, make_spec("basic", **changes))
            pid = json.loads(result.payload)["pid"]
            return (
                psutil.Process(pid).ppid(),
                launcher.template_pids(),
                json.loads(result.payload),
            )
        finally:
            await pool.close()
            await launcher.close()

    return uvloop.run(main())


def test_environment_is_forked_from_the_template_once_it_runs():
    parent, templates, payload = _parent_of_first_environment()
    assert parent in templates
    assert payload["calls"] == 1
    assert not child_processes()


def test_variables_that_change_interpreter_startup_make_the_environment_spawn():
    assert not can_fork({"PYTHONHASHSEED": "0"})
    assert not can_fork({"LANG": "C"})
    assert can_fork({"TABLE": "t", "LOG_LEVEL": "debug"})
    parent, templates, _ = _parent_of_first_environment(variables={"PYTHONHASHSEED": "0"})
    assert parent not in templates
    assert not child_processes()


def _first_payload(code_dir: object) -> dict[str, object]:
    async def main() -> dict[str, object]:
        launcher = Launcher()
        pool = Pool(launcher)
        try:
            assert await launcher.start()
            result = await call(pool, make_spec(code_dir))  # type: ignore[arg-type]
            return dict(json.loads(result.payload))
        finally:
            await pool.close()
            await launcher.close()

    return uvloop.run(main())


PRELOAD_PROBE = (
    "import sys\n"
    "HAD = 'boto3' in sys.modules and 'botocore' in sys.modules\n"
    "import boto3\n\n"
    "def handler(event, context):\n"
    "    return {'had': HAD, 'bundled': getattr(boto3, 'BUNDLED', False), 'pid': 0}\n"
)


def test_a_forked_environment_finds_boto3_already_imported(tmp_path):
    (tmp_path / "app.py").write_text(PRELOAD_PROBE)
    assert _first_payload(tmp_path) == {"had": True, "bundled": False, "pid": 0}


def test_a_function_that_bundles_boto3_imports_its_own_copy(tmp_path):
    (tmp_path / "app.py").write_text(PRELOAD_PROBE)
    (tmp_path / "boto3").mkdir()
    (tmp_path / "boto3" / "__init__.py").write_text("BUNDLED = True\n")
    assert _first_payload(tmp_path) == {"had": False, "bundled": True, "pid": 0}


def test_each_interpreter_gets_its_own_template_started_again_after_it_dies(
    tmp_path: Path,
) -> None:
    runtime = "python3.12" if sys.version_info[:2] != (3, 12) else "python3.13"
    interpreter = find(runtime)
    if interpreter is None:
        pytest.skip(f"no {runtime} here")
    (tmp_path / "app.py").write_text(
        "import os\n\ndef handler(event, context):\n    return {'pid': os.getpid()}\n"
    )

    async def parent_of_new_environment(pool: Pool, revision: str) -> int:
        spec = make_spec(tmp_path, runtime=runtime, revision=revision)
        result = await call(pool, spec)
        return int(psutil.Process(json.loads(result.payload)["pid"]).ppid())

    async def other_template(launcher: Launcher, native: set[int]) -> int:
        for _ in range(600):  # a template imports boto3 first: allow it 30 s
            others = launcher.template_pids() - native
            if others:
                return others.pop()
            await asyncio.sleep(0.05)
        raise AssertionError("the second template never came up")

    executables: list[str] = []

    async def main() -> None:
        launcher = Launcher()
        pool = Pool(launcher)
        try:
            assert await launcher.start()
            native = launcher.template_pids()
            first = await parent_of_new_environment(pool, "r1")  # spawned: template starting
            template = await other_template(launcher, native)
            assert first not in native | {template}
            executables.append(psutil.Process(template).exe())
            assert await parent_of_new_environment(pool, "r2") == template
            os.kill(template, signal.SIGKILL)
            for _ in range(200):
                if template not in launcher.template_pids():
                    break
                await asyncio.sleep(0.05)
            await parent_of_new_environment(pool, "r3")  # spawned; a new template starts
            again = await other_template(launcher, native)
            assert again != template
            assert await parent_of_new_environment(pool, "r4") == again
        finally:
            await pool.close()
            await launcher.close()

    uvloop.run(main())
    assert Path(executables[0]).samefile(interpreter.path)
    assert not child_processes()


def test_a_function_module_named_like_what_the_runtime_api_imports_is_the_functions(
    tmp_path: Path,
) -> None:
    (tmp_path / "socketserver.py").write_text("MINE = True\n")
    (tmp_path / "app.py").write_text(
        "import socketserver\n\ndef handler(event, context):\n"
        "    return {'mine': getattr(socketserver, 'MINE', False), 'pid': 0}\n"
    )
    assert _first_payload(tmp_path) == {"mine": True, "pid": 0}


def test_snapstart_environments_are_forked_from_their_version_template():
    """A SnapStart spec's environment is a child of the version's template, itself a child of
    the interpreter's template; init ran once there (its output is not the environment's)."""

    async def main() -> tuple[int, int, set[int], str]:
        launcher = Launcher()
        pool = Pool(launcher)
        try:
            assert await launcher.start()
            spec = make_spec("basic", version="1", snap_start=True)
            result = await call(pool, spec)
            pid = json.loads(result.payload)["pid"]
            version_template = psutil.Process(pid).ppid()
            parent = psutil.Process(version_template).ppid()
            await pool.retire(spec.function_name)  # environments go, the template stays
            again = json.loads((await call(pool, spec)).payload)
            assert again["pid"] != pid and again["calls"] == 1
            return version_template, parent, launcher.template_pids(), result.log_text
        finally:
            await pool.close()
            await launcher.close()

    version_template, parent, templates, log_text = uvloop.run(main())
    assert parent in templates and version_template not in templates
    assert "init output from basic" not in log_text
    assert "\tRestore Duration: " in log_text and "Init Duration" not in log_text
    assert not child_processes()
