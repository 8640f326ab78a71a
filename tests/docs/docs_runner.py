"""Run the code blocks of a Markdown page as a reader would, against a real node.

The convention every page follows:

- A ```` ```python ```` or ```` ```bash ```` fence is run. The blocks of one page run in order:
  python blocks in one shared namespace, bash blocks in one shell session (`set -e -o pipefail`,
  so any failing command fails the page). Exported shell variables are seen by the python blocks
  that follow, as when a reader exports credentials and then starts Python from that shell.
- The line `<!-- docs: skip (reason) -->` immediately before a fence means "do not run this
  block" (a `lamina serve` start, a `pip install`, something that needs what the test cannot
  give). The reason is required.
- Output is shown in ```` ```text ```` fences, which are never run. The line
  `<!-- docs: output -->` before a text fence makes it checked: each of its non-blank lines must
  appear, in order, in what the run block just above it printed (`…` matches anything).
- Data fences (`json`, `yaml`, `toml`, `ini`, `dockerfile`, `hcl`…) are never run either.
  Fences spelled `console`, `sh`, `shell`, `py` or left without a language are refused, so
  nothing escapes the runner by accident.
- `http://127.0.0.1:9001` and `localhost:9001` are replaced by the test node's address, and
  `LAMINA_ENDPOINT_URL` points the `lamina` client commands at it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import select
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKIP_RE = re.compile(r"^<!--\s*docs:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
OUTPUT_RE = re.compile(r"^<!--\s*docs:\s*output\s*-->\s*$")
FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+)\s*(?P<lang>[^\s`]*)\s*$")
RUN_LANGS = {"python", "bash"}
#: Fences that are never run: output and data.
SHOWN_LANGS = {
    "text",
    "json",
    "yaml",
    "toml",
    "ini",
    "dockerfile",
    "hcl",
    "svg",
    "xml",
    "promql",
    "diff",
}
#: Spellings that would silently dodge the runner: use python, bash or text instead.
REFUSED_LANGS = {"", "console", "sh", "shell", "py", "python3", "pycon", "shell-session", "zsh"}
#: Commands a run block must not contain: mark such a block with a skip line.
NOT_RUNNABLE = re.compile(r"(^|[;&|]\s*)(lamina serve|pip install)\b", re.MULTILINE)
DEFAULT_ENDPOINT = "127.0.0.1:9001"
BLOCK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: str
    line: int  # 1-based line of the first code line
    lang: str
    code: str
    skip: str | None  # the reason, when marked not to run
    checks_output: bool = False  # a text block marked to match the output above it

    @property
    def runs(self) -> bool:
        return self.lang in RUN_LANGS and self.skip is None

    def where(self) -> str:
        return f"{self.page}:{self.line} ({self.lang} block)"


class PageError(AssertionError):
    """A page broke the convention or one of its blocks failed."""


def blocks(path: Path, page: str) -> list[Block]:
    """Every fenced block of `path`; raises PageError for a fence the convention refuses."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, fence, indent = m["lang"].lower(), m["fence"], len(m["indent"])
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        before = lines[i - 1].strip() if i > 0 else ""
        skip = SKIP_RE.match(before)
        body = "\n".join(line[indent:] for line in lines[i + 1 : end])
        reason = skip["reason"] if skip else None
        found.append(Block(page, i + 2, lang, body + "\n", reason, bool(OUTPUT_RE.match(before))))
        _check(found[-1])
        i = end + 1
    return found


def _check(block: Block) -> None:
    if block.checks_output and block.lang != "text":
        raise PageError(f"{block.where()}: `docs: output` marks text blocks only")
    if block.lang in REFUSED_LANGS:
        raise PageError(
            f"{block.where()}: fence language {block.lang or '(none)'!r} is not allowed; use"
            " python or bash (run), or text (output)"
        )
    if block.lang not in RUN_LANGS | SHOWN_LANGS:
        raise PageError(f"{block.where()}: unknown fence language {block.lang!r}")
    if block.runs and NOT_RUNNABLE.search(block.code):
        raise PageError(
            f"{block.where()}: starts a node or installs packages; put"
            " `<!-- docs: skip (reason) -->` on the line before the fence"
        )


def substitute(code: str, endpoint: str) -> str:
    """The block with the default endpoint replaced by the test node's host:port."""
    return code.replace(DEFAULT_ENDPOINT, endpoint).replace("localhost:9001", endpoint)


