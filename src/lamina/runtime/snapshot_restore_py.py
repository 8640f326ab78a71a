"""SnapStart runtime hooks, under the names AWS's Python runtimes ship (`snapshot_restore_py`).

A handler module registers functions at import time (init):

    from snapshot_restore_py import register_after_restore, register_before_snapshot

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reseed, "numpy", strict=True)

Before-snapshot hooks run once, in the version's template, after init and in reverse
registration order; after-restore hooks run in every environment restored from it, in
registration order, before its first invocation. The runtime (`lamina_runtime.snapshot`)
reads the lists with `get_before_snapshot` / `get_after_restore`.

The runtime directory holds this file at its top level, so `import snapshot_restore_py` finds
it as it does on AWS. Standard library only, Python 3.9 syntax.
"""

from __future__ import annotations

from typing import Any, Callable

#: One registered hook: the function and the arguments it is called with.
Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []


def register_before_snapshot(
    func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Callable[..., Any]:
    """Run `func(*args, **kwargs)` before the snapshot is taken; usable as a decorator."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(
    func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Callable[..., Any]:
    """Run `func(*args, **kwargs)` in each environment restored from the snapshot; usable as
    a decorator."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    """The before-snapshot hooks in registration order (the runtime runs them reversed)."""
    return list(_before_snapshot)


def get_after_restore() -> list[Hook]:
    """The after-restore hooks in registration order."""
    return list(_after_restore)
