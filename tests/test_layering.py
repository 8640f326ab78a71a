"""The layers import downward only, and the API has no side doors.

Walks the source with `ast` (nothing is imported to check imports):

- `api/` never imports `lamina.store` or `lamina.node`, never names `Node`, and never reads an
  attribute called `store`, `pool` or `node`: routes reach data through control and engine
  services and user code only through the invoker (api/services.py);
- `engine/` never imports `api`; `control/`, `queues/` and `store/` never import the engine;
- `runtime/` (which runs inside environments) imports the stdlib, msgspec / msgpack and itself;
- every `/lamina/v1/*` route is in api/lamina.py, `/health` and `/metrics` in api/ops.py.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lamina"

#: Which parts of lamina each layer may import (None: any but the ones in FORBIDDEN).
ALLOWED: dict[str, set[str] | None] = {
    "runtime": {"runtime"},
    "store": {"store", "errors", "clock", "config"},
    "queues": {"queues", "store", "errors", "clock", "config"},
    "control": {"control", "store", "errors", "clock", "config"},
    "engine": None,
    "api": None,
}
FORBIDDEN: dict[str, set[str]] = {
    "engine": {"api", "node", "cli"},
    "api": {"store", "node", "cli"},
}
#: Third-party packages the runtime may use inside an environment.
RUNTIME_THIRD_PARTY = {"msgspec", "msgpack"}
#: Attributes no api module may read: the node's parts that routes must not reach.
SIDE_DOORS = {"store", "pool", "node"}


def modules(layer: str) -> list[Path]:
    return sorted((SRC / layer).rglob("*.py"))


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every import, `from lamina import x` as `lamina.x`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            if node.module == "lamina":
                for alias in node.names:
                    yield node.lineno, f"lamina.{alias.name}"


def layer_violations(layer: str, source: str) -> list[str]:
    """What in `source` (a module of `layer`) breaks the import rules."""
    found = []
    for line, module in imported(ast.parse(source)):
        top, _, rest = module.partition(".")
        if top != "lamina":
            if layer == "runtime" and top not in sys.stdlib_module_names | RUNTIME_THIRD_PARTY:
                found.append(f"{line}: imports {module}")
            continue
        part = rest.partition(".")[0]
        if not part:
            continue
        allowed = ALLOWED[layer]
        if (allowed is not None and part not in allowed) or part in FORBIDDEN.get(layer, ()):
            found.append(f"{line}: imports {module}")
    return found


def side_doors(source: str) -> list[str]:
    """Reads of `.store`, `.pool` or `.node`, and any use of the name `Node`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in SIDE_DOORS:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id == "Node":
            found.append(f"{node.lineno}: Node")
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_lies_below_it(layer: str) -> None:
    broken = {
        str(path.relative_to(SRC)): bad
        for path in modules(layer)
        if (bad := layer_violations(layer, path.read_text()))
    }
    assert broken == {}


def test_no_api_module_reaches_the_store_the_pool_or_the_node() -> None:
    broken = {
        str(path.relative_to(SRC)): bad
        for path in modules("api")
        if (bad := side_doors(path.read_text()))
    }
    assert broken == {}


def test_the_checks_catch_what_they_look_for() -> None:
    assert side_doors("x = services(request).functions.store.get_blob(d)") == ["1: .store"]
    assert side_doors("def f(n: Node) -> None:\n    n.pool.close()") == ["1: Node", "2: .pool"]
    assert side_doors("request.app.state.node") == ["1: .node"]
    assert layer_violations("api", "from lamina.store.base import LogEvent") != []
    assert layer_violations("api", "from lamina import node") != []
    assert layer_violations("engine", "import lamina.api.app") != []
    assert layer_violations("control", "from lamina.engine.pool import Pool") != []
    assert layer_violations("runtime", "import boto3") != []
    assert layer_violations("runtime", "import msgspec, json") == []
    assert layer_violations("runtime", "from lamina.config import Settings") != []


def test_lamina_v1_routes_live_in_one_module_and_ops_routes_in_another() -> None:
    homes: dict[str, set[str]] = {}
    for path in modules("api"):
        name = f"lamina.api.{path.stem}"
        for route in getattr(importlib.import_module(name), "routes", []):
            homes.setdefault(route.path, set()).add(path.stem)
    assert homes, "no api module exports routes"
    v1 = {p: m for p, m in homes.items() if p.startswith("/lamina/v1")}
    assert v1 and all(m == {"lamina"} for m in v1.values()), v1
    assert homes["/health"] == homes["/metrics"] == {"ops"}
    assert {m for p, ms in homes.items() for m in ms if p in ("/health", "/metrics")} == {"ops"}
