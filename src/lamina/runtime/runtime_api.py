"""A custom runtime's environment: the Runtime API (2018-06-01) served to its `bootstrap`.

For `provided.al2023` / `provided.al2` the environment process is this shim: to the node it is
a runtime like the Python one (the same frames on the same pipes, the same sentinel after each
request's output), and to the function it is AWS's Runtime API on 127.0.0.1 (a port of its
own), whose address it gives the `bootstrap` it starts as AWS_LAMBDA_RUNTIME_API:

    GET  /2018-06-01/runtime/invocation/next           the next event (long poll), with the
                                                       Lambda-Runtime-* headers
    POST /2018-06-01/runtime/invocation/{id}/response  the result (at most 6 MB, else 413)
    POST /2018-06-01/runtime/invocation/{id}/error     an error document (+ error type header)
    POST /2018-06-01/runtime/init/error                init failed; the environment ends

The first `next` ends init (InitDone to the node). The bootstrap is the first of the
candidates that exists (the code's `bootstrap`, then the layers'); a `#!/bin/sh` script runs
with bash, as on Amazon Linux where sh is bash. The bootstrap shares the shim's process group
and output, so the node's deadline kill and output capture work as for Python; when it exits,
the shim exits the same way (status or signal), which the node reports as Runtime.ExitError.
The shim also watches the memory of the bootstrap and everything it started: past MemorySize
it kills the environment, as the node does a Python runtime's.

Standard library only, Python 3.9 syntax.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import resource
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import envelope, protocol

#: Variable listing the bootstrap candidates (os.pathsep separated), most specific first.
BOOTSTRAPS_ENV = "_LAMINA_BOOTSTRAPS"
#: The Runtime API's path prefix.
PREFIX = "/2018-06-01/runtime"
#: Size of one read of a request body.
BODY_CHUNK_BYTES = 65536
#: How often the bootstrap's memory is sampled (the node samples a Python runtime's as often).
MEMORY_POLL_S = 0.02
#: Kilobytes per memory page (for /proc/PID/statm).
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
#: errorType of a bootstrap that is missing or cannot be executed (as AWS reports it).
INVALID_ENTRYPOINT = "Runtime.InvalidEntrypoint"
#: What the bootstrap is told when its response is over the limit (reference E.1, observed).
_TOO_LARGE_FOR_RUNTIME = (
    b'{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
    b'"errorType":"RequestEntityTooLarge"}'
)


class _Shim:
    """The state shared by the frame loop (main thread) and the HTTP handlers (threads)."""

    def __init__(self, read_fd: int, write_fd: int, sentinel: bytes) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.sentinel = sentinel
        self.invocations: queue.Queue[protocol.Invoke] = queue.Queue()
        self.current: protocol.Invoke | None = None
        self.started = 0.0
        self.initialized = False
        self.bootstrap: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def send(self, message: protocol.FromRuntime) -> None:
        with self.lock:
            protocol.write_all(1, self.sentinel)
            protocol.write_all(self.write_fd, protocol.encode_frame(message))

    def init_done(self) -> None:
        with self.lock:
            if self.initialized:
                return
            self.initialized = True
        self.send(protocol.InitDone())

    def finish(self, request_id: str, payload: bytes, error_type: str | None) -> bool:
        """Answer the current invocation; False when `request_id` is not the current one."""
        with self.lock:
            current = self.current
            if current is None or current.request_id != request_id:
                return False
            self.current = None
        duration_ms = (time.perf_counter() - self.started) * 1000.0
        result = protocol.Result(request_id, payload, error_type, duration_ms, self.max_rss_kb())
        self.send(result)
        return True

    def max_rss_kb(self) -> int:
        """Peak RSS of this process plus the bootstrap's (its VmHWM)."""
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        bootstrap = self.bootstrap
        if bootstrap is None:
            return own
        try:
            with open(f"/proc/{bootstrap.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return own + int(line.split()[1])
        except (OSError, ValueError):
            pass
        return own


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, shim: _Shim) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.shim = shim

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the address (~10 ms a cold start)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without TCP_NODELAY the body waits for a delayed
    # ACK (40 ms) from clients that read the headers first.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """The function's log is its own output; requests are not logged."""

    def do_GET(self) -> None:
        shim = self.server.shim
        if self.path != PREFIX + "/invocation/next":
            self._answer(404, _error("UnknownRoute", f"no such path: {self.path}"))
            return
        shim.init_done()
        invoke = shim.invocations.get()
        shim.current = invoke
        shim.started = time.perf_counter()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invoke.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invoke.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invoke.invoked_function_arn,
            "Content-Type": "application/json",
        }
        if invoke.trace_id:
            headers["Lambda-Runtime-Trace-Id"] = invoke.trace_id
        if invoke.client_context:
            context = _decoded(invoke.client_context)
            headers["Lambda-Runtime-Client-Context"] = context
        self._answer(200, invoke.payload if invoke.payload.strip() else b"{}", headers)

    def do_POST(self) -> None:
        shim = self.server.shim
        parts = self.path[len(PREFIX) + 1 :].split("/") if self._ours() else []
        if parts == ["init", "error"]:
            self._init_error(shim)
            return
        if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in _POSTS:
            self._answer(404, _error("UnknownRoute", f"no such path: {self.path}"))
            return
        request_id, what = parts[1], parts[2]
        body = self._body(protocol.MAX_RESPONSE_BYTES)
        error_type: str | None
        if body is None:
            self._answer(413, _TOO_LARGE_FOR_RUNTIME)
            payload, error_type = protocol.RESPONSE_TOO_LARGE, "Function.ResponseSizeTooLarge"
        elif what == "response":
            payload, error_type = body, None
        else:
            error_type = self._error_type(body)
            payload = _document(body, error_type)
        if not shim.finish(request_id, payload, error_type):
            if body is not None:
                message = f"Invalid request ID: {request_id} is not the current invocation"
                self._answer(400, _error("InvalidRequestID", message))
            return
        if body is not None:
            self._answer(202, b'{"status":"OK"}')

    def _init_error(self, shim: _Shim) -> None:
        body = self._body(protocol.MAX_RESPONSE_BYTES)
        error_type = self._error_type(body)
        # The frame goes first: a bootstrap exits as soon as it has its answer.
        shim.send(protocol.InitFailed(error_type, _document(body, error_type)))
        self._answer(202, b'{"status":"OK"}')

    def _ours(self) -> bool:
        return self.path.startswith(PREFIX + "/")

    def _error_type(self, body: bytes | None) -> str:
        header = self.headers.get("Lambda-Runtime-Function-Error-Type")
        if header:
            return header
        try:
            document = json.loads(body or b"")
            return str(document.get("errorType") or "Unhandled")
        except (ValueError, AttributeError):
            return "Unhandled"

    def _body(self, limit: int) -> bytes | None:
        """The request body, or None (drained, not kept) when it is over `limit` bytes."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if length <= limit:
            return self.rfile.read(length)
        while length > 0:
            length -= len(self.rfile.read(min(length, BODY_CHUNK_BYTES)))
        return None

    def _chunked(self, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            length = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if length == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                break
            data = self.rfile.read(length)
            self.rfile.readline()
            size += len(data)
            if size <= limit:
                chunks.append(data)
        return b"".join(chunks) if size <= limit else None

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


_POSTS = ("response", "error")


def _decoded(client_context: str) -> str:
    """The client context as the header carries it: JSON text, not base64."""
    try:
        return base64.b64decode(client_context).decode("utf-8", "replace")
    except ValueError:
        return client_context


def _error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def _document(body: bytes | None, error_type: str) -> bytes:
    """The error document the caller gets: the runtime's, when it sent JSON; else one made
    from its text."""
    if body:
        try:
            json.loads(body)
            return body
        except ValueError:
            pass
    return _error(error_type, (body or b"").decode("utf-8", "replace"))


def _command(path: str) -> list[str]:
    """How to run the bootstrap at `path`: itself, or bash for a `#!/bin/sh` script."""
    try:
        with open(path, "rb") as file:
            first = file.readline(256)
    except OSError:
        return [path]
    if first.startswith(b"#!"):
        words = first[2:].decode("utf-8", "replace").split()
        if words and words[0] == "/bin/sh":
            return [shutil.which("bash") or "/bin/bash", *words[1:], path]
    return [path]


def _start_bootstrap(shim: _Shim, api: str) -> str | None:
    """Start the bootstrap; None, or the init error message when it cannot be started."""
    candidates = [p for p in os.environ.pop(BOOTSTRAPS_ENV, "").split(os.pathsep) if p]
    path = next((p for p in candidates if os.path.isfile(p)), None)
    if path is None:
        return f"Couldn't find valid bootstrap(s): [{' '.join(candidates)}]"
    if not os.access(path, os.X_OK):  # bash could read a script, but AWS execs the file
        return f"fork/exec {path}: permission denied"
    env = {k: v for k, v in os.environ.items() if not k.startswith("_LAMINA_")}
    env["AWS_LAMBDA_RUNTIME_API"] = api
    envelope.enter()
    try:
        shim.bootstrap = subprocess.Popen(_command(path), env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        return f"fork/exec {path}: {reason}"
    return None


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (as the kernel lists children; just `pid` where it cannot)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as children:
                pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            pass
    return found


def _watch_memory(process: subprocess.Popen[bytes]) -> None:
    """Kill the environment (its whole process group) when this process and the bootstrap's
    tree use more than MemorySize, as the node does for a Python runtime: the caller gets
    Runtime.ExitError with "signal: killed", as on AWS."""
    limit_kb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 0) * 1024
    while limit_kb and process.poll() is None:
        used = _rss_kb(os.getpid()) + sum(_rss_kb(pid) for pid in _tree(process.pid))
        if used > limit_kb:
            sys.stdout.write(f"Runtime killed: memory used exceeds {limit_kb // 1024} MB\n")
            sys.stdout.flush()
            os.killpg(0, signal.SIGKILL)
        time.sleep(MEMORY_POLL_S)


def _exit_like(shim: _Shim, process: subprocess.Popen[bytes]) -> None:
    """End this process the way the bootstrap ended (status, or the same signal), never in
    the middle of a frame."""
    code = process.wait()
    sys.stdout.flush()
    shim.lock.acquire()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1.0)
    os._exit(code if code >= 0 else 1)


def serve(read_fd: int, write_fd: int, sentinel: bytes) -> None:
    """Run the Runtime API and the bootstrap until the node closes the pipe."""
    shim = _Shim(read_fd, write_fd, sentinel)
    server = _Server(shim)
    threading.Thread(target=server.serve_forever, name="runtime-api", daemon=True).start()
    failure = _start_bootstrap(shim, f"127.0.0.1:{server.server_address[1]}")
    if failure is not None:
        document = _error(INVALID_ENTRYPOINT, f"Error: {failure}")
        sys.stdout.write(f"{failure}\n{INVALID_ENTRYPOINT}\n")
        sys.stdout.flush()
        shim.send(protocol.InitFailed(INVALID_ENTRYPOINT, document))
        sys.exit(1)
    assert shim.bootstrap is not None
    threading.Thread(target=_exit_like, args=(shim, shim.bootstrap), daemon=True).start()
    threading.Thread(target=_watch_memory, args=(shim.bootstrap,), daemon=True).start()
    buffer = bytearray()
    while True:
        chunk = os.read(read_fd, BODY_CHUNK_BYTES)
        if not chunk:
            os._exit(0)  # the node closed the environment (it kills the process group too)
        buffer += chunk
        while len(buffer) >= protocol.HEADER_SIZE_BYTES:
            end = protocol.HEADER_SIZE_BYTES + protocol.frame_length(
                buffer[: protocol.HEADER_SIZE_BYTES]
            )
            if len(buffer) < end:
                break
            body = memoryview(buffer)[protocol.HEADER_SIZE_BYTES : end]
            invoke = protocol.decode_to_runtime(body)
            body.release()
            del buffer[:end]
            shim.invocations.put(invoke)
