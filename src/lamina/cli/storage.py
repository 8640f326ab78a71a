"""`lamina storage`: what a running node stores, in bytes by kind and per function."""

from __future__ import annotations

from typing import Any

import click
import httpx
import msgspec

from lamina.cli.client import endpoint_option

KINDS = ("code", "unpacked_code", "logs", "events", "queues", "database", "wal")
FUNCTION_KINDS = ("code", "unpacked_code", "logs", "events")


def human(n: int) -> str:
    """1536 → `1.5 KiB`."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the node's JSON answer as it is.")
@endpoint_option
def storage(as_json: bool, endpoint_url: str) -> None:
    """Bytes the node stores: code, unpacked code, logs, events, queues, database and WAL."""
    try:
        answer = httpx.get(f"{endpoint_url}/lamina/v1/storage", timeout=60)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {endpoint_url}: {exc}") from exc
    if answer.status_code != 200:
        raise click.ClickException(f"{answer.status_code}: {answer.text}")
    report: dict[str, Any] = msgspec.json.decode(answer.content)
    if as_json:
        click.echo(msgspec.json.format(answer.content, indent=2).decode())
        return
    totals = report["totals"]
    click.echo(f"on disk: {human(report['on_disk_bytes'])}")
    for kind in KINDS:
        click.echo(f"  {kind:<14} {human(totals[kind]):>12}")
    if report["functions"]:
        click.echo("")
        click.echo("function".ljust(32) + "".join(k.rjust(15) for k in FUNCTION_KINDS))
        for name, kinds in report["functions"].items():
            cells = "".join(human(kinds[k]).rjust(15) for k in FUNCTION_KINDS)
            click.echo(name[:31].ljust(32) + cells)
