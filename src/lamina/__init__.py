"""Lamina: a self-hosted, AWS-Lambda-compatible function platform."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
