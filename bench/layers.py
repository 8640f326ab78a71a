"""Layers: what publishing one costs, and what layers add to a cold start and a warm invoke.

A layer here is 400 small modules (about 2 MB unzipped, like a mid-sized library). Cases:
publishing it; the first invoke of a new function without layers, with one layer, and with
five (the first function of a layer list pays for unpacking its layers and merging them; the
rows "same list again" show a second function reusing the merged directory); a new
environment of an existing function with five layers; and warm invokes with and without.

Run: python bench/layers.py
"""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

from common import create, lambda_client, percentiles, report, running_node

ROUNDS = 15
MODULES = 400
#: A handler that imports one module of each of its layers (none without layers).
HANDLER = "def handler(event, context):\n    return 1\n"
LAYERED = "import importlib\nMODS = [importlib.import_module(m) for m in {mods!r}]\n" + HANDLER


def layer_zip(tag: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(MODULES):
            zf.writestr(f"python/{tag}_{i}.py", f"VALUE = {i!r}\n" + "# padding\n" * 500)
    return buf.getvalue()


def timed_invoke(lam: Any, name: str) -> float:
    t0 = time.perf_counter()
    lam.invoke(FunctionName=name, Payload=b"{}")
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    with running_node() as url:
        lam = lambda_client(url)
        publish: list[float] = []
        arns: list[str] = []
        for i in range(ROUNDS):
            data = layer_zip(f"l{i}")
            t0 = time.perf_counter()
            out = lam.publish_layer_version(LayerName=f"bench-l{i}", Content={"ZipFile": data})
            publish.append((time.perf_counter() - t0) * 1000)
            arns.append(out["LayerVersionArn"])
        rows = [
            {"case": f"PublishLayerVersion ({len(data) // 1024} KB zip)", **percentiles(publish)}
        ]

        def cold(prefix: str, layer_sets: list[list[int]]) -> list[float]:
            samples = []
            for n, chosen in enumerate(layer_sets):
                mods = [f"l{i}_0" for i in chosen]
                source = LAYERED.format(mods=mods) if chosen else HANDLER
                name = f"{prefix}{n}"
                create(lam, name, source, Layers=[arns[i] for i in chosen])
                samples.append(timed_invoke(lam, name))
            return samples

        rows.append({"case": "first invoke, no layers", **percentiles(cold("none", [[]] * ROUNDS))})
        one = cold("one", [[i] for i in range(ROUNDS)])
        rows.append({"case": "first invoke, 1 new layer", **percentiles(one)})
        again = cold("oneagain", [[i] for i in range(ROUNDS)])
        rows.append({"case": "first invoke, 1 layer, same list again", **percentiles(again)})
        five = cold("five", [[(i + k) % ROUNDS for k in range(5)] for i in range(ROUNDS)])
        rows.append({"case": "first invoke, 5 layers, new list", **percentiles(five)})
        fresh = []
        for i in range(ROUNDS):
            lam.update_function_configuration(FunctionName="five0", Description=f"round {i}")
            fresh.append(timed_invoke(lam, "five0"))
        rows.append({"case": "new environment, 5 layers (fork)", **percentiles(fresh)})
        for case, name in (("warm invoke, no layers", "none0"), ("warm invoke, 5 layers", "five0")):
            warm = [timed_invoke(lam, name) for _ in range(ROUNDS * 4)]
            rows.append({"case": case, **percentiles(warm)})
        report("layers", rows)


if __name__ == "__main__":
    main()
