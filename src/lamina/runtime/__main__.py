"""Entry of an environment process: init (import the handler once), then invoke frames.

Standard library only, Python 3.9 syntax (it runs on every interpreter a runtime asks for).
Started by `lamina.engine.launcher` with cwd = the code root and a private pipe pair
(fd numbers in `_LAMINA_RUNTIME_FDS`). After init and after every invocation the
runtime flushes stdout/stderr and writes the environment's sentinel to fd 1, so the
node knows where one request's output ends.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

from . import envelope, protocol
from .context import LambdaContext, decode_client_context
from .handler import Handler, InitError, call, error_document, load
from .trace_env import TraceEnv

#: Python logging's line shape in AWS's Text log format.
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"
#: Size of the first read of a frame; larger frames are completed by a second read.
RECEIVE_CHUNK_BYTES = 65536


class _Runtime:
    def __init__(self, read_fd: int, write_fd: int, sentinel: bytes) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.sentinel = sentinel
        self.request_id = ""
        self.logging_ready = False
        self._buffer = b""
        self._trace = TraceEnv()

    def send(self, message: protocol.InitDone | protocol.InitFailed | protocol.Result) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        protocol.write_all(1, self.sentinel)
        protocol.write_all(self.write_fd, protocol.encode_frame(message))

    def receive(self) -> protocol.Invoke | None:
        """The next Invoke frame; usually one read() brings header and body together."""
        buffer = self._buffer
        while len(buffer) < protocol.HEADER_SIZE_BYTES:
            chunk = os.read(self.read_fd, RECEIVE_CHUNK_BYTES)
            if not chunk:
                return None
            buffer += chunk
        end = protocol.HEADER_SIZE_BYTES + protocol.frame_length(
            buffer[: protocol.HEADER_SIZE_BYTES]
        )
        if len(buffer) < end:
            rest = protocol.read_exactly(self.read_fd, end - len(buffer))
            if rest is None:
                return None
            buffer += rest
        self._buffer = buffer[end:]
        body = memoryview(buffer)[protocol.HEADER_SIZE_BYTES : end]
        return protocol.decode_to_runtime(body)

    def setup_logging(self) -> None:
        """AWS's root log handler, installed once the code has imported `logging`."""
        if self.logging_ready or "logging" not in sys.modules:
            return
        import logging

        runtime = self

        class _RequestIdFilter(logging.Filter):
            def filter(self, record: logging.LogRecord) -> bool:
                record.aws_request_id = runtime.request_id
                return True

        handler = logging.StreamHandler(sys.stdout)
        formatter = logging.Formatter(LOG_FORMAT, "%Y-%m-%dT%H:%M:%S")
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        handler.addFilter(_RequestIdFilter())
        logging.getLogger().addHandler(handler)
        self.logging_ready = True

    def serve(self, function: Handler) -> None:
        while (invoke := self.receive()) is not None:
            self.setup_logging()
            self.send(self.run(function, invoke))

    def run(self, function: Handler, invoke: protocol.Invoke) -> protocol.Result:
        self.request_id = invoke.request_id
        started = time.perf_counter()
        payload, error_type = self._call(function, invoke)
        duration_ms = (time.perf_counter() - started) * 1000.0
        max_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return protocol.Result(invoke.request_id, payload, error_type, duration_ms, max_rss_kb)

    def _call(self, function: Handler, invoke: protocol.Invoke) -> tuple[bytes, str | None]:
        if invoke.trace_id:
            self._trace.set(invoke.trace_id)
        else:
            self._trace.clear()
        try:
            event: Any = json.loads(invoke.payload) if invoke.payload.strip() else {}
            client_context = decode_client_context(invoke.client_context)
        except Exception as exc:
            error_type = "Runtime.UnmarshalError"
            message = f"Unable to unmarshal input: {exc}"
            return error_document(message, error_type, [], invoke.request_id), error_type
        context = LambdaContext(
            request_id=invoke.request_id,
            deadline_ms=invoke.deadline_ms,
            invoked_function_arn=invoke.invoked_function_arn,
            client_context=client_context,
        )
        return call(function, event, context)


def main() -> None:
    """Run the environment until the node closes the pipe."""
    envelope.enter()
    read_fd, write_fd = (int(fd) for fd in os.environ.pop(protocol.FDS_ENV).split(","))
    sentinel = bytes.fromhex(os.environ.pop(protocol.SENTINEL_ENV))
    os.environ.pop(protocol.SYS_PATH_ENV, None)
    # Subprocesses started by handlers must not hold the node's pipes open.
    os.set_inheritable(read_fd, False)
    os.set_inheritable(write_fd, False)
    if os.environ.pop(protocol.KIND_ENV, "python") == "custom":
        from .runtime_api import serve

        serve(read_fd, write_fd, sentinel)
        return
    runtime = _Runtime(read_fd, write_fd, sentinel)
    try:
        function = load(os.environ["_HANDLER"])
    except InitError as exc:
        runtime.send(protocol.InitFailed(exc.error_type, exc.payload))
        sys.exit(1)
    runtime.setup_logging()
    runtime.send(protocol.InitDone())
    runtime.serve(function)


def restore(function: Handler) -> None:
    """Run an environment restored from its SnapStart version's template (`snapshot.py`):
    wait for the node's go (it has moved this process into the environment's own cgroup),
    re-seed, run the after-restore hooks, then serve invoke frames until the pipe closes."""
    from . import snapshot

    read_fd, write_fd = (int(fd) for fd in os.environ.pop(protocol.FDS_ENV).split(","))
    sentinel = bytes.fromhex(os.environ.pop(protocol.SENTINEL_ENV))
    os.set_inheritable(read_fd, False)
    os.set_inheritable(write_fd, False)
    runtime = _Runtime(read_fd, write_fd, sentinel)
    if protocol.read_exactly(read_fd, len(protocol.RESTORE_GO)) is None:
        sys.exit(1)
    snapshot.reseed()
    failure = snapshot.run_hooks(snapshot.hooks("get_after_restore"), snapshot.AFTER_RESTORE_ERROR)
    if failure is not None:
        runtime.send(protocol.InitFailed(snapshot.AFTER_RESTORE_ERROR, failure))
        sys.exit(1)
    runtime.setup_logging()
    runtime.send(protocol.InitDone())
    runtime.serve(function)


if __name__ == "__main__":
    main()
