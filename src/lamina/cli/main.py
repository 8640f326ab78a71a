"""`lamina serve | deploy | invoke | logs | ls | top | queue …`; flags also read LAMINA_<NAME>."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from lamina import __version__
from lamina.config import Settings

#: Libraries whose INFO lines (httpx's "HTTP Request: …") must not reach a user's terminal.
QUIET_LIBRARIES = ("httpx", "httpcore", "botocore", "boto3", "urllib3")


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
def serve(**options: object) -> None:
    """Start a node in the foreground; stops cleanly on SIGTERM / SIGINT."""
    from lamina.cli.serve import run

    settings = Settings(**options)  # type: ignore[arg-type]
    run(settings)


def _register() -> None:
    from lamina.cli.client import invoke, logs, queue
    from lamina.cli.deploy import deploy
    from lamina.cli.views import ls, top

    for command in (deploy, invoke, logs, ls, top, queue):
        cli.add_command(command)


_register()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s"
    )
    for library in QUIET_LIBRARIES:  # their INFO lines are noise in a user's terminal
        logging.getLogger(library).setLevel(logging.WARNING)
    cli()
