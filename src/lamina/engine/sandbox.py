"""One environment's child process: spawn, frame I/O, deadline kill, memory watch, output.

The child runs `lamina.runtime` in its own session (so one SIGKILL of the process
group stops it and anything it started), talks frames over a private pipe pair, and
has fds 1 and 2 on one output pipe. The runtime ends each request's output with a
per-environment sentinel; `Sandbox` splits the stream there (`output.py`, which also bounds
each request's output). All I/O is asyncio.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

from lamina.clock import Clock
from lamina.engine import frames
from lamina.engine.output import OutputSplitter
from lamina.engine.pipes import Pipes
from lamina.engine.process_groups import kill_group
from lamina.engine.reports import (
    MAX_RESPONSE_BYTES,
    TOO_LARGE_RESULT,
    Exchange,
    ExchangeEnd,
    FromRuntime,
    exit_reason,
)
from lamina.engine.sandbox_parts import ChildProcess, Envelope
from lamina.runtime import protocol

log = logging.getLogger("lamina.engine.sandbox")

#: How often the memory watch samples the child's RSS while it runs.
MEMORY_POLL_INTERVAL_S = 0.02
#: How long to wait for a request's output after its result, or for EOF after a kill.
OUTPUT_DRAIN_TIMEOUT_S = 1.0
#: Size of one read from the output pipe.
OUTPUT_READ_CHUNK_BYTES = 65536
#: Size of one read from the frame pipe (a 6 MB result arrives in several).
FRAME_READ_CHUNK_BYTES = 262144
#: Largest frame taken from an environment: a 6 MB response plus the Result's other fields.
#: A longer frame is dropped as it arrives, never held (issue 13).
MAX_FRAME_BYTES = MAX_RESPONSE_BYTES + 65_536
#: Bytes per MiB, for RSS → MB.
BYTES_PER_MB = 1024 * 1024


class _WriteProtocol(asyncio.Protocol):
    """Write side of the frame pipe; a dead child shows up on the read side."""


class _ChildExited(Exception):
    """The frame pipe reached end of file: the runtime is gone."""


class Sandbox:
    """A running child process and its pipes. Create with `Sandbox.spawn` or `Sandbox.adopt`.

    Both pipes are read by plain fd callbacks, not streams: a frame callback decodes the
    answer and, before waking the caller, drains the output pipe synchronously (the runtime
    writes its sentinel before the frame, so this request's output is already there).
    One timer per exchange serves both the deadline and the memory watch.
    """

    def __init__(
        self,
        process: ChildProcess,
        write_fd: int,
        frames_fd: int,
        output_fd: int,
        sentinel: bytes,
        memory_limit_mb: int,
        clock: Clock,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._clock = clock
        self._process = process
        self._writer: asyncio.WriteTransport | None = None
        self._write_fd = write_fd
        self._frames_fd = frames_fd
        self._output_fd = output_fd
        self._memory_limit_bytes = memory_limit_mb * BYTES_PER_MB
        self._frame_buffer = bytearray()
        self._frame_discard = 0  # bytes of an oversize frame still to drop
        self._frames_eof = False
        self._waiter: asyncio.Future[FromRuntime] | None = None
        #: Frames that arrived while no exchange awaited one (InitDone during adopt).
        self._early: collections.deque[FromRuntime] = collections.deque()
        self._output = OutputSplitter(sentinel)
        self._segments = self._output.segments
        self._segment_waiter: asyncio.Future[None] | None = None
        self._output_closed = self._loop.create_future()
        self._ps: psutil.Process | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline_at = 0.0
        self._oom = False
        self.peak_rss_mb = 0
        #: Set by the environment: kills the whole cgroup, reports the kernel's OOM kills.
        self.envelope: Envelope | None = None
        for fd in (frames_fd, output_fd):
            os.set_blocking(fd, False)
        self._loop.add_reader(frames_fd, self._on_frames)
        self._loop.add_reader(output_fd, self._on_output)

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
        clock: Clock,
    ) -> Sandbox:
        """Start the child in a new session with a private pipe pair.

        Raises:
            OSError: the interpreter could not be started.
        """
        pipes = Pipes.open()
        child_env = dict(env)
        child_env[protocol.FDS_ENV] = f"{pipes.child_read},{pipes.child_write}"
        child_env[protocol.SENTINEL_ENV] = sentinel.hex()
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=pipes.child_output,
                stderr=pipes.child_output,
                cwd=cwd,
                env=child_env,
                pass_fds=(pipes.child_read, pipes.child_write),
                start_new_session=True,
            )
        except BaseException:
            pipes.close_parent_ends()
            raise
        finally:
            pipes.close_child_ends()
        return await cls.adopt(process, pipes, sentinel, memory_limit_mb, clock)

    @classmethod
    async def adopt(
        cls,
        process: ChildProcess,
        pipes: Pipes,
        sentinel: bytes,
        memory_limit_mb: int,
        clock: Clock,
    ) -> Sandbox:
        """Wrap a started child whose ends of `pipes` are already closed in this process."""
        sandbox = cls(
            process, pipes.write, pipes.read, pipes.output, sentinel, memory_limit_mb, clock
        )
        write_pipe = os.fdopen(pipes.write, "wb", buffering=0)
        try:
            sandbox._writer, _ = await sandbox._loop.connect_write_pipe(_WriteProtocol, write_pipe)
        except BaseException:
            await sandbox.close()
            raise
        return sandbox

    def go(self) -> None:
        """Let a restored (SnapStart) environment run its after-restore hooks."""
        if self._writer is not None:
            self._writer.write(protocol.RESTORE_GO)

    async def wait_init(self, deadline: float) -> Exchange:
        """Await the runtime's InitDone / InitFailed until `deadline` (monotonic)."""
        return await self._exchange(None, deadline)

    async def call(self, invoke: protocol.Invoke, deadline: float) -> Exchange:
        """Send one Invoke frame and await its Result until `deadline` (monotonic)."""
        return await self._exchange(frames.encode_invoke(invoke), deadline)

    async def _exchange(self, frame: bytes | None, deadline: float) -> Exchange:
        started = self._clock.monotonic()
        if frame is not None and self._writer is not None:
            self._writer.write(frame)
            if self.envelope is not None:
                # Thawed with its next frame already in the pipe: the runtime wakes once and
                # reads it, instead of waking to resume its read and again for the frame.
                self.envelope.thaw()
        loop = self._loop
        now = loop.time()
        self._deadline_at = now + max(0.0, deadline - self._clock.monotonic())
        self._timer = loop.call_at(min(self._deadline_at, now + MEMORY_POLL_INTERVAL_S), self._tick)
        waiter = self._waiter = loop.create_future()
        if self._early:
            waiter.set_result(self._early.popleft())
        elif self._frames_eof:
            waiter.set_exception(_ChildExited())
        try:
            message = await waiter
        except TimeoutError:
            return await self._failed(ExchangeEnd.TIMED_OUT, started)
        except _ChildExited:
            return await self._failed(self._exit_end(), started)
        finally:
            self._waiter = None
            self._timer.cancel()
        if self.envelope is not None and self.envelope.out_of_memory():
            self._oom = True  # a task of the tree was OOM-killed; the handler may not know
            return await self._failed(ExchangeEnd.OUT_OF_MEMORY, started)
        elapsed_ms = (self._clock.monotonic() - started) * 1000.0
        output = self._segments.popleft() if self._segments else await self._next_output()
        return Exchange(ExchangeEnd.ANSWERED, message, output, elapsed_ms, "", self.peak_rss_mb)

    def _exit_end(self) -> ExchangeEnd:
        oom = self._oom or (self.envelope is not None and self.envelope.out_of_memory())
        return ExchangeEnd.OUT_OF_MEMORY if oom else ExchangeEnd.EXITED

    @property
    def alive(self) -> bool:
        """False once the child is known to be gone (exited, or its frame pipe closed)."""
        return self._process.returncode is None and not self._frames_eof

    def undelivered(self) -> bool:
        """After the child died: whether the last frame sent was never read (the write
        failed, or its bytes still sit in the pipe), so its handler never started."""
        writer = self._writer
        if writer is None or writer.get_write_buffer_size():
            return True
        unread = array.array("i", [0])
        try:
            fcntl.ioctl(self._write_fd, termios.FIONREAD, unread, True)
        except OSError:
            return writer.is_closing()
        return unread[0] > 0

    def _on_frames(self) -> None:
        try:
            chunk = os.read(self._frames_fd, FRAME_READ_CHUNK_BYTES)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._frames_eof = True
            self._loop.remove_reader(self._frames_fd)
            self._resolve(None)
            return
        if self._frame_discard:
            dropped = min(self._frame_discard, len(chunk))
            self._frame_discard -= dropped
            chunk = chunk[dropped:]
        buffer = self._frame_buffer
        buffer += chunk
        while len(buffer) >= protocol.HEADER_SIZE_BYTES:
            end = protocol.HEADER_SIZE_BYTES + protocol.frame_length(
                buffer[: protocol.HEADER_SIZE_BYTES]
            )
            if end > MAX_FRAME_BYTES + protocol.HEADER_SIZE_BYTES:
                self._drop_oversize_frame(end)
                continue
            if len(buffer) < end:
                return
            message = frames.decode_from_runtime(
                memoryview(buffer)[protocol.HEADER_SIZE_BYTES : end]
            )
            del buffer[:end]
            self._drain_output()
            self._resolve(message)

    def _drop_oversize_frame(self, end: int) -> None:
        """Answer Function.ResponseSizeTooLarge now and drop the frame's bytes as they come."""
        buffer = self._frame_buffer
        taken = min(end, len(buffer))
        self._frame_discard = end - taken
        del buffer[:taken]
        self._drain_output()
        self._resolve(TOO_LARGE_RESULT)

    def _resolve(self, message: FromRuntime | None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            if message is not None:
                self._early.append(message)
            return
        if message is None:
            waiter.set_exception(_ChildExited())
        else:
            waiter.set_result(message)

    def _tick(self) -> None:
        """The exchange's one timer: the deadline, or the next memory sample before it."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        now = self._loop.time()
        if now >= self._deadline_at:
            waiter.set_exception(TimeoutError())
            return
        if self._check_memory():
            self._timer = self._loop.call_at(
                min(self._deadline_at, now + MEMORY_POLL_INTERVAL_S), self._tick
            )

    def _check_memory(self) -> bool:
        """Sample the child's RSS; False once it was killed for exceeding the limit.
        With a cgroup the kernel enforces the limit: only its OOM kills are watched."""
        envelope = self.envelope
        if envelope is not None and envelope.limits_memory:
            if envelope.out_of_memory():
                self._oom = True
                self._signal_group()
                return False
            return True
        try:
            if self._ps is None:
                self._ps = psutil.Process(self._process.pid)
            rss = int(self._ps.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False
        self.peak_rss_mb = max(self.peak_rss_mb, -(-rss // BYTES_PER_MB))
        if rss > self._memory_limit_bytes:
            self._oom = True
            self._signal_group()
            return False
        return True

    def _on_output(self) -> None:
        self._drain_output()

    def _drain_output(self) -> None:
        """Read what the output pipe holds now and split it at sentinels."""
        if self._output_closed.done():
            return
        found = False
        while True:
            try:
                chunk = os.read(self._output_fd, OUTPUT_READ_CHUNK_BYTES)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._loop.remove_reader(self._output_fd)
                self._output_closed.set_result(None)
                break
            found = self._output.feed(chunk) or found
            if len(chunk) < OUTPUT_READ_CHUNK_BYTES:
                break
        waiter = self._segment_waiter
        if found and waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _next_output(self) -> str:
        """This request's output: everything up to the sentinel written after it."""
        self._segment_waiter = self._loop.create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._segment_waiter), OUTPUT_DRAIN_TIMEOUT_S)
        self._segment_waiter = None
        return self._segments.popleft() if self._segments else ""

    async def _failed(self, end: ExchangeEnd, started: float) -> Exchange:
        elapsed_ms = (self._clock.monotonic() - started) * 1000.0
        await self.kill()
        output = await self._remaining_output()
        reason = exit_reason(self._process.returncode)
        return Exchange(end, None, output, elapsed_ms, reason, self.peak_rss_mb)

    async def _wait_output_closed(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._output_closed), OUTPUT_DRAIN_TIMEOUT_S)

    async def _remaining_output(self) -> str:
        """After a kill: every segment still queued plus the unterminated rest."""
        await self._wait_output_closed()
        self._drain_output()
        return self._output.rest()

    def _signal_group(self) -> None:
        if self.envelope is None or not self.envelope.kill():
            kill_group(self._process.pid)

    async def kill(self) -> None:
        """SIGKILL the child's process group and reap the child. Idempotent."""
        if self._process.returncode is None:
            self._signal_group()
        await self._process.wait()
        if self._writer is not None:
            self._writer.close()

    async def close(self) -> None:
        """Kill, then release the pipes."""
        await self.kill()
        await self._wait_output_closed()
        for fd in (self._frames_fd, self._output_fd):
            self._loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._writer is None:
            with contextlib.suppress(OSError):
                os.close(self._write_fd)
        if not self._output_closed.done():
            self._output_closed.set_result(None)
