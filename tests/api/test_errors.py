"""Every way a control-plane request can be wrong, and the AWS error botocore makes of it."""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
import zipfile
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from harness import ROLE, NodeProcess, zip_source

ECHO = {"app.py": "def handler(event, context):\n    return event\n"}


@pytest.fixture(scope="module")
def raw(shared_node: NodeProcess) -> Any:
    """A client without botocore's own parameter checks, so bad values reach the node."""
    return shared_node.client(parameter_validation=False)


def unique() -> str:
    return f"fn-{uuid.uuid4().hex[:10]}"


def create(client: Any, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("Runtime", "python3.12")
    kwargs.setdefault("Handler", "app.handler")
    kwargs.setdefault("Code", {"ZipFile": zip_source(ECHO)})
    kwargs.setdefault("Role", ROLE)
    out: dict[str, Any] = client.create_function(FunctionName=name or unique(), **kwargs)
    return out


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = exc.value.response["Error"]["Code"]
    return code


def assert_healthy(node: NodeProcess) -> None:
    assert node.proc is not None and node.proc.poll() is None
    assert httpx.get(node.url + "/health", timeout=5).status_code == 200


# -- Names ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    ["x" * 65, "has space", "bad!chars", "dots.not.allowed", "ünïcode"],
    ids=["too-long", "space", "punctuation", "dots", "unicode"],
)
def test_create_function_with_a_bad_name_is_a_validation_error(raw: Any, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        create(raw, name)

    assert code_of(exc) == "ValidationException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "functionName" in exc.value.response["Error"]["Message"]


def test_create_function_with_a_64_character_name_is_fine(lam: Any) -> None:
    name = "n" * 54 + uuid.uuid4().hex[:10]

    assert create(lam, name)["FunctionName"] == name


def test_create_function_with_an_arn_of_another_account_is_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        create(lam, "arn:aws:lambda:us-east-1:111111111111:function:elsewhere")


def test_create_function_with_a_qualified_name_is_invalid(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        create(lam, f"{unique()}:1")


def test_create_function_twice_is_a_conflict(lam: Any) -> None:
    name = unique()
    create(lam, name)

    with pytest.raises(lam.exceptions.ResourceConflictException) as exc:
        create(lam, name)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert exc.value.response["Error"]["Message"] == f"Function already exist: {name}"


# -- Settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "handler", ["has space.handler", "x" * 121 + ".handler", "nodot"], ids=str.__len__
)
def test_create_function_with_a_bad_handler_is_a_validation_error(raw: Any, handler: str) -> None:
    with pytest.raises(ClientError) as exc:
        create(raw, Handler=handler)
    assert code_of(exc) == "ValidationException"


@pytest.mark.parametrize("runtime", ["python2.7", "python3.6", "nodejs20.x", "java21", "python"])
def test_create_function_with_an_unsupported_runtime_is_invalid(lam: Any, runtime: str) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        create(lam, Runtime=runtime)


def test_create_function_without_runtime_or_handler_is_invalid(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_function(FunctionName=unique(), Role=ROLE, Code={"ZipFile": zip_source(ECHO)})


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("MemorySize", 127),
        ("MemorySize", 10241),
        ("Timeout", 0),
        ("Timeout", 901),
        ("EphemeralStorage", {"Size": 511}),
        ("EphemeralStorage", {"Size": 10241}),
        ("Role", "not-a-role"),
        ("Description", "d" * 257),
    ],
)
def test_create_function_with_a_value_out_of_range_is_a_validation_error(
    raw: Any, setting: str, value: Any
) -> None:
    with pytest.raises(ClientError) as exc:
        create(raw, **{setting: value})

    assert code_of(exc) == "ValidationException"
    assert exc.value.response["Error"]["Message"].startswith("1 validation error detected")


@pytest.mark.parametrize(("setting", "value"), [("MemorySize", 10240), ("Timeout", 900)])
def test_create_function_at_the_upper_limits_is_fine(lam: Any, setting: str, value: int) -> None:
    assert create(lam, **{setting: value})[setting] == value


