"""`lamina invoke` and `lamina logs`: talk to a running node as a user would."""

from __future__ import annotations

import base64
import sys
from datetime import UTC, datetime
from typing import Any

import click
import httpx
import msgspec

from lamina.auth.client import credentials, http_auth, region

#: Default node URL for client commands.
DEFAULT_ENDPOINT = "http://127.0.0.1:9001"

endpoint_option = click.option(
    "--endpoint-url",
    envvar="LAMINA_ENDPOINT_URL",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="The node to talk to.",
)


def lambda_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    creds = credentials()  # the caller's keys when configured (nodes with --auth-keys need them)
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=region(),
        aws_access_key_id=creds.access_key if creds else "lamina",
        aws_secret_access_key=creds.secret_key if creds else "lamina",
        aws_session_token=creds.token if creds else None,
        config=Config(retries={"max_attempts": 1}, read_timeout=960),
    )


def read_payload(payload: str | None) -> bytes:
    """`JSON`, `@file` or `-` (stdin)."""
    if payload is None:
        return b"{}"
    if payload == "-":
        return sys.stdin.buffer.read()
    if payload.startswith("@"):
        with open(payload[1:], "rb") as fh:
            return fh.read()
    return payload.encode()


@click.command()
@click.argument("name")
@click.option("--payload", "-p", help="JSON text, @file, or - for stdin.")
@click.option("--qualifier", "-q", help="Version or alias.")
@click.option("--tail", is_flag=True, help="Print the last 4 KB of the invocation's log.")
@endpoint_option
def invoke(
    name: str, payload: str | None, qualifier: str | None, tail: bool, endpoint_url: str
) -> None:
    """Invoke NAME synchronously and print its result; exit 1 on a function error."""
    from botocore.exceptions import ClientError

    args: dict[str, Any] = {"FunctionName": name, "Payload": read_payload(payload)}
    if qualifier:
        args["Qualifier"] = qualifier
    if tail:
        args["LogType"] = "Tail"
    try:
        out = lambda_client(endpoint_url).invoke(**args)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    if tail and "LogResult" in out:
        click.echo(base64.b64decode(out["LogResult"]).decode(errors="replace"), err=True)
    click.echo(out["Payload"].read().decode(errors="replace"))
    if out.get("FunctionError"):
        sys.exit(1)


@click.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as they come.")
@click.option("--limit", default=200, show_default=True, help="Lines to show (without --follow).")
@endpoint_option
def logs(name: str, follow: bool, limit: int, endpoint_url: str) -> None:
    """Print the log lines of function NAME."""
    url = f"{endpoint_url}/lamina/v1/functions/{name}/logs"
    try:
        if follow:
            with httpx.stream(
                "GET", url, params={"follow": "1"}, timeout=None, auth=http_auth()
            ) as resp:
                for line in resp.iter_lines():
                    if line:
                        click.echo(msgspec.json.decode(line)["message"])
            return
        resp = httpx.get(url, params={"limit": 10_000}, timeout=30, auth=http_auth())
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot read logs: {exc}") from exc
    for event in resp.json()["events"][-limit:]:
        click.echo(event["message"])


@click.group()
def queue() -> None:
    """Inspect and steer a function's async queue (what AWS doesn't let you see)."""


def _queue_call(method: str, endpoint_url: str, name: str, suffix: str = "", **params: Any) -> Any:
    url = f"{endpoint_url}/lamina/v1/functions/{name}/async-queue{suffix}"
    try:
        resp = httpx.request(method, url, params=params or None, timeout=30, auth=http_auth())
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {endpoint_url}: {exc}") from exc
    if resp.status_code >= 400:
        raise click.ClickException(resp.text)
    return resp.json()


@queue.command("stats")
@click.argument("name")
@endpoint_option
def queue_stats(name: str, endpoint_url: str) -> None:
    """Depth, in flight, delayed, oldest age and counters."""
    for key, value in _queue_call("GET", endpoint_url, name).items():
        click.echo(f"{key:24} {value}")


@queue.command("list")
@click.argument("name")
@click.option("--limit", default=100, show_default=True)
@endpoint_option
def queue_list(name: str, limit: int, endpoint_url: str) -> None:
    """Queued events, oldest first: enqueue time, attempts, next attempt time, last error."""
    events = _all_events(endpoint_url, name)
    events.sort(key=lambda e: (e["enqueuedAt"], e["requestId"]))
    for e in events[:limit]:
        fields = [_iso(e["enqueuedAt"]), e["requestId"], f"attempts={e['attempts']}"]
        fields.append(f"next={_iso(e['nextAttemptAt'])}")
        fields += ["in-flight"] if e["inFlight"] else []
        fields += [e["lastError"]] if e["lastError"] else []
        click.echo("  ".join(fields))
    if len(events) >= MAX_LISTED:
        click.echo(f"(only the first {MAX_LISTED} events by request id were read)", err=True)


#: How many events `queue list` reads before sorting them into enqueue order.
MAX_LISTED = 10_000


def _all_events(endpoint_url: str, name: str) -> list[dict[str, Any]]:
    """Every queued event (up to MAX_LISTED); the API pages them by request id."""
    events: list[dict[str, Any]] = []
    after = ""
    while len(events) < MAX_LISTED:
        page = _queue_call("GET", endpoint_url, name, "/events", after=after, limit=1000)
        events.extend(page["events"])
        if "next" not in page:
            break
        after = page["next"]
    return events


def _iso(epoch_s: float) -> str:
    """`2026-12-01T10:26:43.123Z` for an epoch time in seconds."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@queue.command("purge")
@click.argument("name")
@endpoint_option
def queue_purge(name: str, endpoint_url: str) -> None:
    """Delete every queued event that is not running."""
    click.echo(f"purged {_queue_call('DELETE', endpoint_url, name, '/events')['purged']} events")


@queue.command("pause")
@click.argument("name")
@endpoint_option
def queue_pause(name: str, endpoint_url: str) -> None:
    """Stop starting events (running ones finish; concurrency settings are untouched)."""
    _queue_call("POST", endpoint_url, name, "/pause")
    click.echo(f"{name}: paused")


@queue.command("resume")
@click.argument("name")
@endpoint_option
def queue_resume(name: str, endpoint_url: str) -> None:
    """Start processing again."""
    _queue_call("POST", endpoint_url, name, "/resume")
    click.echo(f"{name}: resumed")
