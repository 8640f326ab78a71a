"""What `lamina deploy` puts in a deployment package, and when --watch sees a change."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from lamina.cli.packaging import build_zip, fingerprint


def names(root: Path) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(build_zip(root))) as zf:
        return zf.namelist()


def write(root: Path, *paths: str) -> None:
    for rel in paths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)


def test_ignore_files_and_always_ignored_names_are_left_out(tmp_path: Path) -> None:
    write(
        tmp_path,
        "app.py",
        "pkg/mod.py",
        "pkg/__pycache__/mod.cpython-312.pyc",
        ".git/HEAD",
        ".venv/lib/x.py",
        "build/out.txt",
        "src/build/keep.txt",
        "notes.log",
        "keep.log",
        "secret.txt",
        "sub/secret.txt",
        "docs/a/b.md",
        "docs/top.md",
    )
    (tmp_path / ".gitignore").write_text("# comment\n*.log\n!keep.log\n/secret.txt\n")
    (tmp_path / ".laminaignore").write_text("/build/\ndocs/**/*.md\n")
    # as in git, docs/**/*.md also matches docs/top.md
    assert names(tmp_path) == [
        ".gitignore",
        ".laminaignore",
        "app.py",
        "keep.log",
        "pkg/mod.py",
        "src/build/keep.txt",
        "sub/secret.txt",
    ]


def test_fingerprint_changes_with_packaged_files_only(tmp_path: Path) -> None:
    write(tmp_path, "app.py")
    (tmp_path / ".gitignore").write_text("*.log\n")
    before = fingerprint(tmp_path)
    write(tmp_path, "debug.log")
    assert fingerprint(tmp_path) == before
    (tmp_path / "app.py").write_text("changed, longer than before")
    assert fingerprint(tmp_path) != before
