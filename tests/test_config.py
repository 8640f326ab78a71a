"""`lamina serve`'s options come from `Settings`: one per field, each with its LAMINA_* variable."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import click
import pytest

from lamina.cli.serve import serve
from lamina.config import Settings


def parsed(*args: str) -> Settings:
    """The Settings `lamina serve ARGS` would start a node with."""
    ctx = serve.make_context("serve", list(args))
    return Settings(**ctx.params)


def test_every_settings_field_is_a_serve_option_with_its_variable() -> None:
    options = {p.name: p for p in serve.params if isinstance(p, click.Option)}
    assert list(options) == [f.name for f in fields(Settings)]
    for name, option in options.items():
        assert option.envvar == "LAMINA_" + name.upper()
        assert option.opts[0] == "--" + name.replace("_", "-")


def test_defaults_flags_and_variables_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parsed() == Settings()
    monkeypatch.setenv("LAMINA_ACCOUNT_CONCURRENCY", "7")
    monkeypatch.setenv("LAMINA_FORK_SERVER", "false")
    got = parsed("--data-dir", "somewhere", "--memory-budget", "512", "--fsync")
    assert got.account_concurrency == 7 and got.fork_server is False and got.fsync is True
    assert got.data_dir == Path("somewhere") and got.memory_budget == 512
    assert got.unreserved_minimum is None


def test_out_of_range_and_unknown_choices_are_refused() -> None:
    with pytest.raises(click.BadParameter):
        parsed("--account-concurrency", "0")
    with pytest.raises(click.BadParameter):
        parsed("--log-level", "loud")
