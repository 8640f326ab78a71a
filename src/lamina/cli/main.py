"""`lamina serve | deploy | layer | invoke | logs | ls | top | queue | runtimes …`.

Flags also read LAMINA_<NAME>."""

from __future__ import annotations

import logging

import click

from lamina import __version__

#: Libraries whose INFO lines (httpx's "HTTP Request: …") must not reach a user's terminal.
QUIET_LIBRARIES = ("httpx", "httpcore", "botocore", "boto3", "urllib3")


@click.group(context_settings={"show_default": True})
@click.version_option(__version__, prog_name="lamina")
def cli() -> None:
    """Lamina: AWS Lambda's execution model, self-hosted."""


def _register() -> None:
    from lamina.cli.client import invoke, logs, queue
    from lamina.cli.deploy import deploy
    from lamina.cli.layers import layer
    from lamina.cli.runtimes import runtimes
    from lamina.cli.serve import serve
    from lamina.cli.storage import storage
    from lamina.cli.views import ls, top

    for command in (serve, deploy, layer, invoke, logs, ls, top, queue, storage, runtimes):
        cli.add_command(command)


_register()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s"
    )
    for library in QUIET_LIBRARIES:  # their INFO lines are noise in a user's terminal
        logging.getLogger(library).setLevel(logging.WARNING)
    cli()
