"""The envelope's pieces that need no node: function users, code groups, the data directory's
modes, and a child entering an envelope of limits and descriptors only."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.engine import envelope as envelopes
from lamina.engine.envelope import (
    GID_BASE,
    ID_SPAN,
    UID_BASE,
    Envelope,
    Envelopes,
    grant,
    harden_data_dir,
)
from lamina.runtime.envelope import ENVELOPE_ENV

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's group needs root")


def test_each_function_has_a_stable_uid_of_its_own_in_the_range() -> None:
    policy = Envelopes(per_function_uid=True)
    uids = {policy.uid(f"fn-{i}") for i in range(100)}
    assert len(uids) == 100 and all(UID_BASE <= uid < UID_BASE + ID_SPAN for uid in uids)
    assert policy.uid("fn-1") == Envelopes(per_function_uid=True).uid("fn-1")
    assert Envelopes().uid("fn-1") == 65534  # one shared user where per-function ones fail


@needs_root
def test_a_code_directory_is_readable_by_its_group_only_and_writable_by_nobody_else(
    tmp_path: Path,
) -> None:
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "app.py").write_text("x = 1\n")
    (code / "run.sh").write_text("#!/bin/sh\n")
    (code / "run.sh").chmod(0o700)
    gid = GID_BASE + 7
    grant(code, gid)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [code, *code.rglob("*")]}
    assert modes == {"code": 0o750, "pkg": 0o750, "app.py": 0o640, "run.sh": 0o750}
    assert {p.stat().st_gid for p in [code, *code.rglob("*")]} == {gid}


def test_the_data_directory_is_passable_and_everything_else_in_it_private(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    (data / "blobs").mkdir(parents=True)
    (data / "runtime").mkdir(mode=0o700)  # as a node that hardened it before would have left it
    (data / "lamina.db").write_bytes(b"")
    harden_data_dir(data)
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [data, *data.iterdir()]}
    assert mode == {
        "data": 0o711,
        "code": 0o711,
        "runtime": 0o711,
        "blobs": 0o700,
        "lamina.db": 0o600,
    }


def test_a_child_entering_an_envelope_keeps_only_the_protocols_descriptors() -> None:
    keep_r, keep_w = os.pipe()
    stray_r, stray_w = os.pipe()
    envelope = {"fds_env": "FDS", "rlimits": {"NOFILE": [256, 256]}}
    env = {
        **os.environ,
        ENVELOPE_ENV: json.dumps(envelope),
        "FDS": f"{keep_r},{keep_w}",
    }
    program = (
        "import os, resource, json\n"
        "from lamina.runtime.envelope import enter\n"
        "enter()\n"
        "fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n"
        "print(json.dumps([fds, resource.getrlimit(resource.RLIMIT_NOFILE)[0],"
        f" '{ENVELOPE_ENV}' in os.environ]))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", program],
            env=env,
            pass_fds=(keep_r, keep_w, stray_r, stray_w),
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        for fd in (keep_r, keep_w, stray_r, stray_w):
            os.close(fd)
    fds, nofile, leaked = json.loads(done.stdout)
    assert stray_r not in fds and stray_w not in fds
    assert keep_r in fds and keep_w in fds
    assert nofile == 256 and not leaked


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_an_idle_environment_is_stopped_after_the_grace_and_a_busy_one_later() -> None:
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        env = Envelope(Envelopes(freeze=True), "{}", None, None)
        env.attach(child.pid)

        async def main() -> None:
            env.freeze()
            assert _state(child.pid) != "T"  # within the grace it runs on
            await asyncio.sleep(envelopes.FREEZE_GRACE_S * 3)
            assert env.frozen and _state(child.pid) == "T"
            for _ in range(envelopes.BUSY_AFTER):  # invoked again and again, quickly
                env.thaw()
                env.freeze()
            assert not env.frozen
            await asyncio.sleep(envelopes.FREEZE_GRACE_S * 3)
            assert not env.frozen and _state(child.pid) != "T"  # busy: a longer grace
            await asyncio.sleep(envelopes.BUSY_FREEZE_GRACE_S * 1.5)
            assert env.frozen and _state(child.pid) == "T"
            env.thaw()
            assert _state(child.pid) != "T"

        asyncio.run(main())
    finally:
        child.kill()
        child.wait()


def test_an_environment_runs_as_sched_batch_so_waking_it_does_not_preempt_the_node() -> None:
    program = (
        "import os; from lamina.runtime.envelope import enter; enter();"
        " print(os.sched_getscheduler(0))"
    )
    env = {k: v for k, v in os.environ.items() if k != ENVELOPE_ENV}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=True
    )
    assert int(done.stdout) == os.SCHED_BATCH
