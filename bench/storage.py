"""Storage soak: does the data directory reach a plateau under steady load and regular deploys?

For DURATION_S, three functions are redeployed every DEPLOY_EVERY_S with fresh, incompressible
code (each deploy publishes a version; versions older than the newest KEEP_VERSIONS are deleted,
as a deploy pipeline would), invoked without pause (sync and Event) and each invocation logs
LOG_BYTES. Every SAMPLE_EVERY_S the bench records the bytes of the data directory on disk and
the node's own storage view (`GET /lamina/v1/storage`). Small log caps make the plateau show up
within minutes; the same holds with the defaults, only later.

Run: python bench/storage.py [seconds]
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from common import ROLE, lambda_client, report, running_node
from lamina.engine.storage import tree_bytes

DURATION_S = 180.0
DEPLOY_EVERY_S = 2.0
SAMPLE_EVERY_S = 10.0
KEEP_VERSIONS = 2
LOG_BYTES = 20_000
CODE_PADDING_BYTES = 200_000
FUNCTIONS = ("soak-a", "soak-b", "soak-c")
NODE_FLAGS = ("--log-retention-mb", "1", "--log-retention-total-mb", "2.5")

SOURCE = f"""
def handler(event, context):
    print("x" * {LOG_BYTES})
    return {{"ok": True}}
"""


def package() -> bytes:
    """A zip of the handler and a random (incompressible) padding file: every deploy is new code."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", SOURCE)
        zf.writestr("padding.bin", os.urandom(CODE_PADDING_BYTES))
    return buf.getvalue()


def deploy(client: Any, name: str) -> None:
    version = client.update_function_code(FunctionName=name, ZipFile=package(), Publish=True)
    newest = int(version["Version"])
    for old in client.list_versions_by_function(FunctionName=name)["Versions"]:
        if old["Version"] != "$LATEST" and int(old["Version"]) <= newest - KEEP_VERSIONS:
            client.delete_function(FunctionName=name, Qualifier=old["Version"])


def invoke_forever(url: str, stop: threading.Event, counts: dict[str, int]) -> None:
    client = lambda_client(url, pool=4)
    i = 0
    while not stop.is_set():
        name = FUNCTIONS[i % len(FUNCTIONS)]
        kind = "Event" if i % 2 else "RequestResponse"
        try:
            client.invoke(FunctionName=name, InvocationType=kind, Payload=b"{}")
            counts[kind] = counts.get(kind, 0) + 1
        except Exception:  # a throttle or a deploy in progress: count it and go on
            counts["refused"] = counts.get("refused", 0) + 1
        i += 1


def main(duration_s: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with running_node(*NODE_FLAGS, data_dir=data) as url:
            client = lambda_client(url)
            for name in FUNCTIONS:
                client.create_function(
                    FunctionName=name,
                    Role=ROLE,
                    Runtime="python3.12",
                    Handler="app.handler",
                    Code={"ZipFile": package()},
                )
                client.get_waiter("function_active_v2").wait(FunctionName=name)
            stop = threading.Event()
            counts: dict[str, int] = {}
            workers = [
                threading.Thread(target=invoke_forever, args=(url, stop, counts)) for _ in range(2)
            ]
            for w in workers:
                w.start()
            rows: list[dict[str, Any]] = []
            deploys = 0
            t0 = time.monotonic()
            next_sample = 0.0
            while (elapsed := time.monotonic() - t0) < duration_s:
                for name in FUNCTIONS:
                    deploy(client, name)
                    deploys += 1
                if elapsed >= next_sample:
                    view = httpx.get(url + "/lamina/v1/storage", timeout=30).json()
                    totals = view["totals"]
                    rows.append(
                        {
                            "t_s": round(elapsed),
                            "deploys": deploys,
                            "invokes": counts.get("RequestResponse", 0) + counts.get("Event", 0),
                            "data_dir_mb": round(tree_bytes(data) / 2**20, 2),
                            "code_mb": round(totals["code"] / 2**20, 2),
                            "unpacked_mb": round(totals["unpacked_code"] / 2**20, 2),
                            "logs_mb": round(totals["logs"] / 2**20, 2),
                            "db_mb": round(totals["database"] / 2**20, 2),
                            "wal_mb": round(totals["wal"] / 2**20, 2),
                        }
                    )
                    next_sample += SAMPLE_EVERY_S
                time.sleep(DEPLOY_EVERY_S)
            stop.set()
            for w in workers:
                w.join()
    report("storage", rows)
    half = rows[len(rows) // 2 :]
    if len(half) >= 2:
        growth = half[-1]["data_dir_mb"] - half[0]["data_dir_mb"]
        print(
            f"\nsecond half: data directory {half[0]['data_dir_mb']} -> {half[-1]['data_dir_mb']}"
            f" MB ({growth:+.2f} MB) over {half[-1]['t_s'] - half[0]['t_s']} s"
        )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else DURATION_S)
