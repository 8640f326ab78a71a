"""One environment's child process: spawn, frame I/O, deadline kill, memory watch, output.

The child runs `lamina.runtime` in its own session (so one SIGKILL of the process
group stops it and anything it started), talks frames over a private pipe pair, and
has fds 1 and 2 on one output pipe. The runtime ends each request's output with a
per-environment sentinel; `Sandbox` splits the stream there. All I/O is asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import logging
import os
import shutil
import signal
import site
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from lamina.runtime import protocol

log = logging.getLogger("lamina.engine.sandbox")

#: How often the memory watch samples the child's RSS while it runs.
MEMORY_POLL_INTERVAL_S = 0.02
#: How long to wait for a request's output after its result, or for EOF after a kill.
OUTPUT_DRAIN_TIMEOUT_S = 1.0
#: Size of one read from the output pipe.
OUTPUT_READ_CHUNK_BYTES = 65536
#: Bytes per MiB, for RSS → MB.
BYTES_PER_MB = 1024 * 1024

#: How long a candidate interpreter may take to prove it can run the runtime.
INTERPRETER_PROBE_TIMEOUT_S = 10.0

#: `python -c` program that puts the code root first on sys.path, the node's libraries
#: last, and starts the runtime. Run with -S: the node's site-packages arrive ready-made
#: instead of re-reading every .pth file on each cold start.
_BOOTSTRAP = (
    "import os,sys;p=os.environ['" + protocol.SYS_PATH_ENV + "'].split(os.pathsep);"
    "sys.path[0]=p[0];sys.path.extend(x for x in p[1:] if x not in sys.path);"
    "from lamina.runtime.__main__ import main;main()"
)

#: How Go's os/exec (AWS's runtime supervisor) spells a signal death.
_SIGNAL_WORDS = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGPIPE: "broken pipe",
}


@dataclass(frozen=True)
class Interpreter:
    """A Python to run environments with; `native` when it is the node's own."""

    path: str
    native: bool

    def argv(self) -> list[str]:
        flags = ["-S", "-u"] if self.native else ["-u"]
        return [self.path, *flags, "-c", _BOOTSTRAP]

    def sys_path(self, code_dir: Path) -> str:
        """The child's sys.path: code root first, then the runtime and the node's libraries."""
        libraries = node_library_paths() if self.native else node_library_paths()[:1]
        return os.pathsep.join([str(code_dir), *libraries])


@functools.cache
def node_library_paths() -> tuple[str, ...]:
    """Where `lamina` lives, then the node's site-packages and what their .pth files add."""
    lamina_root = str(Path(protocol.__file__).resolve().parents[2])
    site_dirs = {*site.getsitepackages(), site.getusersitepackages()}
    first = next((i for i, p in enumerate(sys.path) if p in site_dirs), len(sys.path))
    paths = [lamina_root, *(p for p in sys.path[first:] if p)]
    return tuple(dict.fromkeys(paths))


_interpreters: dict[str, Interpreter] = {}


async def resolve_interpreter(runtime: str) -> Interpreter:
    """The interpreter for `runtime` ("python3.12"): that Python if installed and able to
    run the runtime (it needs msgspec), else the node's own. Cached per runtime."""
    native = Interpreter(sys.executable, native=True)
    if runtime == f"python{sys.version_info.major}.{sys.version_info.minor}":
        return native
    if runtime not in _interpreters:
        path = shutil.which(runtime) if runtime.startswith("python") else None
        if path is not None and await _probe(path):
            _interpreters[runtime] = Interpreter(path, native=False)
        else:
            log.warning("runtime %s is not usable here; running it on %s", runtime, sys.version)
            _interpreters[runtime] = native
    return _interpreters[runtime]


