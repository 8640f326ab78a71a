"""`lamina ls` and `lamina top`: what runs on a node, at a glance and live.

Both read `/lamina/v1/stats` (one snapshot of the node) and, for `ls`, ListFunctions. `top`
turns the snapshot's counters into per-second rates between two refreshes.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import click
import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from lamina.auth.client import http_auth
from lamina.cli.client import endpoint_option, lambda_client

#: Seconds between two refreshes of `top`.
TOP_REFRESH_S = 1.0
#: Sort keys of `top`: key → (column title, row value to sort by, largest first).
SORT_KEYS = {
    "n": "name",
    "r": "running",
    "i": "inv/s",
    "e": "errors/s",
    "t": "throttles/s",
    "d": "queue",
    "a": "oldest",
    "p": "p99",
}


#: Width of tables written to a pipe or file (a terminal's own width is used otherwise).
PIPE_WIDTH = 200


def console() -> Console:
    """A console that keeps whole rows when output goes to a pipe rather than a terminal."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=PIPE_WIDTH)


def fetch_stats(endpoint_url: str) -> dict[str, Any]:
    try:
        resp = httpx.get(f"{endpoint_url}/lamina/v1/stats", timeout=10, auth=http_auth())
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot read stats from {endpoint_url}: {exc}") from exc
    out: dict[str, Any] = resp.json()
    return out


def _functions(endpoint_url: str) -> list[dict[str, Any]]:
    pages = lambda_client(endpoint_url).get_paginator("list_functions").paginate()
    return [f for page in pages for f in page["Functions"]]


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)


@click.command("ls")
@endpoint_option
def ls(endpoint_url: str) -> None:
    """Functions with runtime, memory, reserved / provisioned concurrency, running, queue."""
    stats = fetch_stats(endpoint_url)["functions"]
    table = Table(box=None, header_style="bold")
    for title in (
        "NAME",
        "RUNTIME",
        "MEMORY",
        "TIMEOUT",
        "RESERVED",
        "PROVISIONED",
        "RUNNING",
        "QUEUE",
    ):
        table.add_column(title, justify="left" if title in ("NAME", "RUNTIME") else "right")
    for fn in sorted(_functions(endpoint_url), key=lambda f: f["FunctionName"]):
        s = stats.get(fn["FunctionName"], {})
        prov = s.get("provisioned") or {}
        provisioned = prov.get("ready", 0) + prov.get("busy", 0)
        table.add_row(
            fn["FunctionName"],
            fn.get("Runtime", "-"),
            f"{fn['MemorySize']} MB",
            f"{fn['Timeout']} s",
            _dash(s.get("reserved")),
            _dash(provisioned or None),
            str(s.get("running", 0)),
            str(s.get("queue_depth", 0)),
        )
    console().print(table)


def _rates(now: dict[str, Any], before: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    if before is None:
        return {}
    span = max(now["at"] - before["at"], 1e-3)
    out: dict[str, dict[str, float]] = {}
    for name, fn in now["functions"].items():
        old = before["functions"].get(name, {})
        out[name] = {
            key: max(fn[key] - old.get(key, 0), 0) / span
            for key in ("invocations", "errors", "throttles")
        }
    return out


def top_rows(snap: dict[str, Any], rates: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per function: the columns `top` shows, as values to sort on."""
    rows = []
    for name, fn in snap["functions"].items():
        r = rates.get(name, {})
        rows.append(
            {
                "name": name,
                "running": fn["running"],
                "limit": fn.get("limit"),
                "inv/s": r.get("invocations", 0.0),
                "errors/s": r.get("errors", 0.0),
                "throttles/s": r.get("throttles", 0.0),
                "errors": fn["errors"],
                "throttles": fn["throttles"],
                "queue": fn["queue_depth"],
                "oldest": fn.get("queue_oldest_age_s") or 0.0,
                "paused": fn.get("queue_paused"),
                "p50": fn.get("duration_p50_ms"),
                "p99": fn.get("duration_p99_ms") or 0.0,
            }
        )
    return rows


def render_top(snap: dict[str, Any], rates: dict[str, dict[str, float]], sort: str) -> Table:
    """The `top` table, sorted by `sort` (a column of SORT_KEYS)."""
    account = snap["account"]
    table = Table(
        title=f"lamina top — account {account['in_use']}/{account['limit']} running, "
        f"unreserved {account['unreserved_in_use']}/{account['unreserved_limit']}",
        caption="sort: " + " ".join(f"\\[{k}] {v}" for k, v in SORT_KEYS.items()) + "   \\[q] quit",
        header_style="bold",
    )
    for title in (
        "FUNCTION",
        "RUNNING/LIMIT",
        "INV/S",
        "ERR/S",
        "THR/S",
        "ERRORS",
        "THROTTLES",
        "QUEUE",
        "OLDEST",
        "P50 MS",
        "P99 MS",
    ):
        table.add_column(title, justify="left" if title == "FUNCTION" else "right")
    rows = top_rows(snap, rates)
    rows.sort(key=lambda row: row[sort], reverse=sort != "name")
    for row in rows:
        queue = f"{row['queue']}{' ⏸' if row['paused'] else ''}"
        table.add_row(
            row["name"],
            f"{row['running']}/{_dash(row['limit'])}",
            f"{row['inv/s']:.1f}",
            f"{row['errors/s']:.1f}",
            f"{row['throttles/s']:.1f}",
            str(row["errors"]),
            str(row["throttles"]),
            queue,
            f"{row['oldest']:.1f} s" if row["queue"] else "-",
            _dash(row["p50"]),
            _dash(row["p99"] or None),
            style="red" if row["throttles/s"] or row["errors/s"] else None,
        )
    return table


@contextlib.contextmanager
def _keys() -> Iterator[list[str]]:
    """Keys pressed while `top` runs (read by a thread; stdin must be a terminal)."""
    pressed: list[str] = []
    if not sys.stdin.isatty():
        yield pressed
        return

    def read() -> None:
        while True:
            key = click.getchar()
            pressed.append(key)
            if key in ("q", "Q", "\x03"):
                return

    threading.Thread(target=read, daemon=True, name="lamina-top-keys").start()
    yield pressed


@click.command()
@click.option(
    "--sort",
    "sort_key",
    type=click.Choice(list(SORT_KEYS)),
    default="r",
    help="Initial sort key (press a key to change it while running).",
)
@click.option("--iterations", type=click.IntRange(1), help="Refresh this many times, then exit.")
@endpoint_option
def top(sort_key: str, iterations: int | None, endpoint_url: str) -> None:
    """A live table of every function, refreshed every second; q quits."""
    screen = console()
    sort = SORT_KEYS[sort_key]
    before: dict[str, Any] | None = None
    shown = 0
    with (
        _keys() as pressed,
        Live(console=screen, screen=screen.is_terminal, auto_refresh=False) as live,
    ):
        while iterations is None or shown < iterations:
            snap = fetch_stats(endpoint_url)
            live.update(render_top(snap, _rates(snap, before), sort), refresh=True)
            before, shown = snap, shown + 1
            deadline = time.monotonic() + TOP_REFRESH_S
            while time.monotonic() < deadline and (iterations is None or shown < iterations):
                while pressed:
                    key = pressed.pop(0).lower()
                    if key in ("q", "\x03"):
                        return
                    sort = SORT_KEYS.get(key, sort)
                time.sleep(0.05)
