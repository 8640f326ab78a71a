"""Helpers for SQS tests that compare Lamina's answers with answers recorded against real AWS
(LocalStack's aws-validated SQS tests, test_sqs.snapshot.json): one node per module, unique
queue names, and a call that keeps either the answer or the error as botocore sees it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import NodeProcess, free_port

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def shared_sqs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node for a module whose tests each make uniquely named queues."""
    node = NodeProcess(Path(tmp_path_factory.mktemp("sqs")) / "data", free_port())
    node.start()
    yield node
    node.stop()


def unique(prefix: str = "q") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Answer:
    """What botocore made of one call: the HTTP status and either the body or the error."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    @property
    def keys(self) -> set[str]:
        return set(self.body) - {"ResponseMetadata"}


def call(client: Any, operation: str, **params: Any) -> Answer:
    try:
        out = getattr(client, operation)(**params)
    except ClientError as exc:
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        return Answer(status, dict(exc.response), dict(exc.response["Error"]))
    return Answer(out["ResponseMetadata"]["HTTPStatusCode"], dict(out))


def assert_error(
    answer: Answer, status: int, code: str, query_code: str | None, message: str | None
) -> None:
    """As AWS answered: Error.Code is the query-protocol code from `x-amzn-query-error`, and
    QueryErrorCode the JSON-protocol `__type` name (botocore keeps both)."""
    assert answer.error is not None, answer.body
    assert answer.status == status
    assert answer.error["Code"] == code
    assert answer.error.get("QueryErrorCode", code) == (query_code or code)
    assert answer.error["Type"] == "Sender"
    if message is not None:
        assert answer.error["Message"] == message
