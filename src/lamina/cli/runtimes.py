"""`lamina runtimes`: which runtimes a node started here can run, and on which interpreter.

It runs the node's own discovery (engine/interpreters.py) with the same `--runtime` overrides
(or LAMINA_RUNTIME), so what it prints is what `lamina serve` would use.
"""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from lamina.engine import runtime_dir
from lamina.engine.interpreters import (
    CUSTOM_RUNTIMES,
    INTERPRETER_PROBE_TIMEOUT_S,
    Interpreter,
    find,
    installed_runtimes,
    native_interpreter,
    parse_overrides,
)
from lamina.errors import LaminaError

#: What a handler's `import boto3` gives, run on an interpreter with the runtime directory.
_BOTO3_PROBE = (
    "import sys;sys.path.insert(0,sys.argv[1])\n"
    "try:\n import boto3;print(boto3.__version__)\n"
    "except Exception as e:print('no: %s: %s'%(type(e).__name__,e))"
)


def boto3_on(interpreter: Interpreter, directory: Path) -> str:
    """boto3's version as a handler on `interpreter` imports it, or why it does not import."""
    try:
        done = subprocess.run(
            [interpreter.path, "-S", "-c", _BOTO3_PROBE, str(directory)],
            capture_output=True,
            text=True,
            timeout=INTERPRETER_PROBE_TIMEOUT_S * 3,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no: {exc}"
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no"


def rows(overrides: dict[str, str]) -> list[dict[str, Any]]:
    """One row per runtime: runtime, interpreter path (None when missing), version, fork,
    and the boto3 a handler imports there (its version, or why not)."""
    names = sorted(set(installed_runtimes()) | set(overrides), key=lambda n: int(n.split(".")[1]))
    directory = runtime_dir.prepare(runtime_dir.default_root())
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda name: find(name, overrides.get(name)), names))
        boto3 = list(pool.map(lambda i: boto3_on(i, directory) if i else None, found))
    table: list[dict[str, Any]] = []
    for name, interpreter, shipped in zip(names, found, boto3, strict=True):
        table.append(
            {
                "runtime": name,
                "interpreter": interpreter.path if interpreter else None,
                "version": interpreter.version if interpreter else None,
                "fork_template": interpreter is not None,
                "native": bool(interpreter and interpreter.native),
                "boto3": shipped,
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
                "boto3": None,
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
    """List the runtimes this machine's node can run: interpreter, version, fork template, and
    the boto3 its handlers import."""
    try:
        table = rows(parse_overrides(overrides))
    except LaminaError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    header = ("RUNTIME", "INTERPRETER", "VERSION", "FORK", "BOTO3")
    lines = [header]
    for row in table:
        interpreter = row["interpreter"] or "missing: install it, or --runtime NAME=PATH"
        if row["native"] and row["version"]:
            interpreter += " (the node's own)"
        fork = "yes" if row["fork_template"] else "-"
        boto3 = row["boto3"] or "-"
        lines.append((row["runtime"], interpreter, row["version"] or "-", fork, boto3))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
