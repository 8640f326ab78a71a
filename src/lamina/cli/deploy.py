"""`lamina deploy DIR --name NAME`: package a folder, create or update the function, wait
until it is Active and its last update Successful, and say what was deployed.

`--watch` keeps going: every change to a packaged file (debounced, so an editor's burst of
writes is one deploy) redeploys and prints the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from lamina.cli.client import endpoint_option, lambda_client
from lamina.cli.packaging import Fingerprint, fingerprint, package

#: Role given to functions the CLI creates (Lamina does not check roles; AWS needs one).
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/lamina"
#: How often --watch looks at the folder, and how long it must stay still before a deploy.
WATCH_POLL_S = 0.3
WATCH_SETTLE_S = 0.5
_WAIT = {"Delay": 0.2, "MaxAttempts": 600}


@dataclass
class DeploySpec:
    """What the user asked `deploy` for."""

    root: Path
    name: str
    handler: str | None
    runtime: str | None
    memory: int | None
    timeout: int | None
    env: dict[str, str] | None
    requirements: Path | None
    publish: bool
    alias: str | None
    options: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.options = {
            key: value
            for key, value in (
                ("Handler", self.handler),
                ("Runtime", self.runtime),
                ("MemorySize", self.memory),
                ("Timeout", self.timeout),
                ("Environment", {"Variables": self.env} if self.env is not None else None),
            )
            if value is not None
        }


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str] | None:
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        out[key] = value
    return out


def _existing(client: Any, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.get_function(FunctionName=name)["Configuration"]
        return found
    except client.exceptions.ResourceNotFoundException:
        return None


def _wait(client: Any, waiter: str, name: str) -> None:
    client.get_waiter(waiter).wait(FunctionName=name, WaiterConfig=_WAIT)


def deploy_once(client: Any, spec: DeploySpec) -> dict[str, Any]:
    """Create or update the function from `spec`; the final configuration (+ Version/Alias)."""
    current = _existing(client, spec.name)
    runtime = spec.runtime or (current or {}).get("Runtime") or "python3.12"
    code = package(spec.root, spec.requirements, runtime)
    if current is None:
        options = {"Handler": "app.handler", "Runtime": runtime, **spec.options}
        client.create_function(
            FunctionName=spec.name, Role=DEFAULT_ROLE, Code={"ZipFile": code}, **options
        )
        _wait(client, "function_active_v2", spec.name)
    else:
        if spec.options:
            client.update_function_configuration(FunctionName=spec.name, **spec.options)
            _wait(client, "function_updated_v2", spec.name)
        client.update_function_code(FunctionName=spec.name, ZipFile=code)
        _wait(client, "function_updated_v2", spec.name)
    out: dict[str, Any] = client.get_function(FunctionName=spec.name)["Configuration"]
    version = "$LATEST"
    if spec.publish:
        version = client.publish_version(FunctionName=spec.name)["Version"]
        out["Version"] = version
    if spec.alias:
        try:
            client.update_alias(FunctionName=spec.name, Name=spec.alias, FunctionVersion=version)
        except client.exceptions.ResourceNotFoundException:
            client.create_alias(FunctionName=spec.name, Name=spec.alias, FunctionVersion=version)
        out["Alias"] = f"{spec.alias} -> {version}"
    return out


def _report(out: dict[str, Any], created_or_updated: str) -> None:
    click.echo(f"{created_or_updated} {out['FunctionName']}")
    click.echo(f"  arn:        {out['FunctionArn']}")
    click.echo(f"  CodeSha256: {out['CodeSha256']}")
    click.echo(f"  state:      {out.get('State')} / {out.get('LastUpdateStatus')}")
    for key in ("Version", "Alias"):
        if key in out:
            click.echo(f"  {key.lower() + ':':11} {out[key]}")


def _deploy_and_report(client: Any, spec: DeploySpec) -> bool:
    from botocore.exceptions import ClientError, WaiterError

    verb = "updated" if _existing(client, spec.name) else "created"
    try:
        _report(deploy_once(client, spec), verb)
    except (ClientError, WaiterError, RuntimeError) as exc:
        click.echo(f"deploy failed: {exc}", err=True)
        return False
    return True


def _watch(client: Any, spec: DeploySpec, seen: Fingerprint, max_redeploys: int | None) -> None:
    """Redeploy whenever the folder's fingerprint moves away from `seen` (taken before the
    first deploy, so a change made while it ran is not missed)."""
    redeploys = 0
    click.echo(f"watching {spec.root} for changes (Ctrl-C stops)")
    while max_redeploys is None or redeploys < max_redeploys:
        time.sleep(WATCH_POLL_S)
        now = fingerprint(spec.root)
        if now == seen:
            continue
        while True:  # debounce: wait until the folder stays still
            time.sleep(WATCH_SETTLE_S)
            settled = fingerprint(spec.root)
            if settled == now:
                break
            now = settled
        seen = now
        redeploys += 1
        click.echo(f"change seen; redeploying ({time.strftime('%H:%M:%S')})")
        _deploy_and_report(client, spec)


@click.command()
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option("--name", "-n", required=True, help="Function name.")
@click.option("--handler", help="module.function [default: app.handler on create].")
@click.option("--runtime", help="python3.x or provided.al2023 [default: python3.12 on create].")
@click.option("--memory", type=click.IntRange(128, 10240), help="MemorySize in MB.")
@click.option("--timeout", type=click.IntRange(1, 900), help="Timeout in seconds.")
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="K=V",
    help="Environment variable (repeat; replaces the whole set).",
)
@click.option(
    "--requirements",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="requirements.txt to vendor into the package (pip --target).",
)
@click.option("--publish", is_flag=True, help="Publish a version after deploying.")
@click.option("--alias", help="Point this alias at the published version (or $LATEST).")
@click.option("--watch", is_flag=True, help="Redeploy on every change to the folder.")
@click.option(
    "--max-redeploys",
    type=click.IntRange(1),
    hidden=True,
    help="With --watch: stop after this many redeploys (for scripts).",
)
@endpoint_option
def deploy(
    directory: Path,
    name: str,
    handler: str | None,
    runtime: str | None,
    memory: int | None,
    timeout: int | None,
    env_pairs: tuple[str, ...],
    requirements: Path | None,
    publish: bool,
    alias: str | None,
    watch: bool,
    max_redeploys: int | None,
    endpoint_url: str,
) -> None:
    """Package DIRECTORY and create or update function NAME from it."""
    spec = DeploySpec(
        directory.resolve(),
        name,
        handler,
        runtime,
        memory,
        timeout,
        _parse_env(env_pairs),
        requirements,
        publish,
        alias,
    )
    client = lambda_client(endpoint_url)
    before = fingerprint(spec.root)
    ok = _deploy_and_report(client, spec)
    if watch:
        try:
            _watch(client, spec, before, max_redeploys)
        except KeyboardInterrupt:
            click.echo("stopped watching")
        return
    if not ok:
        raise SystemExit(1)
