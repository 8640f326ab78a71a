"""`lamina runtimes`: which runtimes a node started here can run, and on which interpreter.

It runs the node's own discovery (engine/interpreters.py) with the same `--runtime` overrides
(or LAMINA_RUNTIME), so what it prints is what `lamina serve` would use.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from lamina.engine.interpreters import (
    CUSTOM_RUNTIMES,
    find,
    installed_runtimes,
    native_interpreter,
    parse_overrides,
)
from lamina.errors import LaminaError


def rows(overrides: dict[str, str]) -> list[dict[str, Any]]:
    """One row per runtime: runtime, interpreter path (None when missing), version, fork."""
    names = sorted(set(installed_runtimes()) | set(overrides), key=lambda n: int(n.split(".")[1]))
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda name: find(name, overrides.get(name)), names))
    table: list[dict[str, Any]] = []
    for name, interpreter in zip(names, found, strict=True):
        table.append(
            {
                "runtime": name,
                "interpreter": interpreter.path if interpreter else None,
                "version": interpreter.version if interpreter else None,
                "fork_template": interpreter is not None,
                "native": bool(interpreter and interpreter.native),
            }
        )
    native = native_interpreter()
    for name in CUSTOM_RUNTIMES:
        table.append(
            {
                "runtime": name,
                "interpreter": f"bootstrap (Runtime API served on {native.path})",
                "version": None,
                "fork_template": True,
                "native": True,
            }
        )
    return table


@click.command()
@click.option(
    "--runtime",
    "overrides",
    multiple=True,
    envvar="LAMINA_RUNTIME",
    help="RUNTIME=PATH, as `lamina serve --runtime`; repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def runtimes(overrides: tuple[str, ...], as_json: bool) -> None:
    """List the runtimes this machine's node can run: interpreter, version, fork template."""
    try:
        table = rows(parse_overrides(overrides))
    except LaminaError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    header = ("RUNTIME", "INTERPRETER", "VERSION", "FORK")
    lines = [header]
    for row in table:
        interpreter = row["interpreter"] or "missing: install it, or --runtime NAME=PATH"
        if row["native"] and row["version"]:
            interpreter += " (the node's own)"
        fork = "yes" if row["fork_template"] else "-"
        lines.append((row["runtime"], interpreter, row["version"] or "-", fork))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
