"""Fixtures of the control-layer tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The control tests' async tests run on asyncio."""
    return "asyncio"
