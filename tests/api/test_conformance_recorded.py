"""Lamina against Lambda answers recorded on real AWS (LocalStack's validated snapshots,
tests/aws/services/lambda_/test_lambda_api.snapshot.json and test_lambda.snapshot.json).

Each case quotes the recorded status, error code and message; `<fn>` and `<arn>` stand for
the function's name and ARN, as the recordings normalise them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import NodeProcess, wait_for

ACCOUNT = "000000000000"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:"


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    err = caught.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"]["Message"]


def test_put_function_concurrency_on_a_qualified_arn_is_refused(
    lam: Any, create_function: Any
) -> None:
    # recorded: put_function_concurrency_with_qualified_arn
    name = create_function()["FunctionName"]
    for target in (f"{FN_ARN}{name}:$LATEST", f"{FN_ARN}{name}:1", f"{name}:$LATEST"):
        assert error_of(
            lambda t=target: lam.put_function_concurrency(
                FunctionName=t, ReservedConcurrentExecutions=1
            )
        ) == (
            400,
            "InvalidParameterValueException",
            "This operation is permitted on Lambda functions only. Aliases and versions do not"
            " support this operation. Please specify either a function name or an unqualified"
            " function ARN.",
        )
    assert "Concurrency" not in lam.get_function(FunctionName=name)


def test_function_cannot_be_its_own_destination(lam: Any, create_function: Any) -> None:
    # recorded: put_destination_recursive
    out = create_function()
    assert error_of(
        lambda: lam.put_function_event_invoke_config(
            FunctionName=out["FunctionName"],
            DestinationConfig={"OnFailure": {"Destination": out["FunctionArn"]}},
        )
    ) == (
        400,
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
    )


def test_delete_of_a_missing_version_is_idempotent(lam: Any, create_function: Any) -> None:
    # recorded: test_delete_on_nonexisting_version (two 204s, then the function's own 404)
    name = create_function()["FunctionName"]
    for _ in range(2):
        out = lam.delete_function(FunctionName=name, Qualifier="1233")
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.delete_function(FunctionName=name)
    assert error_of(lambda: lam.delete_function(FunctionName=name, Qualifier="1233"))[:2] == (
        404,
        "ResourceNotFoundException",
    )


def test_create_function_with_two_architectures_is_a_validation_error(
    lam: Any, create_function: Any
) -> None:
    # recorded: multiple_architectures, uppercase_architecture
    with pytest.raises(ClientError) as caught:
        create_function(Architectures=["x86_64", "arm64"])
    err = caught.value.response
    assert (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]) == (
        400,
        "ValidationException",
    )
    assert err["Error"]["Message"] == (
        "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to"
        " satisfy constraint: Member must have length less than or equal to 1"
    )
    with pytest.raises(ClientError) as caught:
        create_function(Architectures=["X86_64"])
    assert caught.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy"
        " constraint: Member must satisfy constraint: [Member must satisfy enum value set:"
        " [x86_64, arm64], Member must not be null]"
    )


def test_environment_size_is_the_json_text_of_the_variables(lam: Any, create_function: Any) -> None:
    # recorded: test_large_environment_variables_fails ("String measured: {"LARGE_VAR":...}")
    overhead = len('{"LARGE_VAR":""}')
    fits = {"LARGE_VAR": "x" * (4096 - overhead)}
    create_function(Environment={"Variables": fits})
    too_big = {"LARGE_VAR": "x" * (4097 - overhead)}
    with pytest.raises(ClientError) as caught:
        create_function(Environment={"Variables": too_big})
    err = caught.value.response["Error"]
    assert err["Code"] == "InvalidParameterValueException"
    assert err["Message"] == (
        "Lambda was unable to configure your environment variables because the environment"
        " variables you have provided exceeded the 4KB limit. String measured: "
        + json.dumps(too_big, separators=(",", ":"))
    )


def test_list_functions_refuses_a_function_version_other_than_all(lam: Any) -> None:
    # recorded: list_functions_invalid_functionversion
    assert error_of(lambda: lam.list_functions(FunctionVersion="invalid")) == (
        400,
        "ValidationException",
        "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy"
        " constraint: Member must satisfy enum value set: [ALL]",
    )


def test_reserved_zero_sends_events_unrun_to_on_failure_and_dlq(
    node: NodeProcess, lam: Any, create_function: Any, tmp_path: Any
) -> None:
    # recorded (test_lambda.snapshot.json, reserved concurrency 0 + Event): 202, then the
    # OnFailure record with condition ZeroReservedConcurrency, approximateInvokeCount 0 and
    # no response; the DLQ gets the event with AWS's ErrorMessage (its typo included).
    sqs = node.client("sqs")
    urls = [sqs.create_queue(QueueName=q)["QueueUrl"] for q in ("on-failure", "dlq")]
    arns = [
        sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for u in urls
    ]
    ran = tmp_path / "ran"
    code = f"def handler(e, c):\n    open({str(ran)!r}, 'a').write('x')\n"
    out = create_function({"app.py": code}, DeadLetterConfig={"TargetArn": arns[1]})
    name = out["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arns[0]}},
    )
    accepted = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"k": 1}')
    assert accepted["StatusCode"] == 202

    def first(url: str) -> dict[str, Any]:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"])
        return got.get("Messages", [None])[0]  # type: ignore[no-any-return]

    record = json.loads(wait_for(lambda: first(urls[0]))["Body"])
    assert record["requestContext"] == {
        "requestId": accepted["ResponseMetadata"]["RequestId"],
        "functionArn": f"{out['FunctionArn']}:$LATEST",
        "condition": "ZeroReservedConcurrency",
        "approximateInvokeCount": 0,
    }
    assert record["requestPayload"] == {"k": 1}
    assert "responseContext" not in record and "responsePayload" not in record
    dead = wait_for(lambda: first(urls[1]))
    assert json.loads(dead["Body"]) == {"k": 1}
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == (
        "Function not invoked. Function isconfigured with zero reserved concurrent executions"
    )
    assert not ran.exists()
