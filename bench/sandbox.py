"""Sandbox cost: freeze + thaw of one environment (cgroup freezer, and SIGSTOP/SIGCONT of a
process group), then warm invoke latency and cold start with each isolation mode, freeze on
and off. Budget (issue 11): freeze + thaw adds at most 50 µs at p50; the cgroup is made with
the environment, off the warm path.

The four nodes run at once and take requests in turn (warm: 1,000 each; cold start: the first
invoke of each of 20 new functions, the fork server's path), so load from elsewhere on the
machine weighs on every configuration alike.
The cgroup rows need a machine where the node may create cgroups (root); they are skipped
otherwise.

Run: python bench/sandbox.py
"""

from __future__ import annotations

import contextlib
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
    rows += _nodes([(mode, freeze) for mode in modes for freeze in (False, True)])
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


def _nodes(configs: list[tuple[str, bool]]) -> list[dict[str, object]]:
    """One node per configuration, all running at once, requests interleaved one by one, so
    that whatever else loads the machine weighs on every configuration alike."""
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(running_node("--isolation", mode, _freeze_flag(freeze)))
            for mode, freeze in configs
        ]
        https = [stack.enter_context(httpx.Client(timeout=30)) for _ in urls]
        for url in urls:
            create(lambda_client(url), "noop", NOOP)
        warm: list[list[float]] = [[] for _ in urls]
        for i in range(50 + SEQUENTIAL):
            for n, (url, http) in enumerate(zip(urls, https, strict=True)):
                t0 = time.perf_counter()
                assert http.post(f"{url}/2015-03-31/functions/noop/invocations").is_success
                if i >= 50:
                    warm[n].append((time.perf_counter() - t0) * 1000)
        cold: list[list[float]] = [[] for _ in urls]
        for i in range(COLD):
            for n, (url, http) in enumerate(zip(urls, https, strict=True)):
                create(lambda_client(url), f"cold{i}", NOOP)
                t0 = time.perf_counter()
                assert http.post(f"{url}/2015-03-31/functions/cold{i}/invocations").is_success
                cold[n].append((time.perf_counter() - t0) * 1000)
    rows: list[dict[str, object]] = []
    for (mode, freeze), w, c in zip(
        configs, map(percentiles, warm), map(percentiles, cold), strict=True
    ):
        rows.append(
            {
                "workload": f"{mode}, freeze {'on' if freeze else 'off'}",
                "warm_p50_ms": w["p50_ms"],
                "warm_p90_ms": w["p90_ms"],
                "cold_p50_ms": c["p50_ms"],
                "cold_p90_ms": c["p90_ms"],
            }
        )
    return rows


def _freeze_flag(freeze: bool) -> str:
    return "--freeze" if freeze else "--no-freeze"


if __name__ == "__main__":
    sys.exit(main())
