"""AddPermission / RemovePermission / GetPolicy with boto3 against a real node.

Shapes and messages follow AWS's recorded answers (resource-based policy as a JSON string,
statements in insertion order, conditions keyed as AWS writes them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from harness import NodeProcess

BUCKET_ARN = "arn:aws:s3:::test-bucket"
ACCOUNT = "000000000000"


@pytest.fixture
def fn(create_function: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return create_function()


def _error(exc: Any) -> tuple[str, str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_add_then_get_policy_as_aws_shows_it(lam: Any, fn: dict[str, Any]) -> None:
    name, arn = fn["FunctionName"], fn["FunctionArn"]
    out = lam.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn=BUCKET_ARN,
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = {
        "Sid": "s3",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn,
        "Condition": {"ArnLike": {"AWS:SourceArn": BUCKET_ARN}},
    }
    assert json.loads(out["Statement"]) == statement
    got = lam.get_policy(FunctionName=name)
    assert json.loads(got["Policy"]) == {
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [statement],
    }
    assert got["RevisionId"]


def test_principals_and_conditions(lam: Any, fn: dict[str, Any]) -> None:
    name = fn["FunctionName"]

    def add(sid: str, **kwargs: Any) -> dict[str, Any]:
        out = lam.add_permission(FunctionName=name, StatementId=sid, **kwargs)
        statement: dict[str, Any] = json.loads(out["Statement"])
        return statement

    wildcard = add("wild", Action="lambda:InvokeFunction", Principal="*", SourceAccount=ACCOUNT)
    assert wildcard["Principal"] == "*"
    assert wildcard["Condition"] == {"StringEquals": {"AWS:SourceAccount": ACCOUNT}}
    role = f"arn:aws:iam::{ACCOUNT}:role/deployer"
    assert add("role", Action="lambda:*", Principal=role)["Principal"] == {"AWS": role}
    account = add("acct", Action="lambda:InvokeFunction", Principal=ACCOUNT)
    assert account["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert "Condition" not in account
    url = add(
        "url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        SourceArn=BUCKET_ARN,
        SourceAccount=ACCOUNT,
        PrincipalOrgID="o-1234567890",
        FunctionUrlAuthType="NONE",
    )
    assert url["Condition"] == {
        "StringEquals": {
            "AWS:SourceAccount": ACCOUNT,
            "lambda:FunctionUrlAuthType": "NONE",
            "aws:PrincipalOrgID": "o-1234567890",
        },
        "ArnLike": {"AWS:SourceArn": BUCKET_ARN},
    }
    token = "amzn1.ask.skill.xxxxxxxxx-xxxx"
    alexa = add("alexa", Action="lambda:InvokeFunction", Principal="*", EventSourceToken=token)
    assert alexa["Condition"] == {"StringEquals": {"lambda:EventSourceToken": token}}
    sids = [s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]]
    assert sids == ["wild", "role", "acct", "url", "alexa"]


def test_remove_and_errors(lam: Any, fn: dict[str, Any]) -> None:
    name = fn["FunctionName"]
    grant = {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"}
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.get_policy(FunctionName=name)
    assert _error(e) == (
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        404,
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.remove_permission(FunctionName=name, StatementId="s3")
    assert _error(e)[1] == "No policy is associated with the given resource."
    lam.add_permission(FunctionName=name, StatementId="s3", **grant)
    lam.add_permission(FunctionName=name, StatementId="sqs", **grant)
    with pytest.raises(lam.exceptions.ResourceConflictException) as e:
        lam.add_permission(FunctionName=name, StatementId="s3", **grant)
    assert _error(e)[2] == 409
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.remove_permission(FunctionName=name, StatementId="nope")
    assert _error(e)[1] == "Statement nope is not found in resource policy."
    revision = lam.get_policy(FunctionName=name)["RevisionId"]
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.remove_permission(FunctionName=name, StatementId="sqs", RevisionId="stale")
    lam.remove_permission(FunctionName=name, StatementId="sqs", RevisionId=revision)
    after = lam.get_policy(FunctionName=name)
    assert after["RevisionId"] != revision
    assert [s["Sid"] for s in json.loads(after["Policy"])["Statement"]] == ["s3"]
    lam.remove_permission(FunctionName=name, StatementId="s3")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=name)


def test_bad_input_is_refused_as_aws_does(lam: Any, fn: dict[str, Any]) -> None:
    name = fn["FunctionName"]
    grant = {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"}
    with pytest.raises(lam.exceptions.ClientError) as e:
        lam.add_permission(FunctionName=name, StatementId="example.com", **grant)
    assert _error(e)[0] == "ValidationException"
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
        lam.add_permission(
            FunctionName=name,
            StatementId="p",
            Action="lambda:InvokeFunction",
            Principal="invalid.nonaws.com",
        )
    assert "principal was invalid" in _error(e)[1]
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
        lam.add_permission(FunctionName=f"{name}:a", Qualifier="42", StatementId="q", **grant)
    assert "does not match the specified qualifier" in _error(e)[1]
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as e:
        lam.add_permission(FunctionName=name, Qualifier="$LATEST", StatementId="q", **grant)
    assert _error(e)[1] == "We currently do not support adding policies for $LATEST."
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.add_permission(FunctionName="doesnotexist", StatementId="q", **grant)
    assert _error(e)[1].startswith("Function not found: arn:aws:lambda:")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.add_permission(FunctionName=name, Qualifier="42", StatementId="q", **grant)
    assert _error(e)[1].endswith(f"function:{name}:42")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.add_permission(FunctionName=f"{name}:nope", StatementId="q", **grant)
    assert _error(e)[1].startswith("Cannot find alias arn: ")
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as e:
        lam.remove_permission(FunctionName="doesnotexist", StatementId="q")
    assert _error(e)[1].startswith("No policy found for: ")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName="doesnotexist")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=name, Qualifier="77")


def test_policies_are_per_qualifier(lam: Any, fn: dict[str, Any]) -> None:
    name, arn = fn["FunctionName"], fn["FunctionArn"]
    grant = {"Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com"}
    lam.add_permission(FunctionName=name, StatementId="s3", **grant)
    version = lam.publish_version(FunctionName=name)["Version"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=name, Qualifier=version)
    lam.add_permission(
        FunctionName=f"{name}:{version}", Qualifier=version, StatementId="s3", **grant
    )
    got = json.loads(lam.get_policy(FunctionName=name, Qualifier=version)["Policy"])
    assert got["Statement"][0]["Resource"] == f"{arn}:{version}"
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    with pytest.raises(lam.exceptions.PreconditionFailedException) as e:
        lam.add_permission(
            FunctionName=name, Qualifier="live", StatementId="s3", RevisionId="wrong", **grant
        )
    assert "GetPolicy" in _error(e)[1]
    lam.add_permission(
        FunctionName=name,
        Qualifier="live",
        StatementId="s3",
        RevisionId=alias["RevisionId"],
        **grant,
    )
    got = json.loads(lam.get_policy(FunctionName=f"{name}:live")["Policy"])
    assert got["Statement"][0]["Resource"] == f"{arn}:live"
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=name, Qualifier="live")  # the old alias's policy is gone


def test_policy_survives_restart_and_goes_with_the_function(
    fresh_node: NodeProcess, create_function: Callable[..., Any]
) -> None:
    # A node of its own: the test restarts it.
    node, lam = fresh_node, fresh_node.client("lambda")
    name = create_function(client=lam)["FunctionName"]
    lam.add_permission(
        FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="*"
    )
    before = lam.get_policy(FunctionName=name)
    node.stop()
    node.start()
    again = node.client("lambda")
    after = again.get_policy(FunctionName=name)
    assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])
    again.delete_function(FunctionName=name)
    create_function(name=name, client=again)
    with pytest.raises(again.exceptions.ResourceNotFoundException):
        again.get_policy(FunctionName=name)


def test_code_signing_config_reads_as_none(lam: Any, fn: dict[str, Any]) -> None:
    """Terraform reads it after creating a function; Lamina has no code signing."""
    out = lam.get_function_code_signing_config(FunctionName=fn["FunctionName"])
    assert out.get("CodeSigningConfigArn", "") == ""
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_code_signing_config(FunctionName="doesnotexist")
