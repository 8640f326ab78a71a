"""Load `module.function`, call it (def or async def), shape errors the AWS way.

Messages and error types follow the AWS Python runtime interface client
(awslambdaric `bootstrap.py`): Runtime.ImportModuleError, Runtime.HandlerNotFound,
Runtime.UserCodeSyntaxError, Runtime.MalformedHandlerName, Runtime.MarshalError.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from collections.abc import Callable
from typing import Any

from .context import LambdaContext

Handler = Callable[[Any, LambdaContext], Any]

#: Frames from files under this directory are runtime frames, cut from stack traces.
_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))

_loop: Any = None  # the one asyncio loop of this environment, created on first need


class InitError(Exception):
    """Init failed; `payload` is the error document to return to the first caller."""

    def __init__(self, error_type: str, payload: bytes) -> None:
        super().__init__(error_type)
        self.error_type = error_type
        self.payload = payload


def error_document(
    message: str, error_type: str, stack_trace: list[str], request_id: str = ""
) -> bytes:
    """The AWS error document, logged as AWS's runtime does and returned as JSON bytes."""
    log_error(message, error_type, stack_trace)
    doc = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": stack_trace,
    }
    return json.dumps(doc).encode()


def log_error(message: str, error_type: str, stack_trace: list[str]) -> None:
    """`[ERROR] Type: message` plus traceback, lines joined with CR: one log event."""
    lines = [f"[ERROR] {error_type}: {message}" if message else f"[ERROR] {error_type}"]
    if stack_trace:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            lines.extend(element.splitlines())
    sys.stdout.write("\r".join(lines) + "\n")


def user_stack_trace(tb: types.TracebackType | None) -> list[str]:
    """Formatted frames of `tb`, without the leading runtime frames."""
    import traceback

    frames = traceback.extract_tb(tb)
    while frames and frames[0].filename.startswith(_RUNTIME_DIR):
        frames.pop(0)
    return traceback.format_list(frames)


def load(handler: str) -> Handler:
    """Import the handler module and return the function.

    Raises:
        InitError: with the AWS error type and document, for any failure.
    """
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        message = f"Bad handler '{handler}': {exc}"
        raise _init_error("Runtime.MalformedHandlerName", message) from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        message = f"Cannot use built-in module {module_name} as a handler module"
        raise _init_error("Runtime.BuiltInModuleConflict", message)
    module = _import(module_name)
    function = getattr(module, function_name, None)
    if function is None:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        raise _init_error("Runtime.HandlerNotFound", message)
    return function  # type: ignore[no-any-return]


def _import(module_name: str) -> types.ModuleType:
    try:
        return importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        raise _init_error("Runtime.ImportModuleError", message) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        message = f"Syntax error in module '{module_name}': {exc}"
        raise _init_error("Runtime.UserCodeSyntaxError", message, trace) from None
    except Exception as exc:
        trace = user_stack_trace(exc.__traceback__)
        raise _init_error(type(exc).__name__, str(exc), trace) from None


def _init_error(error_type: str, message: str, trace: list[str] | None = None) -> InitError:
    return InitError(error_type, error_document(message, error_type, trace or []))


def call(function: Handler, event: Any, context: LambdaContext) -> tuple[bytes, str | None]:
    """Run one invocation: (JSON result, None) or (error document, error type)."""
    threads_before = _live_threads()
    try:
        result = function(event, context)
        if isinstance(result, types.CoroutineType):
            result = _run_coroutine(result)
    except Exception as exc:
        warn_pending(threads_before)
        error_type = type(exc).__name__
        trace = user_stack_trace(exc.__traceback__)
        return error_document(str(exc), error_type, trace, context.aws_request_id), error_type
    warn_pending(threads_before)
    try:
        return json.dumps(result, default=_decimal_to_float).encode(), None
    except Exception as exc:
        error_type = "Runtime.MarshalError"
        message = f"Unable to marshal response: {exc}"
        return error_document(message, error_type, [], context.aws_request_id), error_type


def _live_threads() -> set[int]:
    threading = sys.modules.get("threading")
    if threading is None or threading.active_count() == 1:  # only the main thread
        return set()
    main = threading.main_thread()
    return {id(t) for t in threading.enumerate() if not t.daemon and t is not main}


def warn_pending(threads_before: set[int]) -> None:
    """One log line when the handler returned with work still pending: asyncio tasks of the
    environment's loop, or non-daemon threads it started. The environment is frozen once the
    response is sent, so that work stops until the next invocation (AWS does the same)."""
    tasks = 0
    if _loop is not None:
        import asyncio

        tasks = sum(1 for task in asyncio.all_tasks(_loop) if not task.done())
    threads = len(_live_threads() - threads_before)
    if tasks or threads:
        sys.stdout.write(
            f"[WARNING] Lamina: the handler returned with {tasks} asyncio task(s) and {threads}"
            " non-daemon thread(s) still running; they are frozen until the next invocation"
            " and may never finish (await them before returning).\n"
        )


def _decimal_to_float(value: object) -> object:
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(repr(value) + " is not JSON serializable")


def _run_coroutine(coroutine: types.CoroutineType[Any, Any, Any]) -> Any:
    """Run on the environment's one event loop, kept across invocations."""
    global _loop
    if _loop is None:
        import asyncio

        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(coroutine)
