"""SnapStart: cold start of a new environment of a published version whose init takes 1 s
(`time.sleep(1)` at import), restored from the version's snapshot vs. initialised as usual.

A new environment of version 1 is forced by changing $LATEST's configuration, which retires
every environment of the function (the version's template stays: it dies only with its
version). "cold start" is the client's time for that first invoke; "reported" is what REPORT
says (Restore Duration / Init Duration). Budget: SnapStart cold start <= 20 ms. The last row
runs on a node with --isolation process (no cgroup to move a restored process into: with
cgroups, that move is a kernel cgroup migration, often ~10 ms of the restore).

Run: python bench/snapstart.py
"""

from __future__ import annotations

import base64
import re
import statistics
import time
from typing import Any

from common import create, lambda_client, percentiles, report, running_node

#: Rounds per case; the plain case pays the 1 s init every round.
SNAP_ROUNDS = 40
PLAIN_ROUNDS = 8
SOURCE = """
import time
time.sleep(1)


def handler(event, context):
    return 1
"""
_FIELD = re.compile(r"\t(Init|Restore) Duration: ([0-9.]+) ms")


def cold_starts(lam: Any, name: str, rounds: int) -> tuple[list[float], list[float]]:
    """Client-side time of `rounds` first invokes of new environments of version 1, and the
    Init / Restore Duration their REPORT lines show."""
    client_ms: list[float] = []
    reported_ms: list[float] = []
    for i in range(rounds):
        lam.update_function_configuration(FunctionName=name, Description=f"round {i}")
        t0 = time.perf_counter()
        out = lam.invoke(FunctionName=name, Qualifier="1", Payload=b"{}", LogType="Tail")
        client_ms.append((time.perf_counter() - t0) * 1000)
        found = _FIELD.search(base64.b64decode(out["LogResult"]).decode())
        assert found is not None, "the first invoke of an environment reports its start"
        reported_ms.append(float(found.group(2)))
    return client_ms, reported_ms


def published(lam: Any, name: str, **kwargs: Any) -> None:
    create(lam, name, SOURCE, **kwargs)
    lam.publish_version(FunctionName=name)
    lam.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier="1", WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
    )


def snap_rounds(lam: Any) -> tuple[list[float], list[float]]:
    published(lam, "snap", SnapStart={"ApplyOn": "PublishedVersions"})
    cold_starts(lam, "snap", 3)  # warm-up: the bytecode compiled, the caches filled
    return cold_starts(lam, "snap", SNAP_ROUNDS)


def row(case: str, client_ms: list[float], reported_ms: list[float]) -> dict[str, Any]:
    return {
        "case": case,
        **percentiles(client_ms),
        "reported_p50_ms": round(statistics.median(reported_ms), 3),
    }


def main() -> None:
    with running_node() as url:
        lam = lambda_client(url)
        snap, restore = snap_rounds(lam)
        published(lam, "plain")
        plain, init = cold_starts(lam, "plain", PLAIN_ROUNDS)
        warm: list[float] = []
        for _ in range(SNAP_ROUNDS):
            t0 = time.perf_counter()
            lam.invoke(FunctionName="snap", Qualifier="1", Payload=b"{}")
            warm.append((time.perf_counter() - t0) * 1000)
    with running_node("--isolation", "process") as url:
        process, process_restore = snap_rounds(lambda_client(url))
    report(
        "snapstart",
        [
            row("SnapStart: new environment (restore)", snap, restore),
            row("plain: new environment (1 s init)", plain, init),
            {"case": "warm invoke of the SnapStart version", **percentiles(warm)},
            row("SnapStart, --isolation process", process, process_restore),
        ],
    )


if __name__ == "__main__":
    main()
