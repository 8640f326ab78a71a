"""`lamina layer publish DIR --name N`, `lamina layer list`, `lamina layer delete N VERSION`.

`publish` zips a folder as `deploy` does (the same ignore rules), optionally vendoring a
requirements file under `python/` (where a Python handler finds a layer's packages), publishes
it as the layer's next version, prints the version ARN on stdout (for scripts) and a summary on
stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lamina.cli.client import endpoint_option, lambda_client
from lamina.cli.packaging import package
from lamina.cli.views import console

#: Where a Python layer's modules go inside the zip (AWS's layout).
PYTHON_DIR = "python"


@click.group()
def layer() -> None:
    """Publish, list and delete layers."""


def _call(method: str, endpoint_url: str, **params: Any) -> Any:
    from botocore.exceptions import ClientError

    try:
        return getattr(lambda_client(endpoint_url), method)(**params)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc


@layer.command("publish")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option("--name", "-n", required=True, help="Layer name.")
@click.option("--description", default="", help="Description of this version.")
@click.option("--license-info", help="License of the layer (SPDX id, URL or text).")
@click.option(
    "--compatible-runtimes",
    "runtimes",
    multiple=True,
    metavar="RUNTIME",
    help="A runtime the layer is for (repeat, or separate with commas).",
)
@click.option(
    "--compatible-architectures",
    "architectures",
    multiple=True,
    type=click.Choice(["x86_64", "arm64"]),
    help="An architecture the layer is for (repeat).",
)
@click.option(
    "--requirements",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="requirements.txt to vendor under python/ (pip --target).",
)
@endpoint_option
def publish(
    directory: Path,
    name: str,
    description: str,
    license_info: str | None,
    runtimes: tuple[str, ...],
    architectures: tuple[str, ...],
    requirements: Path | None,
    endpoint_url: str,
) -> None:
    """Package DIRECTORY and publish it as the next version of layer NAME."""
    root = directory.resolve()
    runtime_list = [r.strip() for item in runtimes for r in item.split(",") if r.strip()]
    if requirements is None and not (root / PYTHON_DIR).is_dir():
        click.echo(
            f"note: {root} has no {PYTHON_DIR}/ folder: a Python handler finds a layer's"
            f" modules under {PYTHON_DIR}/ (or {PYTHON_DIR}/lib/pythonX.Y/site-packages/)",
            err=True,
        )
    try:
        data = package(root, requirements, (runtime_list or ["python3.12"])[0], PYTHON_DIR)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    params: dict[str, Any] = {
        "LayerName": name,
        "Content": {"ZipFile": data},
        "Description": description,
    }
    if license_info is not None:
        params["LicenseInfo"] = license_info
    if runtime_list:
        params["CompatibleRuntimes"] = runtime_list
    if architectures:
        params["CompatibleArchitectures"] = list(architectures)
    out = _call("publish_layer_version", endpoint_url, **params)
    click.echo(out["LayerVersionArn"])
    click.echo(
        f"published {name} version {out['Version']}: {out['Content']['CodeSize']} bytes,"
        f" CodeSha256 {out['Content']['CodeSha256']}",
        err=True,
    )


@layer.command("list")
@click.option("--runtime", help="Only layers with a version compatible with this runtime.")
@endpoint_option
def list_layers(runtime: str | None, endpoint_url: str) -> None:
    """Layers with their newest version."""
    from rich.table import Table

    params: dict[str, Any] = {"CompatibleRuntime": runtime} if runtime else {}
    rows: list[dict[str, Any]] = []
    while True:
        page = _call("list_layers", endpoint_url, **params)
        rows += page["Layers"]
        if "NextMarker" not in page:
            break
        params["Marker"] = page["NextMarker"]
    table = Table(box=None, header_style="bold")
    for title in ("NAME", "VERSION", "RUNTIMES", "CREATED", "DESCRIPTION"):
        table.add_column(title, justify="right" if title == "VERSION" else "left")
    for row in rows:
        latest = row["LatestMatchingVersion"]
        table.add_row(
            row["LayerName"],
            str(latest["Version"]),
            ",".join(latest.get("CompatibleRuntimes") or []) or "-",
            latest["CreatedDate"],
            latest.get("Description") or "",
        )
    console().print(table)


@layer.command("delete")
@click.argument("name")
@click.argument("version", type=click.IntRange(1))
@endpoint_option
def delete(name: str, version: int, endpoint_url: str) -> None:
    """Delete version VERSION of layer NAME (functions using it keep their copy)."""
    _call("delete_layer_version", endpoint_url, LayerName=name, VersionNumber=version)
    click.echo(f"deleted {name} version {version}")
