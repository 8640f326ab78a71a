"""The runtime directory (AWS's LAMBDA_RUNTIME_DIR, /var/runtime): the runtime and what AWS's
Python runtime ships besides the standard library.

It holds the stdlib-only runtime package (`lamina.runtime` as `lamina_runtime`), SnapStart's
`snapshot_restore_py` at its top level, and boto3,
botocore and their pure-Python dependencies taken from the node's own installation. It is made
once per node data directory, in a subdirectory named by a digest of the runtime's sources and
those libraries' versions (so an upgrade of either makes a new one), hard-linked where the file
system allows and copied otherwise: from a per-user seed copy that also collects the bytecode
each interpreter's template compiled (so the next node's templates start without compiling
boto3), else from the node's own files. A function's sys.path has it after the
code and the layers, before the standard library; never the node's site-packages, so handlers
cannot import what only the node has (starlette, msgspec, lamina itself).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from lamina.runtime import protocol

log = logging.getLogger("lamina.engine.runtime_dir")

#: Name of the runtime package inside the runtime directory.
RUNTIME_PACKAGE = "lamina_runtime"
#: Modules of the runtime package also placed at the top level, importable by handlers as on
#: AWS (SnapStart's runtime hooks).
TOP_LEVEL_MODULES = ("snapshot_restore_py",)
#: Distributions AWS's Python runtimes ship, copied from the node's installation.
SHIPPED_DISTRIBUTIONS = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)


def _runtime_sources() -> list[Path]:
    return sorted(Path(protocol.__file__).parent.glob("*.py"))


def _distributions() -> list[importlib.metadata.Distribution]:
    found = []
    for name in SHIPPED_DISTRIBUTIONS:
        try:
            found.append(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            log.warning("%s is not installed on this node; handlers will not find it", name)
    return found


def shipped_versions() -> dict[str, str]:
    """{distribution: version} of what the runtime directory ships."""
    return {d.metadata["Name"]: d.version for d in _distributions()}


def key() -> str:
    """The digest naming the runtime directory of this node's sources and libraries."""
    digest = hashlib.sha256()
    for source in _runtime_sources():
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    for name, version in sorted(shipped_versions().items()):
        digest.update(f"{name}=={version}\0".encode())
    return digest.hexdigest()[:16]


def default_root() -> Path:
    """Where runtime directories go when no data directory is given (tests, tools)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(cache) / "lamina" / "runtime"


def prepare(root: Path) -> Path:
    """The runtime directory under `root`, made now if missing (blocking: run off the loop).

    It is linked from this user's seed copy (`default_root()`, made first if missing), whose
    files include the bytecode other nodes' templates compiled (`harvest`), so a new node's
    templates need not compile boto3 again; from the node's installation when there is no seed.
    Where `root` has no room for it, the seed itself is the runtime directory.
    """
    target = root.absolute() / key()
    if target.is_dir():
        return target
    seed = _seed(target)
    try:
        _make(target, (lambda tmp: _link_tree(seed, tmp)) if seed is not None else _build)
    except OSError as exc:  # a full or small data directory: the seed serves as well
        if seed is None:
            raise
        log.warning("no runtime directory in %s (%s); environments use %s", root, exc, seed)
        return seed
    log.info("runtime directory ready: %s", target)
    return target


def harvest(directory: Path) -> None:
    """Link the bytecode compiled in `directory` into the seed, for the next nodes' copies."""
    seed = default_root().absolute() / directory.name
    if seed == directory or not seed.is_dir():
        return
    for folder, _, names in os.walk(directory):
        if os.path.basename(folder) != "__pycache__":
            continue
        for name in names:
            source = Path(folder, name)
            with contextlib.suppress(OSError):
                _link_or_copy(source, seed / source.relative_to(directory))


def _seed(target: Path) -> Path | None:
    seed = default_root().absolute() / target.name
    if seed == target:
        return None
    try:
        if not seed.is_dir():
            _make(seed, _build)
    except OSError as exc:  # no writable cache: build from the installation
        log.info("no runtime seed in %s (%s)", seed.parent, exc)
        return None
    return seed


def _make(target: Path, build: Callable[[Path], None]) -> None:
    """Build into a temporary sibling, then rename it to `target` (a concurrent maker wins)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another node made it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _link_tree(source: Path, target: Path) -> None:
    for folder, _, names in os.walk(source):
        for name in names:
            path = Path(folder, name)
            _link_or_copy(path, target / path.relative_to(source))


def _build(directory: Path) -> None:
    package = directory / RUNTIME_PACKAGE
    package.mkdir(parents=True)
    for source in _runtime_sources():
        shutil.copy2(source, package / source.name)
    (package / "__init__.py").write_text('"""Lamina\'s runtime, as environments import it."""\n')
    for name in TOP_LEVEL_MODULES:
        shutil.copy2(package / f"{name}.py", directory / f"{name}.py")
    for dist in _distributions():
        files = dist.files
        if files is None:
            log.warning("%s lists no files; it is left out of the runtime", dist.metadata["Name"])
            continue
        for file in files:
            if file.parts[0] == ".." or file.parts[0].endswith(".data"):
                continue  # scripts and data installed outside site-packages
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                _link_or_copy(source, directory / file)


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        try:
            os.link(source, target)
        except FileExistsError:
            raise
        except OSError:  # another file system, or links not allowed
            shutil.copy2(source, target)
