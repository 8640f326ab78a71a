"""The Lambda context object, shaped like awslambdaric's `LambdaContext`.

Reference: AWS Python runtime interface client, `lambda_context.py`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


class CognitoIdentity:
    """`context.identity`: both fields None unless the caller was a Cognito identity."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    """`context.client_context.client`: the mobile app that called."""

    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, data: dict[str, Any]) -> None:
        for name in self.__slots__:
            setattr(self, name, data.get(name))


class ClientContext:
    """`context.client_context`: the decoded X-Amz-Client-Context of a sync invoke."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, data: dict[str, Any]) -> None:
        self.custom = data.get("custom")
        self.env = data.get("env")
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None


def decode_client_context(encoded: str | None) -> ClientContext | None:
    """The ClientContext carried as base64 JSON, or None when absent or not an object."""
    if not encoded:
        return None
    import base64
    import json

    data = json.loads(base64.b64decode(encoded))
    return ClientContext(data) if isinstance(data, dict) else None


_FACTS: tuple[str | None, ...] = ()


def _environment_facts() -> tuple[str | None, ...]:
    """The function's name, version, memory, log group and stream: read from the
    environment once per process (they are fixed for an environment's life)."""
    global _FACTS
    if not _FACTS:
        env = os.environ
        _FACTS = tuple(
            env.get(key)
            for key in (
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_VERSION",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_LAMBDA_LOG_STREAM_NAME",
            )
        )
    return _FACTS


class LambdaContext:
    """What the handler receives as its second argument."""

    def __init__(
        self,
        *,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        client_context: ClientContext | None,
    ) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        (
            self.function_name,
            self.function_version,
            self.memory_limit_in_mb,  # a string, as in awslambdaric
            self.log_group_name,
            self.log_stream_name,
        ) = _environment_facts()
        self.identity = CognitoIdentity()
        self.client_context = client_context
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the node kills this invocation (never negative)."""
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, message: str) -> None:
        """Write `message` to the function's log, as `context.log` does on AWS."""
        sys.stdout.write(message)
        sys.stdout.flush()

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )
