"""`lamina serve | invoke | logs | queue …`; every flag also reads LAMINA_<NAME>."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from lamina import __version__
from lamina.config import Settings


@click.group(context_settings={"show_default": True})
@click.version_option(__version__, prog_name="lamina")
def cli() -> None:
    """Lamina: AWS Lambda's execution model, self-hosted."""


@cli.command()
@click.option("--host", envvar="LAMINA_HOST", default=Settings.host, help="Address to listen on.")
@click.option(
    "--port", envvar="LAMINA_PORT", default=Settings.port, type=int, help="Port to listen on."
)
@click.option(
    "--data-dir",
    envvar="LAMINA_DATA_DIR",
    default=".lamina",
    type=click.Path(path_type=Path),
    help="Where state lives.",
)
@click.option(
    "--store",
    envvar="LAMINA_STORE",
    default=Settings.store,
    help="sqlite (embedded), memory (nothing kept across restarts) or redis://host:port/db.",
)
@click.option(
    "--account-concurrency",
    envvar="LAMINA_ACCOUNT_CONCURRENCY",
    default=Settings.account_concurrency,
    type=click.IntRange(1),
)
@click.option(
    "--async-retry-base-delay",
    envvar="LAMINA_ASYNC_RETRY_BASE_DELAY",
    default=Settings.async_retry_base_delay,
    type=float,
    help="Seconds before the first async retry; the second waits twice as long.",
)
@click.option("--region", envvar="LAMINA_REGION", default=Settings.region)
@click.option("--account-id", envvar="LAMINA_ACCOUNT_ID", default=Settings.account_id)
@click.option(
    "--env-idle-timeout",
    envvar="LAMINA_ENV_IDLE_TIMEOUT",
    default=Settings.env_idle_timeout,
    type=float,
    help="Seconds an idle execution environment is kept warm.",
)
@click.option(
    "--log-level",
    envvar="LAMINA_LOG_LEVEL",
    default=Settings.log_level,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--fork-server/--no-fork-server",
    envvar="LAMINA_FORK_SERVER",
    default=Settings.fork_server,
    help="Start environments by forking a pre-imported template (fast cold starts).",
)
@click.option(
    "--unreserved-minimum",
    envvar="LAMINA_UNRESERVED_MINIMUM",
    type=click.IntRange(min=0),
    default=None,
    help="Concurrency reservations must leave unreserved [default: min(100, limit / 10)].",
)
@click.option(
    "--memory-budget",
    envvar="LAMINA_MEMORY_BUDGET",
    type=click.IntRange(min=128),
    default=None,
    help="MB of MemorySize all live environments may sum to [default: 3/4 of RAM].",
)
@click.option(
    "--fsync/--no-fsync",
    envvar="LAMINA_FSYNC",
    default=Settings.fsync,
    help="Flush every commit to disk (survives a power cut; slower). Without it a commit"
    " survives kill -9 of the node, and WAL checkpoints are flushed.",
)
@click.option(
    "--log-retention-mb",
    envvar="LAMINA_LOG_RETENTION_MB",
    type=click.FloatRange(min=0.01),
    default=Settings.log_retention_mb,
    help="MB of function log kept per function (log group); the oldest lines go first.",
)
@click.option(
    "--log-retention-total-mb",
    envvar="LAMINA_LOG_RETENTION_TOTAL_MB",
    type=click.FloatRange(min=0.01),
    default=Settings.log_retention_total_mb,
    help="MB of function log kept for the whole node; the oldest lines of any function go first.",
)
@click.option(
    "--log-file",
    envvar="LAMINA_LOG_FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the node's own log to this file, rotated by size.",
)
@click.option(
    "--log-file-max-mb",
    envvar="LAMINA_LOG_FILE_MAX_MB",
    type=click.FloatRange(min=0.01),
    default=Settings.log_file_max_mb,
    help="Size at which --log-file rotates; 5 older files are kept.",
)
def serve(**options: object) -> None:
    """Start a node in the foreground; stops cleanly on SIGTERM / SIGINT."""
    from lamina.cli.serve import run

    settings = Settings(**options)  # type: ignore[arg-type]
    run(settings)


def _register() -> None:
    from lamina.cli.client import invoke, logs, queue
    from lamina.cli.storage import storage

    cli.add_command(invoke)
    cli.add_command(storage)
    cli.add_command(logs)
    cli.add_command(queue)


_register()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s"
    )
    cli()
