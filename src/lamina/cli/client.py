"""`lamina invoke`, `lamina logs` and `lamina queue`: talk to a running node as a user would."""

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


def lambda_client(endpoint: str, service: str = "lambda") -> Any:
    """A boto3 client of `service` for the node at `endpoint` (no retries, long reads)."""
    import boto3
    from botocore.config import Config

    creds = credentials()  # the caller's keys when configured (nodes with --auth-keys need them)
    # a session per client: building clients on the shared default session is not thread-safe
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=region(),
        aws_access_key_id=creds.access_key if creds else "lamina",
        aws_secret_access_key=creds.secret_key if creds else "lamina",
        aws_session_token=creds.token if creds else None,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=960),
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
@click.option("--count", "-n", default=1, type=click.IntRange(1), help="Invocations to make.")
@click.option(
    "--concurrency",
    "-c",
    default=1,
    type=click.IntRange(1, 1000),
    help="Invocations in flight at once (with --count).",
)
@endpoint_option
def invoke(
    name: str,
    payload: str | None,
    qualifier: str | None,
    tail: bool,
    count: int,
    concurrency: int,
    endpoint_url: str,
) -> None:
    """Invoke NAME synchronously and print its result; exit 1 on a function error.

    With --count N (and --concurrency C) it invokes N times, C at once, shows a progress bar,
    then a latency histogram and a table of outcomes (throttles and function errors are
    outcomes to report, not failures of the command: it exits 0).
    """
    from botocore.exceptions import ClientError

    args: dict[str, Any] = {"FunctionName": name, "Payload": read_payload(payload)}
    if qualifier:
        args["Qualifier"] = qualifier
    if count > 1 or concurrency > 1:
        _invoke_many(endpoint_url, args, count, concurrency)
        return
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


def _invoke_many(endpoint_url: str, args: dict[str, Any], count: int, concurrency: int) -> None:
    from rich.console import Console

    from lamina.cli.load import histogram, run_load, summary

    console = Console()
    result = run_load(lambda: lambda_client(endpoint_url), args, count, concurrency, console)
    console.print(histogram(result.latencies_ms))
    console.print(summary(result))


#: Styles of the platform lines in `lamina logs`.
LINE_STYLES = {"START": "green", "END": "blue", "REPORT": "cyan", "INIT_REPORT": "cyan"}


def styled(message: str) -> Any:
    """A log line as rich Text: platform lines coloured, errors and timeouts red."""
    from rich.text import Text

    head = message.split(" ", 1)[0]
    style = LINE_STYLES.get(head)
    if style is None and ("Error" in message or "Task timed out" in message):
        style = "red"
    return Text(message, style=style or "")


def _logs_client(endpoint: str) -> Any:
    return lambda_client(endpoint, service="logs")


def _recent_events(
    endpoint_url: str, name: str, pattern: str | None, limit: int
) -> list[dict[str, Any]]:
    """The last `limit` matching events of the function's log group, oldest first."""
    from botocore.exceptions import ClientError

    client = _logs_client(endpoint_url)
    args: dict[str, Any] = {"logGroupName": f"/aws/lambda/{name}", "filterPattern": pattern or ""}
    events: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("filter_log_events").paginate(**args):
            events = (events + page["events"])[-limit:]
    except client.exceptions.ResourceNotFoundException:
        return []
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    return events


@click.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as they come.")
@click.option("--filter", "pattern", help='CloudWatch filter pattern: terms, "phrase", ?any, -not.')
@click.option("--limit", default=200, show_default=True, help="Recent lines to show first.")
@endpoint_option
def logs(name: str, follow: bool, pattern: str | None, limit: int, endpoint_url: str) -> None:
    """Print the log lines of function NAME (START, END and REPORT in colour)."""
    from rich.console import Console

    from lamina.errors import LogsError
    from lamina.logs.patterns import compile_pattern

    console = Console(highlight=False, soft_wrap=True)
    try:
        matches = compile_pattern(pattern)  # a bad pattern fails here, before any request
    except LogsError as exc:
        raise click.BadParameter(exc.message, param_hint="--filter") from exc
    recent = _recent_events(endpoint_url, name, pattern, limit)
    for event in recent:
        console.print(styled(event["message"]))
    if not follow:
        return
    # then what comes after the newest line shown (event ids are the store's, in write order)
    after = max((int(e["eventId"]) for e in recent), default=0)
    url = f"{endpoint_url}/lamina/v1/functions/{name}/logs"
    try:
        with httpx.stream(
            "GET",
            url,
            params={"follow": "1", "after": str(after)},
            timeout=None,
            auth=http_auth(),
        ) as resp:
            for raw in resp.iter_lines():
                message = msgspec.json.decode(raw)["message"] if raw else None
                if message is not None and matches(message):
                    console.print(styled(message))
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot read logs: {exc}") from exc


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
