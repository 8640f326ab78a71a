"""Deployment packages from a folder: which files go in (`.laminaignore` / `.gitignore`),
the zip itself, a fingerprint to notice changes, and vendored requirements.

Ignore files use the gitignore shapes people write: `# comment`, `*.log`, `build/` (a folder
anywhere), `/secret.txt` (anchored at the folder's root), `docs/**/*.md`, `!keep.log`
(re-include). Version-control folders, caches and virtualenvs are always left out.
"""

from __future__ import annotations

import fnmatch
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Names never packaged, wherever they are.
ALWAYS_IGNORED = (
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".venv",
    "venv",
    ".lamina",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".DS_Store",
    "*.pyc",
)
#: Ignore files read from the root of the folder, in this order.
IGNORE_FILES = (".gitignore", ".laminaignore")


@dataclass(frozen=True)
class _Rule:
    pattern: str
    negated: bool
    anchored: bool
    folder_only: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        if self.folder_only and not is_dir:
            return False
        if self.anchored or "/" in self.pattern:
            return fnmatch.fnmatchcase(relative, self.pattern) or fnmatch.fnmatchcase(
                relative, self.pattern.replace("**/", "")
            )
        return fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], self.pattern)


def _parse_rule(line: str) -> _Rule | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    line = line.removeprefix("!")
    folder_only = line.endswith("/")
    line = line.rstrip("/")
    anchored = line.startswith("/")
    return _Rule(line.lstrip("/"), negated, anchored, folder_only)


class IgnoreRules:
    """The ignore rules of one folder; the last matching rule decides, as in git."""

    def __init__(self, root: Path) -> None:
        self.rules = [r for p in ALWAYS_IGNORED if (r := _parse_rule(p))]
        for name in IGNORE_FILES:
            path = root / name
            if path.is_file():
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                self.rules += [r for line in lines if (r := _parse_rule(line))]

    def ignored(self, relative: str, is_dir: bool) -> bool:
        verdict = False
        for rule in self.rules:
            if rule.matches(relative, is_dir):
                verdict = not rule.negated
        return verdict


def package_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(path, name in the zip) of every file of `root` that is not ignored, sorted by name."""
    rules = IgnoreRules(root)
    found: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        rel_base = base.relative_to(root).as_posix()
        prefix = "" if rel_base == "." else f"{rel_base}/"
        dirs[:] = [d for d in dirs if not rules.ignored(prefix + d, True)]
        found += [(base / f, prefix + f) for f in files if not rules.ignored(prefix + f, False)]
    yield from sorted(found, key=lambda item: item[1])


#: (name, size, mtime in ns) of every packaged file, in name order.
Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(root: Path) -> Fingerprint:
    """What changes when a packaged file is added, removed or written."""
    out = []
    for path, name in package_files(root):
        try:
            st = path.stat()
        except FileNotFoundError:  # removed while we looked: the next look sees it
            continue
        out.append((name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def build_zip(root: Path, vendored: Path | None = None, vendored_under: str = "") -> bytes:
    """The deployment package: `vendored` packages at the zip root (or under the folder
    `vendored_under`, a layer's `python/`), then the folder's files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if vendored is not None:
            prefix = f"{vendored_under.strip('/')}/" if vendored_under else ""
            for path in sorted(vendored.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, prefix + path.relative_to(vendored).as_posix())
        for path, name in package_files(root):
            zf.write(path, name)
    return buf.getvalue()


def vendor_requirements(requirements: Path, runtime: str, target: Path) -> None:
    """`pip install -r requirements --target target` for the CPython of `runtime`.

    Raises RuntimeError with pip's output when pip fails.
    """
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    wanted = runtime.removeprefix("python")
    if runtime.startswith("python") and wanted != f"{sys.version_info[0]}.{sys.version_info[1]}":
        # another interpreter's packages: wheels only, picked for that version
        cmd += ["--python-version", wanted, "--only-binary=:all:", "--implementation", "cp"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=requirements.parent)
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install {requirements}:\n{done.stderr or done.stdout}")


def package(root: Path, requirements: Path | None, runtime: str, vendored_under: str = "") -> bytes:
    """The zip of `root`, with `requirements` vendored for `runtime` when given (at the zip
    root, or under the folder `vendored_under`)."""
    if requirements is None:
        return build_zip(root)
    with tempfile.TemporaryDirectory(prefix="lamina-vendor-") as tmp:
        vendor_requirements(requirements, runtime, Path(tmp))
        return build_zip(root, Path(tmp), vendored_under)
