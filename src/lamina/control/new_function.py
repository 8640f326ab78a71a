"""NewFunction: what CreateFunction asks for, once the API has checked its shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lamina.control.code import CodePackage
from lamina.control.models import LayerRef


@dataclass(frozen=True)
class NewFunction:
    """What CreateFunction asks for, already validated by the caller's shape."""

    name: str
    role: str
    runtime: str
    handler: str
    code: CodePackage
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    ephemeral_storage: int = 512
    variables: dict[str, str] | None = None
    dead_letter_target: str | None = None
    architectures: tuple[str, ...] = ("x86_64",)
    tracing_mode: str = "PassThrough"
    tags: Mapping[str, str] | None = None
    publish: bool = False
    layers: tuple[LayerRef, ...] = ()
    snap_start: str = "None"
