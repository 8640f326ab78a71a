"""A bounded model-driven fuzz: requests generated from botocore's Lambda and SQS shapes.

Every operation of both models gets inputs built from its input shape (member types, enums,
lengths, nesting), sent by boto3 with its own validation off. The node must answer every one
with something other than a 5xx, and must still be serving at the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import botocore.session
import httpx
import pytest
from botocore.model import Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import NodeProcess, free_port

#: Examples per service; the two together stay a few hundred requests.
EXAMPLES_PER_SERVICE = 150
MAX_DEPTH = 3
#: Members whose random values would only make the fuzz slow (long polls, sleeps).
FIXED_MEMBERS = {"WaitTimeSeconds": 0}
#: Operations a client cannot call without special transport (event streams).
SKIPPED_OPERATIONS = {"InvokeWithResponseStream", "InvokeAsync"}

_names = st.sampled_from(["fuzz-fn", "fuzz-q", "", "x" * 70, "$LATEST", "1", "arn:aws:x"])


def _string(shape: Shape) -> st.SearchStrategy[str]:
    enum = shape.metadata.get("enum")
    if enum:
        return st.one_of(st.sampled_from(enum), st.text(max_size=8))
    high = min(int(shape.metadata.get("max", 64)) + 2, 300)
    return st.one_of(_names, st.text(max_size=high))


def strategy(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of `shape`: right types, values in and out of the modeled constraints."""
    kind = shape.type_name
    if kind == "structure":
        if depth >= MAX_DEPTH:
            return st.just({})
        members = {
            name: st.just(FIXED_MEMBERS[name])
            if name in FIXED_MEMBERS
            else strategy(member, depth + 1)
            for name, member in shape.members.items()
        }
        required = set(shape.required_members)
        return st.fixed_dictionaries(
            {k: v for k, v in members.items() if k in required},
            optional={k: v for k, v in members.items() if k not in required},
        )
    if kind == "list":
        return st.lists(strategy(shape.member, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(
            strategy(shape.key, depth + 1), strategy(shape.value, depth + 1), max_size=3
        )
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return st.integers(min_value=-5, max_value=2**31 - 1)
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        return st.binary(max_size=64)
    if kind == "timestamp":
        return st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1))
    return st.none()


def calls(service: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    model = botocore.session.get_session().get_service_model(service)
    names = [n for n in model.operation_names if n not in SKIPPED_OPERATIONS]

    def inputs(name: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
        shape = model.operation_model(name).input_shape
        params = strategy(shape) if shape is not None else st.just({})
        return params.map(lambda p: (name, p))

    return st.sampled_from(names).flatmap(inputs)


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path_factory.mktemp("fuzz") / "data", free_port())
    node.start()
    yield node
    node.stop()


def _send(client: Any, operation: str, params: dict[str, Any]) -> int:
    methods = {api: py for py, api in client.meta.method_to_api_mapping.items()}
    method = getattr(client, methods[operation])
    try:
        out = method(**params)
    except botocore.exceptions.ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    except (botocore.exceptions.ParamValidationError, ValueError, TypeError, KeyError):
        return 0  # the client could not even serialize it: nothing was sent
    except botocore.exceptions.HTTPClientError as exc:
        if "Invalid header value" in str(exc):
            return 0  # a control character in a header member: urllib3 sends nothing
        raise
    if "Payload" in out and hasattr(out["Payload"], "read"):
        out["Payload"].read()
    return int(out["ResponseMetadata"]["HTTPStatusCode"])


@pytest.mark.parametrize("service", ["lambda", "sqs"])
def test_generated_requests_never_get_a_5xx(fuzz_node: NodeProcess, service: str) -> None:
    client = fuzz_node.client(service, parameter_validation=False)
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_SERVICE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(calls(service))
    def one(call: tuple[str, dict[str, Any]]) -> None:
        operation, params = call
        status = _send(client, operation, params)
        if status >= 500:
            failures.append(f"{status} {operation} {params!r}"[:500])
        assert status < 500, failures[-1]

    one()
    assert httpx.get(fuzz_node.url + "/health", timeout=5).status_code == 200
    assert fuzz_node.proc is not None and fuzz_node.proc.poll() is None
