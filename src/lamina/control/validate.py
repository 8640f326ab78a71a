"""Checks on function settings, with the error class and wording AWS uses for each."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from lamina.control.models import SNAP_START_APPLY_ON
from lamina.errors import InvalidParameterValue, ValidationError

RUNTIME_RE = re.compile(r"^python3\.(\d{1,2})$")
HANDLER_RE = re.compile(r"^[^\s]{1,128}$")
ROLE_RE = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
ENV_KEY_RE = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
#: Oldest supported Python runtime minor version.
MIN_PYTHON_MINOR = 8
#: OS-only runtimes: a `bootstrap` speaking the Runtime API (engine/interpreters.py runs them).
CUSTOM_RUNTIMES = frozenset({"provided.al2023", "provided.al2"})
#: Largest total size of a function's environment variables.
MAX_ENV_BYTES = 4096
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def constraint(value: object, member: str, rule: str) -> ValidationError:
    """AWS's unmodeled constraint message for one member."""
    return ValidationError(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy"
        f" constraint: {rule}"
    )


def check_range(value: int, member: str, low: int, high: int) -> None:
    if value < low:
        raise constraint(value, member, f"Member must have value greater than or equal to {low}")
    if value > high:
        raise constraint(value, member, f"Member must have value less than or equal to {high}")


def check_runtime(runtime: str) -> None:
    if runtime in CUSTOM_RUNTIMES:
        return
    m = RUNTIME_RE.match(runtime)
    if not m or int(m.group(1)) < MIN_PYTHON_MINOR:
        raise InvalidParameterValue(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Lamina runs python3.x"
            f" runtimes (3.{MIN_PYTHON_MINOR} and newer) and provided.al2023 / provided.al2"
        )


def check_handler(handler: str, runtime: str | None = None) -> None:
    """A Python handler is `module.function`; a custom runtime's is any text its bootstrap reads."""
    dotted = runtime in CUSTOM_RUNTIMES or "." in handler
    if not HANDLER_RE.match(handler) or not dotted:
        raise constraint(
            handler, "handler", "Member must satisfy regular expression pattern: [^\\s]+"
        )


def check_role(role: str) -> None:
    if not ROLE_RE.match(role):
        raise constraint(
            role,
            "role",
            "Member must satisfy regular expression pattern: "
            "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+",
        )


def check_description(text: str) -> None:
    if len(text) > 256:
        raise constraint(text, "description", "Member must have length less than or equal to 256")


def check_environment(variables: Mapping[str, str]) -> None:
    reserved = sorted(k for k in variables if k in RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment"
            " variables you have provided contains reserved keys that are currently not"
            f" supported for modification. Reserved keys used in this request: {','.join(reserved)}"
        )
    for key in variables:
        if not ENV_KEY_RE.match(key):
            raise constraint(
                key,
                "environment.variables",
                "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+",
            )
    # AWS measures the JSON text of the map and quotes it (recorded answer, issue 13 item 5).
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > MAX_ENV_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment"
            f" variables you have provided exceeded the 4KB limit. String measured: {measured}"
        )


def check_snap_start(apply_on: str, runtime: str, ephemeral_mb: int) -> None:
    """SnapStart.ApplyOn of a function: the enum (recorded AWS wording), then what SnapStart
    cannot go with: a runtime that is not Python here, ephemeral storage over 512 MB
    (reference D.6; that message is Lamina's own, AWS's is unverified)."""
    if apply_on not in SNAP_START_APPLY_ON:
        raise constraint(
            apply_on,
            "snapStart.applyOn",
            "Member must satisfy enum value set: [PublishedVersions, None]",
        )
    if apply_on == "None":
        return
    if not RUNTIME_RE.match(runtime):
        raise InvalidParameterValue(f"{runtime} is not supported for SnapStart enabled functions.")
    if ephemeral_mb > 512:
        raise InvalidParameterValue(
            "SnapStart is not supported for functions with EphemeralStorage larger than 512 MB."
        )