@pytest.mark.parametrize(("setting", "value"), [("MemorySize", 127), ("Timeout", 901)])
def test_update_function_configuration_out_of_range_is_a_validation_error(
    lam: Any, raw: Any, setting: str, value: int
) -> None:
    name = create(lam)["FunctionName"]

    with pytest.raises(ClientError) as exc:
        raw.update_function_configuration(FunctionName=name, **{setting: value})
    assert code_of(exc) == "ValidationException"
    assert lam.get_function_configuration(FunctionName=name)[setting] in (3, 128)


def test_environment_over_4_kb_is_invalid(lam: Any) -> None:
    variables = {f"KEY_{i}": "v" * 100 for i in range(40)}

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        create(lam, Environment={"Variables": variables})
    assert "4KB" in exc.value.response["Error"]["Message"]


def test_environment_just_under_4_kb_is_fine(lam: Any) -> None:
    variables = {"BIG": "v" * (4096 - len('{"BIG":""}'))}  # AWS measures the JSON text

    assert create(lam, Environment={"Variables": variables})["Environment"]["Variables"] == (
        variables
    )


@pytest.mark.parametrize("key", ["AWS_REGION", "AWS_ACCESS_KEY_ID", "_HANDLER", "LAMBDA_TASK_ROOT"])
def test_environment_with_a_reserved_key_is_invalid(lam: Any, key: str) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        create(lam, Environment={"Variables": {key: "x"}})
    assert key in exc.value.response["Error"]["Message"]


def test_update_to_a_reserved_environment_key_is_invalid(lam: Any) -> None:
    name = create(lam)["FunctionName"]

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"AWS_REGION": "eu-west-1"}}
        )