async def _probe(path: str) -> bool:
    env = {**os.environ, "PYTHONPATH": node_library_paths()[0]}
    try:
        process = await asyncio.create_subprocess_exec(
            path, "-c", "import msgspec, lamina.runtime.protocol", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return False
    try:
        async with asyncio.timeout(INTERPRETER_PROBE_TIMEOUT_S):
            return await process.wait() == 0
    except TimeoutError:
        process.kill()
        await process.wait()
        return False


class Outcome(enum.Enum):
    """How one exchange with the child ended."""

    ANSWERED = "answered"
    TIMED_OUT = "timed_out"
    EXITED = "exited"
    OUT_OF_MEMORY = "out_of_memory"


@dataclass(frozen=True)
class Exchange:
    """The result of sending one frame (or none, for init) and awaiting the answer."""

    outcome: Outcome
    message: protocol.InitDone | protocol.InitFailed | protocol.Result | None
    output: str
    elapsed_ms: float
    exit_reason: str
    peak_rss_mb: int


def exit_reason(returncode: int | None) -> str:
    """AWS's words for a child's end: "exit status 1", "signal: segmentation fault"."""
    if returncode is None:
        return "signal: killed"
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        return f"signal: {_SIGNAL_WORDS[signal.Signals(-returncode)]}"
    except (KeyError, ValueError):
        return f"signal: {-returncode}"


class _WriteProtocol(asyncio.Protocol):
    """Write side of the frame pipe; a dead child shows up on the read side."""


class Sandbox:
    """A running child process and its pipes. Create with `Sandbox.spawn`."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        frames: asyncio.StreamReader,
        frames_transport: asyncio.ReadTransport,
        writer: asyncio.WriteTransport,
        sentinel: bytes,
        memory_limit_mb: int,
    ) -> None:
        self._process = process
        self._frames = frames
        self._frames_transport = frames_transport
        self._writer = writer
        self._sentinel = sentinel
        self._memory_limit_bytes = memory_limit_mb * BYTES_PER_MB
        self._segments: asyncio.Queue[str] = asyncio.Queue()
        self._pending_output = bytearray()
        self._output_closed = asyncio.Event()
        self._output_task = asyncio.get_running_loop().create_task(self._collect_output())
        self._ps: psutil.Process | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._oom = False
        self.peak_rss_mb = 0

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        memory_limit_mb: int,
        sentinel: bytes,
    ) -> Sandbox:
        """Start the child in a new session with a private pipe pair.

        Raises:
            OSError: the interpreter could not be started.
        """
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        child_env = dict(env)
        child_env[protocol.FDS_ENV] = f"{to_child_r},{from_child_w}"
        child_env[protocol.SENTINEL_ENV] = sentinel.hex()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=cwd,
                env=child_env,
                pass_fds=(to_child_r, from_child_w),
                start_new_session=True,
            )
        except BaseException:
            for fd in (to_child_w, from_child_r):
                os.close(fd)
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        return await cls._connect(process, to_child_w, from_child_r, sentinel, memory_limit_mb)

    @classmethod
    async def _connect(
        cls,
        process: asyncio.subprocess.Process,
        write_fd: int,
        read_fd: int,
        sentinel: bytes,
        memory_limit_mb: int,
    ) -> Sandbox:
        loop = asyncio.get_running_loop()
        frames = asyncio.StreamReader()
        read_pipe = os.fdopen(read_fd, "rb", buffering=0)
        reading, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(frames), read_pipe
        )
        write_pipe = os.fdopen(write_fd, "wb", buffering=0)
        writer, _ = await loop.connect_write_pipe(_WriteProtocol, write_pipe)
        return cls(process, frames, reading, writer, sentinel, memory_limit_mb)

    async def wait_init(self, deadline: float) -> Exchange:
        """Await the runtime's InitDone / InitFailed until `deadline` (monotonic)."""
        return await self._exchange(None, deadline)

    async def call(self, invoke: protocol.Invoke, deadline: float) -> Exchange:
        """Send one Invoke frame and await its Result until `deadline` (monotonic)."""
        return await self._exchange(protocol.encode_frame(invoke), deadline)

    async def _exchange(self, frame: bytes | None, deadline: float) -> Exchange:
        started = time.perf_counter()
        if frame is not None:
            self._writer.write(frame)
        self._watch = asyncio.get_running_loop().call_later(
            MEMORY_POLL_INTERVAL_S, self._check_memory
        )
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                message = await self._read_frame()
        except TimeoutError:
            return await self._failed(Outcome.TIMED_OUT, started)
        except (asyncio.IncompleteReadError, ConnectionError):
            outcome = Outcome.OUT_OF_MEMORY if self._oom else Outcome.EXITED
            return await self._failed(outcome, started)
        finally:
            self._watch.cancel()
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        output = await self._next_output()
        return Exchange(Outcome.ANSWERED, message, output, elapsed_ms, "", self.peak_rss_mb)

    async def _read_frame(self) -> protocol.InitDone | protocol.InitFailed | protocol.Result:
        header = await self._frames.readexactly(protocol.HEADER_SIZE_BYTES)
        body = await self._frames.readexactly(protocol.frame_length(header))
        return protocol.from_runtime_decoder.decode(body)

    async def _failed(self, outcome: Outcome, started: float) -> Exchange:
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        await self.kill()
        output = await self._remaining_output()
        reason = exit_reason(self._process.returncode)
        return Exchange(outcome, None, output, elapsed_ms, reason, self.peak_rss_mb)

    def _check_memory(self) -> None:
        try:
            if self._ps is None:
                self._ps = psutil.Process(self._process.pid)
            rss = int(self._ps.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return
        self.peak_rss_mb = max(self.peak_rss_mb, -(-rss // BYTES_PER_MB))
        if rss > self._memory_limit_bytes:
            self._oom = True
            self._signal_group()
            return
        self._watch = asyncio.get_running_loop().call_later(
            MEMORY_POLL_INTERVAL_S, self._check_memory
        )

    async def _collect_output(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            while chunk := await stdout.read(OUTPUT_READ_CHUNK_BYTES):
                # Only the new bytes (and a sentinel's length before them) can hold a match.
                start = max(0, len(self._pending_output) - len(self._sentinel) + 1)
                self._pending_output += chunk
                self._split_segments(start)
        finally:
            self._output_closed.set()

    def _split_segments(self, start: int) -> None:
        while (end := self._pending_output.find(self._sentinel, start)) >= 0:
            segment = bytes(self._pending_output[:end])
            del self._pending_output[: end + len(self._sentinel)]
            self._segments.put_nowait(segment.decode("utf-8", "replace"))
            start = 0

    async def _next_output(self) -> str:
        """This request's output: everything up to the sentinel written after it."""
        if self._segments.empty():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(OUTPUT_DRAIN_TIMEOUT_S):
                    return await self._segments.get()
            return ""
        return self._segments.get_nowait()

    async def _remaining_output(self) -> str:
        """After a kill: every segment still queued plus the unterminated rest."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(OUTPUT_DRAIN_TIMEOUT_S):
                await self._output_closed.wait()
        parts = []
        while not self._segments.empty():
            parts.append(self._segments.get_nowait())
        parts.append(self._pending_output.decode("utf-8", "replace"))
        self._pending_output.clear()
        return "".join(parts)

    def _signal_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    async def kill(self) -> None:
        """SIGKILL the child's process group and reap the child. Idempotent."""
        if self._process.returncode is None:
            self._signal_group()
        await self._process.wait()
        self._writer.close()

    async def close(self) -> None:
        """Kill, then release the pipes and the output task."""
        await self.kill()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(OUTPUT_DRAIN_TIMEOUT_S):
                await self._output_closed.wait()
        self._output_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._output_task
        self._frames_transport.close()
