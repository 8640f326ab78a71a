"""Cold start: time to first response for a new function, and for a new environment of an
existing function (forced by changing its configuration, which retires warm environments).
New environments are forked from the node's pre-imported template; a function whose variables
change interpreter startup (here PYTHONDONTWRITEBYTECODE) is spawned, the last cold row.

Run: python bench/cold_start.py
"""

from __future__ import annotations

import time

from common import create, lambda_client, percentiles, report, running_node

ROUNDS = 30


def main() -> None:
    with running_node() as url:
        lam = lambda_client(url)
        first: list[float] = []
        for i in range(ROUNDS):
            name = f"cold{i}"
            create(lam, name, "def handler(event, context):\n    return 1\n")
            t0 = time.perf_counter()
            lam.invoke(FunctionName=name, Payload=b"{}")
            first.append((time.perf_counter() - t0) * 1000)
        again: list[float] = []
        for i in range(ROUNDS):
            lam.update_function_configuration(FunctionName="cold0", Description=f"round {i}")
            t0 = time.perf_counter()
            lam.invoke(FunctionName="cold0", Payload=b"{}")
            again.append((time.perf_counter() - t0) * 1000)
        create(
            lam,
            "spawned",
            "def handler(event, context):\n    return 1\n",
            Environment={"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}},
        )
        spawned: list[float] = []
        for i in range(ROUNDS):
            lam.update_function_configuration(FunctionName="spawned", Description=f"round {i}")
            t0 = time.perf_counter()
            lam.invoke(FunctionName="spawned", Payload=b"{}")
            spawned.append((time.perf_counter() - t0) * 1000)
        warm: list[float] = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            lam.invoke(FunctionName="cold0", Payload=b"{}")
            warm.append((time.perf_counter() - t0) * 1000)
        report(
            "cold_start",
            [
                {"case": "first invoke of a new function", **percentiles(first)},
                {"case": "new environment after a config change (fork)", **percentiles(again)},
                {"case": "same, spawned (PYTHON* variable set)", **percentiles(spawned)},
                {"case": "warm invoke (same boto3 client, for scale)", **percentiles(warm)},
            ],
        )


if __name__ == "__main__":
    main()