@pytest.mark.parametrize("key", ["1ABC", "A", "has-dash"])
def test_environment_key_not_matching_the_pattern_is_a_validation_error(lam: Any, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        create(lam, Environment={"Variables": {key: "x"}})
    assert code_of(exc) == "ValidationException"


# -- Code -------------------------------------------------------------------------------------
def test_code_that_is_not_a_zip_is_invalid(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        create(lam, Code={"ZipFile": b"definitely not a zip file"})
    assert "unzip" in exc.value.response["Error"]["Message"]


def test_update_code_that_is_not_a_zip_is_invalid_and_keeps_the_old_code(lam: Any) -> None:
    before = create(lam)

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.update_function_code(FunctionName=before["FunctionName"], ZipFile=b"nope")
    after = lam.get_function_configuration(FunctionName=before["FunctionName"])
    assert after["CodeSha256"] == before["CodeSha256"]


def test_code_from_s3_is_invalid(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        create(lam, Code={"S3Bucket": "bucket", "S3Key": "key.zip"})


def test_zip_with_an_unsafe_path_is_invalid(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        create(lam, Code={"ZipFile": zip_source({"../escape.py": "x = 1\n"})})


def test_zip_over_50_mb_is_refused_cleanly_and_the_node_stays_healthy(
    lam: Any, node: NodeProcess
) -> None:
    # Given a zip of 50 MiB + 1 KiB of incompressible bytes
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return e\n")
        zf.writestr("blob.bin", os.urandom(50 * 1024 * 1024 + 1024))
    data = buf.getvalue()
    assert len(data) > 52_428_800

    # When it is uploaded, Then the node refuses it with a modeled error
    name = unique()
    with pytest.raises(ClientError) as exc:
        create(lam, name, Code={"ZipFile": data})
    assert code_of(exc) == "RequestEntityTooLargeException"  # AWS's answer (recorded)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    # And nothing was created, and the node still serves
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    assert_healthy(node)
    assert create(lam)["State"] == "Pending"


def test_zip_over_250_mb_unzipped_is_invalid(lam: Any) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", bytes(262_144_001))

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        create(lam, Code={"ZipFile": buf.getvalue()})
    assert "Unzipped size" in exc.value.response["Error"]["Message"]


# -- Unknown functions and qualifiers ---------------------------------------------------------
def test_get_function_of_an_unknown_name_is_not_found_with_the_aws_message(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as exc:
        lam.get_function(FunctionName="no-such-function")

    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert exc.value.response["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-function"
    )


@pytest.mark.parametrize("qualifier", ["7", "nosuchalias"])
def test_an_unknown_qualifier_is_not_found(lam: Any, qualifier: str) -> None:
    name = create(lam)["FunctionName"]

    with pytest.raises(lam.exceptions.ResourceNotFoundException) as exc:
        lam.get_function_configuration(FunctionName=name, Qualifier=qualifier)
    assert exc.value.response["Error"]["Message"].endswith(f":function:{name}:{qualifier}")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=f"{name}:{qualifier}")


def test_updates_of_an_unknown_function_are_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.update_function_configuration(FunctionName="no-such-function", Timeout=5)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.update_function_code(FunctionName="no-such-function", ZipFile=zip_source(ECHO))


def test_delete_of_an_unknown_version_is_idempotent(lam: Any) -> None:
    # AWS answers 204 (recorded: test_delete_on_nonexisting_version)
    name = create(lam)["FunctionName"]

    out = lam.delete_function(FunctionName=name, Qualifier="3")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204


# -- Raw HTTP: routes, methods, bodies --------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no/such/route"),
        ("GET", "/2015-03-31/functions/x/nothing-here"),
        ("PATCH", "/2015-03-31/functions"),
        ("POST", "/2015-03-31/functions/x/configuration"),
        ("DELETE", "/2016-08-19/account-settings"),
    ],
)
def test_unknown_routes_and_methods_answer_a_json_error(
    node: NodeProcess, method: str, path: str
) -> None:
    r = httpx.request(method, node.url + path, timeout=5)

    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-amzn-ErrorType"]
    assert r.headers["x-amzn-RequestId"]
    body = r.json()
    assert body["Type"] == "User"
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2", b"\xff\xfe", b'{"FunctionName": 5}', b"[]"]
)
def test_a_malformed_body_is_a_client_error_not_a_crash(node: NodeProcess, body: bytes) -> None:
    r = httpx.post(
        node.url + "/2015-03-31/functions",
        content=body,
        headers={"content-type": "application/json"},
        timeout=5,
    )

    assert r.status_code == 400
    assert r.headers["x-amzn-ErrorType"] in (
        "InvalidRequestContentException",
        "ValidationException",
    )
    assert r.json()["message"]
    assert_healthy(node)


def test_a_missing_required_member_is_a_validation_error(node: NodeProcess) -> None:
    payload = {"FunctionName": unique(), "Role": ROLE}  # no Code

    r = httpx.post(node.url + "/2015-03-31/functions", json=payload, timeout=5)

    assert r.status_code == 400
    assert r.headers["x-amzn-ErrorType"] == "ValidationException"


def test_zip_file_that_is_not_base64_is_a_client_error(node: NodeProcess) -> None:
    payload = {
        "FunctionName": unique(),
        "Role": ROLE,
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Code": {"ZipFile": "*** not base64 ***"},
    }

    r = httpx.post(node.url + "/2015-03-31/functions", content=json.dumps(payload), timeout=5)

    assert r.status_code == 400
    assert r.json()["message"]


def test_bad_paging_parameters_are_invalid(node: NodeProcess) -> None:
    for query in ("MaxItems=abc", "Marker=-4", "Marker=zzz"):
        r = httpx.get(f"{node.url}/2015-03-31/functions?{query}", timeout=5)
        assert r.status_code == 400, query
        assert r.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    # below the model's minimum: botocore's model check, in AWS's wording
    r = httpx.get(f"{node.url}/2015-03-31/functions?MaxItems=0", timeout=5)
    assert (r.status_code, r.headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert "Value '0' at 'maxItems' failed to satisfy constraint" in r.json()["message"]


def test_an_error_body_carries_the_model_message_key(node: NodeProcess) -> None:
    # ResourceNotFoundException is modeled with "Message", the others with "message" (ref. A.2)
    missing = httpx.get(f"{node.url}/2015-03-31/functions/nope-nope", timeout=5).json()
    payload = {"FunctionName": "x", "Role": ROLE, "Runtime": "nodejs20.x", "Handler": "a.b"}
    payload["Code"] = {"ZipFile": base64.b64encode(zip_source(ECHO)).decode()}
    invalid = httpx.post(f"{node.url}/2015-03-31/functions", json=payload, timeout=5).json()

    assert set(missing) == {"Type", "Message"}
    assert set(invalid) == {"Type", "message"}
