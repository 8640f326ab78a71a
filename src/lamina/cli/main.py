"""`lamina serve | invoke | logs | queue …`; every flag also reads LAMINA_<NAME>."""

from __future__ import annotations

import logging

import click

from lamina import __version__


@click.group(context_settings={"show_default": True})
@click.version_option(__version__, prog_name="lamina")
def cli() -> None:
    """Lamina: AWS Lambda's execution model, self-hosted."""


def _register() -> None:
    from lamina.cli.client import invoke, logs, queue
    from lamina.cli.serve import serve

    cli.add_command(serve)
    cli.add_command(invoke)
    cli.add_command(logs)
    cli.add_command(queue)


_register()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s"
    )
    cli()