class Shell:
    """One bash session for a page: variables, functions and `cd` carry over between blocks."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._count = 0
        # On a failing command: which Markdown line it was (DOCS_LINE = the block's first line).
        self._send(
            "set -e -o pipefail\n"
            "trap 'echo \"docs: line $((DOCS_LINE + LINENO - 1)) failed: $BASH_COMMAND\" >&2' ERR\n"
        )

    def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def run(self, block: Block, code: str) -> tuple[str, dict[str, str]]:
        """Run `code`; (its output, the exported environment after it). Raises PageError."""
        self._count += 1
        script = self.workdir / f".block-{self._count}.sh"
        out = self.workdir / f".block-{self._count}.out"
        env_dump = self.workdir / f".block-{self._count}.env"
        script.write_text(code)
        self._send(
            f"DOCS_LINE={block.line}\nsource {script} > {out} 2>&1 < /dev/null\n"
            f"env -0 > {env_dump}\necho __done__\n"
        )
        done = self._wait_line()
        output = out.read_text(errors="replace") if out.exists() else ""
        if done != "__done__":
            raise PageError(
                f"{block.where()} failed (exit status {self.proc.poll()}):\n"
                f"{textwrap.indent(code, '    ')}\noutput:\n{textwrap.indent(output, '    ')}"
            )
        return output, _read_env(env_dump)

    def _wait_line(self) -> str | None:
        """The shell's next line of stdout, or None if it exited or timed out."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], BLOCK_TIMEOUT_S)
        if not ready:
            self.proc.kill()
            return None
        line = self.proc.stdout.readline()
        return line.strip() or None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def _read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in path.read_bytes().split(b"\0"):
        key, sep, value = item.decode(errors="replace").partition("=")
        if sep:
            env[key] = value
    return env


def run_python(block: Block, code: str, namespace: dict[str, Any]) -> str:
    """Exec `code` in the page's namespace; what it printed. Tracebacks show the Markdown
    file's line numbers."""
    source = "\n" * (block.line - 1) + code
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source, block.page, "exec"), namespace)
        return printed.getvalue()
    except Exception as exc:
        raise PageError(
            f"{block.where()} failed:\n{textwrap.indent(code, '    ')}\n"
            f"printed:\n{textwrap.indent(printed.getvalue(), '    ')}\n"
            f"{''.join(traceback.format_exception(exc))}"
        ) from exc
    finally:
        sys.stdout.write(printed.getvalue())


def check_output(shown: Block, output: str) -> None:
    """Each non-blank line of `shown` must match a line of `output`, in order (… = anything)."""
    got = [line.rstrip() for line in output.splitlines()]
    position = 0
    for want in (line.rstrip() for line in shown.code.splitlines() if line.strip()):
        pattern = re.compile(".*?".join(re.escape(part) for part in want.split("…")))
        while position < len(got) and not pattern.fullmatch(got[position]):
            position += 1
        if position == len(got):
            raise PageError(
                f"{shown.where()}: the line {want!r} is not in the output above it, which was:\n"
                f"{textwrap.indent(output, '    ')}"
            )
        position += 1


@dataclass
class PageRun:
    """Runs the blocks of one page in order in `workdir`, against the node at `endpoint`."""

    endpoint: str  # host:port
    workdir: Path
    base_env: dict[str, str]

    def run(self, page_blocks: list[Block]) -> list[str]:
        """Run every runnable block; what was run (for the test's report)."""
        namespace: dict[str, Any] = {"__name__": "__docs__"}
        shell = Shell(self.workdir, self.base_env)
        ran: list[str] = []
        saved_env, saved_cwd = dict(os.environ), Path.cwd()
        saved_path, saved_modules = list(sys.path), set(sys.modules)
        os.environ.clear()
        os.environ.update(self.base_env)
        os.chdir(self.workdir)
        try:
            output: str | None = None  # what the block just above printed, if it ran
            for block in page_blocks:
                if block.checks_output:
                    if output is None:
                        raise PageError(f"{block.where()}: `docs: output` follows no run block")
                    check_output(block, output)
                output = self._run_block(block, shell, namespace) if block.runs else None
                if block.runs:
                    ran.append(block.where())
        finally:
            shell.close()
            sys.path[:] = saved_path
            _forget_modules_under(self.workdir, saved_modules)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
        return ran

    def _run_block(self, block: Block, shell: Shell, namespace: dict[str, Any]) -> str:
        """Run one block; what it printed."""
        code = substitute(block.code, self.endpoint)
        if block.lang == "python":
            return run_python(block, code, namespace)
        printed, env = shell.run(block, code)
        _apply_env(env)
        return printed


def _forget_modules_under(workdir: Path, before: set[str]) -> None:
    """Drop the modules a page wrote into its working directory and imported."""
    for name in set(sys.modules) - before:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if origin.startswith(str(workdir)):
            del sys.modules[name]


def _apply_env(env: dict[str, str]) -> None:
    """Make the shell's exported variables the python blocks' environment."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k not in ("PWD", "OLDPWD", "SHLVL", "_")})


#: Where run blocks name functions and queues (created or used).
NAME_PATTERNS = {
    "function": (
        r"FunctionName=\"([^\"]+)\"",
        r"--function-name\s+(\S+)",
        r"\blamina\s+(?:invoke|logs|queue\s+\w+)\s+([\w-]+)",
        r"\bdeploy_\w*\(\s*\"([^\"]+)\"",
    ),
    "queue": (r"QueueName=\"([^\"]+)\"", r"--queue-name\s+(\S+)"),
}


def used_names(page_blocks: list[Block]) -> Iterator[tuple[str, str]]:
    """(kind, name) of every function and queue a page's run blocks create or use."""
    for block in page_blocks:
        if not block.runs:
            continue
        for kind, regexes in NAME_PATTERNS.items():
            for regex in regexes:
                for m in re.finditer(regex, block.code):
                    yield kind, m.group(1).split(":")[0]
