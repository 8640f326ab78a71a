"""Helpers for SQS tests that compare Lamina's answers with answers recorded against real AWS
(LocalStack's aws-validated SQS tests, test_sqs.snapshot.json): one node per module, unique
queue names, and a call that keeps either the answer or the error as botocore sees it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from harness import NodeProcess, free_port

ACCOUNT = "000000000000"
JSON = "application/x-amz-json-1.0"


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


INVALID = ("InvalidParameterValue", "InvalidParameterValueException")
Scenario = Callable[[Any], None]


class Scenarios:
    """Recorded interactions of one module, registered under the recorded test's name and run
    by one parametrized test (so pytest does not collect them on their own)."""

    def __init__(self) -> None:
        self._by_name: dict[str, Scenario] = {}

    def __call__(self, fn: Scenario) -> Scenario:
        self._by_name[fn.__name__] = fn
        fn.__test__ = False  # type: ignore[attr-defined]
        return fn

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def run(self, name: str, client: Any) -> None:
        self._by_name[name](client)


def queue(sqs: Any, **attributes: str) -> str:
    """A new standard queue with a unique name."""
    return str(sqs.create_queue(QueueName=unique(), Attributes=attributes)["QueueUrl"])


def ok(answer: Answer, keys: set[str]) -> None:
    assert answer.error is None, answer.error
    assert answer.status == 200
    assert answer.keys == keys


def invalid(answer: Answer, message: str) -> None:
    assert_error(answer, 400, *INVALID, message)


def arn(sqs: Any, url: str) -> str:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(got["Attributes"]["QueueArn"])


def raw(node: NodeProcess, action: str, body: dict[str, Any], path: str = "/") -> httpx.Response:
    """A JSON-protocol request by hand, as SDKs other than botocore send it."""
    headers = {"X-Amz-Target": f"AmazonSQS.{action}", "Content-Type": JSON}
    return httpx.post(node.url + path, json=body, headers=headers, timeout=10)
