"""Environments forked from the pre-imported template, and when they are spawned instead."""

from __future__ import annotations

import json

import psutil
import uvloop
from envtools import call, child_processes, make_spec

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
