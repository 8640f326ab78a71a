"""Sandbox cost: freeze + thaw of one environment (cgroup freezer, and SIGSTOP/SIGCONT of a
process group), then warm invoke latency and cold start with each isolation mode, freeze on
and off. Budget (issue 11): freeze + thaw adds at most 50 µs at p50; the cgroup is made with
the environment, off the warm path.

Cold start: the first invoke of a new function (the fork server's path), 20 functions.
The cgroup rows need a machine where the node may create cgroups (root); they are skipped
otherwise.

Run: python bench/sandbox.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from common import create, lambda_client, percentiles, report, running_node
from lamina.engine.cgroups import CgroupsUnavailable, Hierarchy

PAIRS = 5000
SEQUENTIAL = 1000
COLD = 20
NOOP = "def handler(event, context):\n    return event\n"


def main() -> None:
    rows = [*_freeze_thaw()]
    modes = ["process", "cgroup"] if _cgroups() else ["process"]
    for mode in modes:
        for freeze in (False, True):
            rows.append(_node_run(mode, freeze))
    report("sandbox", rows)


def _cgroups() -> bool:
    try:
        Hierarchy.create(f"lamina-bench-probe-{os.getpid()}").remove()
    except CgroupsUnavailable:
        return False
    return True


def _freeze_thaw() -> list[dict[str, object]]:
    """Freeze + thaw pairs on a sleeping process, timed one pair at a time."""
    rows: list[dict[str, object]] = []
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        samples = []
        for _ in range(PAIRS):
            t0 = time.perf_counter()
            os.killpg(sleeper.pid, signal.SIGSTOP)
            os.killpg(sleeper.pid, signal.SIGCONT)
            samples.append((time.perf_counter() - t0) * 1000)
        rows.append({"workload": "SIGSTOP + SIGCONT of a process group", **percentiles(samples)})
        if _cgroups():
            hierarchy = Hierarchy.create(f"lamina-bench-{os.getpid()}")
            group = hierarchy.group("env", 128)
            for procs in group.procs:
                with open(procs, "w") as f:
                    f.write(str(sleeper.pid))
            samples = []
            for _ in range(PAIRS):
                t0 = time.perf_counter()
                group.freeze()
                group.thaw()
                samples.append((time.perf_counter() - t0) * 1000)
            rows.append({"workload": "cgroup freeze + thaw (freezer)", **percentiles(samples)})
            group.remove()
            hierarchy.remove()
    finally:
        sleeper.kill()
        sleeper.wait()
    return rows


def _node_run(mode: str, freeze: bool) -> dict[str, object]:
    flags = ["--isolation", mode, "--freeze" if freeze else "--no-freeze"]
    with running_node(*flags) as url:
        client = lambda_client(url)
        create(client, "noop", NOOP)
        path = f"{url}/2015-03-31/functions/noop/invocations"
        with httpx.Client(timeout=30) as http:
            for _ in range(50):
                http.post(path, content=b"{}")
            warm = []
            for _ in range(SEQUENTIAL):
                t0 = time.perf_counter()
                assert http.post(path, content=b"{}").status_code == 200
                warm.append((time.perf_counter() - t0) * 1000)
            cold = []
            for i in range(COLD):
                create(client, f"cold{i}", NOOP)
                t0 = time.perf_counter()
                assert http.post(f"{url}/2015-03-31/functions/cold{i}/invocations").is_success
                cold.append((time.perf_counter() - t0) * 1000)
    w, c = percentiles(warm), percentiles(cold)
    return {
        "workload": f"{mode}, freeze {'on' if freeze else 'off'}",
        "warm_p50_ms": w["p50_ms"],
        "warm_p99_ms": w["p99_ms"],
        "cold_p50_ms": c["p50_ms"],
        "cold_p90_ms": c["p90_ms"],
    }


if __name__ == "__main__":
    sys.exit(main())
