"""`lamina serve`: its options are generated from `Settings` (config.py), one per field.

A flag, its LAMINA_* variable, default and help are defined once, on the field; this module
only turns each into a click option. Running the node (uvicorn, the Node) is in cli/server.py,
imported when the command runs so that other commands start fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from lamina.config import Flag, Settings, flags

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(command: F) -> F:
    """Decorate `command` with one click option per `Settings` field, in field order."""
    for flag in reversed(flags()):
        command = _option(flag)(command)
    return command


def _option(flag: Flag) -> Callable[[F], F]:
    if flag.kind is bool:
        declarations = [f"{flag.option}/--no-{flag.option[2:]}", flag.name]
    else:
        declarations = [flag.option, flag.name]
    return click.option(
        *declarations,
        envvar=flag.envvar,
        default=flag.default,
        type=_click_type(flag),
        help=flag.help or None,
        multiple=flag.multiple,
    )


def _click_type(flag: Flag) -> click.ParamType[Any] | None:
    if flag.choices:
        return click.Choice(flag.choices)
    if flag.minimum is not None and flag.kind is float:
        return click.FloatRange(min=flag.minimum)
    if flag.minimum is not None:
        return click.IntRange(min=int(flag.minimum))
    if flag.kind is Path:
        return click.Path(path_type=Path)
    if flag.kind is bool:
        return None
    return click.types.convert_type(flag.kind)


@click.command()
@settings_options
def serve(**options: Any) -> None:
    """Start a node in the foreground; stops cleanly on SIGTERM / SIGINT."""
    from lamina.cli.server import run

    run(Settings(**options))
