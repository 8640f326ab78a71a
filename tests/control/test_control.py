"""Pure control-plane logic: ARNs and names, setting checks and their messages, code checks."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

import msgspec
import pytest

from lamina.control import validate
from lamina.control.arns import ALIAS_RE, Arns
from lamina.control.code import CodeCache, check_zip
from lamina.control.function_docs import version_key
from lamina.control.models import LATEST, VersionConfig, alias_configuration, configuration
from lamina.control.models import Alias as AliasRecord
from lamina.errors import (
    InvalidParameterValue,
    RequestTooLarge,
    ResourceNotFound,
    ValidationError,
)

ARNS = Arns("us-east-1", "000000000000")
BASE = "arn:aws:lambda:us-east-1:000000000000:function"


# -- ARNs and names ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("f", ("f", None)),
        ("my-Func_1", ("my-Func_1", None)),
        ("f:1", ("f", "1")),
        ("f:live", ("f", "live")),
        ("f:$LATEST", ("f", "$LATEST")),
        ("000000000000:function:f", ("f", None)),
        ("000000000000:function:f:2", ("f", "2")),
        (f"{BASE}:f", ("f", None)),
        (f"{BASE}:f:live", ("f", "live")),
        (f"{BASE}:f:$LATEST", ("f", "$LATEST")),
        ("arn:aws-us-gov:lambda:us-east-1:000000000000:function:f", ("f", None)),
    ],
)
def test_split_name_understands_names_partial_and_full_arns(
    raw: str, expected: tuple[str, str | None]
) -> None:
    assert ARNS.split_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "x" * 65, "has space", "bad!", "dots.in.name", "f:bad!qualifier", "f:" + "q" * 129, "ü"],
)
def test_split_name_rejects_malformed_names_with_the_aws_pattern_message(raw: str) -> None:
    with pytest.raises(ValidationError) as exc:
        ARNS.split_name(raw)

    assert exc.value.message.startswith(
        f"1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy"
    )
    assert "Member must satisfy regular expression pattern" in exc.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "arn:aws:lambda:eu-west-1:000000000000:function:f",
        "arn:aws:lambda:us-east-1:111111111111:function:f",
        "111111111111:function:f",
    ],
)
def test_split_name_of_another_region_or_account_is_not_found(raw: str) -> None:
    with pytest.raises(ResourceNotFound) as exc:
        ARNS.split_name(raw)
    assert exc.value.message == f"Function not found: {raw}"


def test_function_arns_are_built_in_aws_format() -> None:
    assert ARNS.function("f") == f"{BASE}:f"
    assert ARNS.function("f", "3") == f"{BASE}:f:3"
    assert ARNS.function("f", LATEST) == f"{BASE}:f:$LATEST"
    assert ARNS.queue("q") == "arn:aws:sqs:us-east-1:000000000000:q"
    assert Arns("eu-west-1", "123456789012").function("g") == (
        "arn:aws:lambda:eu-west-1:123456789012:function:g"
    )


@pytest.mark.parametrize(
    ("name", "ok"),
    [("live", True), ("v1", True), ("a-b_c", True), ("123", False), ("a.b", False), ("", False)],
)
def test_alias_names_may_not_be_all_digits(name: str, ok: bool) -> None:
    assert bool(ALIAS_RE.match(name)) is ok


def test_version_keys_sort_latest_first_then_numerically() -> None:
    keys = [version_key("f", v) for v in ("10", "2", LATEST, "1", "100")]

    assert sorted(keys) == [version_key("f", v) for v in (LATEST, "1", "2", "10", "100")]


# -- Setting checks ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "low", "high", "rule"),
    [
        (0, 1, 900, "Member must have value greater than or equal to 1"),
        (901, 1, 900, "Member must have value less than or equal to 900"),
        (127, 128, 10240, "Member must have value greater than or equal to 128"),
    ],
)
def test_range_check_uses_the_aws_constraint_message(
    value: int, low: int, high: int, rule: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        validate.check_range(value, "timeout", low, high)

    assert exc.value.message == (
        f"1 validation error detected: Value '{value}' at 'timeout' failed to satisfy"
        f" constraint: {rule}"
    )
    assert exc.value.code == "ValidationException"
    assert exc.value.status == 400


@pytest.mark.parametrize("value", [1, 3, 900])
def test_range_check_accepts_the_bounds(value: int) -> None:
    validate.check_range(value, "timeout", 1, 900)


@pytest.mark.parametrize("runtime", ["python3.8", "python3.12", "python3.13", "python3.14"])
def test_python_3_runtimes_are_accepted(runtime: str) -> None:
    validate.check_runtime(runtime)


@pytest.mark.parametrize(
    "runtime", ["python2.7", "python3.7", "python3", "nodejs20.x", "java21", "python3.12 "]
)
def test_other_runtimes_are_invalid_parameter_values(runtime: str) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        validate.check_runtime(runtime)
    assert f"Value {runtime} at 'runtime'" in exc.value.message


@pytest.mark.parametrize("handler", ["app.handler", "pkg.mod.fn", "dir/app.handler", "a.b"])
def test_handlers_in_module_dot_function_form_are_accepted(handler: str) -> None:
    validate.check_handler(handler)


@pytest.mark.parametrize("handler", ["", "nodot", "app. handler", "a\t.b", "m." + "x" * 127])
def test_malformed_handlers_are_validation_errors(handler: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate.check_handler(handler)
    assert "at 'handler'" in exc.value.message


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::000000000000:role/r",
        "arn:aws:iam::123456789012:role/path/to/role-name_1",
        "arn:aws-cn:iam::123456789012:role/r",
    ],
)
def test_role_arns_are_accepted(role: str) -> None:
    validate.check_role(role)


@pytest.mark.parametrize(
    "role", ["r", "arn:aws:iam::123:role/r", "arn:aws:iam::000000000000:user/u"]
)
def test_malformed_roles_are_validation_errors(role: str) -> None:
    with pytest.raises(ValidationError):
        validate.check_role(role)


def test_description_longer_than_256_is_a_validation_error() -> None:
    validate.check_description("d" * 256)
    with pytest.raises(ValidationError) as exc:
        validate.check_description("d" * 257)
    assert "Member must have length less than or equal to 256" in exc.value.message


def test_environment_of_exactly_4_kb_is_accepted_and_one_byte_more_is_not() -> None:
    # AWS measures the JSON text of the map, {"KEY":"..."} (recorded answer, issue 13)
    validate.check_environment({"KEY": "v" * (4096 - len('{"KEY":""}'))})

    with pytest.raises(InvalidParameterValue) as exc:
        validate.check_environment({"KEY": "v" * (4097 - len('{"KEY":""}'))})
    assert "exceeded the 4KB limit" in exc.value.message
    assert 'String measured: {"KEY":"vvv' in exc.value.message


def test_environment_size_counts_utf8_bytes() -> None:
    with pytest.raises(InvalidParameterValue):
        validate.check_environment({"KEY": "é" * 2047})


def test_reserved_environment_keys_are_named_in_the_message() -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        validate.check_environment({"AWS_REGION": "x", "OK_KEY": "y", "_HANDLER": "z"})

    assert exc.value.message.endswith("Reserved keys used in this request: AWS_REGION,_HANDLER")


@pytest.mark.parametrize("key", ["A", "1A", "A-B", "A B", "_A"])
def test_environment_keys_must_match_the_aws_pattern(key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        validate.check_environment({key: "v"})
    assert "[a-zA-Z]([a-zA-Z0-9_])+" in exc.value.message


# -- Code -------------------------------------------------------------------------------------
def a_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_check_zip_names_the_code_by_its_sha256() -> None:
    data = a_zip({"app.py": b"def handler(e, c):\n    return e\n"})

    pkg = check_zip(data)

    digest = hashlib.sha256(data).digest()
    assert pkg.digest == digest.hex()
    assert pkg.code_sha256 == base64.b64encode(digest).decode()
    assert len(pkg.code_sha256) == 44
    assert pkg.size == len(data)
    assert pkg.data == data


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x03\x04broken"])
def test_check_zip_refuses_what_is_not_a_zip(data: bytes) -> None:
    with pytest.raises(InvalidParameterValue) as exc:
        check_zip(data)
    assert "Could not unzip uploaded file" in exc.value.message


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "a/../../evil.py"])
def test_check_zip_refuses_entries_that_escape_the_code_directory(name: str) -> None:
    with pytest.raises(InvalidParameterValue):
        check_zip(a_zip({name: b"x"}))


def test_check_zip_refuses_more_than_50_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lamina.control.code.MAX_ZIP_BYTES", 100)

    with pytest.raises(RequestTooLarge) as exc:
        check_zip(a_zip({"app.py": b"x" * 200}))
    assert exc.value.status == 413


def test_check_zip_refuses_more_than_250_mb_unzipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lamina.control.code.MAX_UNZIPPED_BYTES", 1000)

    with pytest.raises(InvalidParameterValue) as exc:
        check_zip(a_zip({"a.bin": bytes(600), "b.bin": bytes(600)}))
    assert "Unzipped size" in exc.value.message


# -- Records as AWS shows them ----------------------------------------------------------------
def a_version(**changes: object) -> VersionConfig:
    v = VersionConfig(
        name="f",
        version=LATEST,
        arn=f"{BASE}:f",
        runtime="python3.12",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/r",
        code_digest="0" * 64,
        code_sha256="sha",
        code_size=10,
        log_group="/aws/lambda/f",
        last_modified=1_700_000_000.5,
        revision_id="rev",
    )
    return msgspec.structs.replace(v, **changes)


def test_configuration_of_latest_uses_the_unqualified_arn_and_lists_omit_state() -> None:
    body = configuration(a_version())
    listed = configuration(a_version(), for_list=True)

    assert body["FunctionArn"] == f"{BASE}:f"
    assert body["LastModified"] == "2023-11-14T22:13:20.500+0000"
    assert body["State"] == "Active"
    assert body["LastUpdateStatus"] == "Successful"
    assert "Environment" not in body
    assert "DeadLetterConfig" not in body
    assert "State" not in listed
    assert "LastUpdateStatus" not in listed


def test_configuration_of_a_version_uses_the_qualified_arn() -> None:
    body = configuration(a_version(version="4", variables={"K1": "v"}, dead_letter_target="q"))

    assert body["FunctionArn"] == f"{BASE}:f:4"
    assert body["Version"] == "4"
    assert body["Environment"] == {"Variables": {"K1": "v"}}
    assert body["DeadLetterConfig"] == {"TargetArn": "q"}


def test_same_content_ignores_identity_and_time_but_not_settings() -> None:
    v = a_version()

    assert v.same_content(a_version(version="3", revision_id="other", last_modified=5.0))
    assert not v.same_content(a_version(timeout=4))
    assert not v.same_content(a_version(code_sha256="different"))


def test_alias_configuration_shows_routing_only_when_weighted() -> None:
    plain = AliasRecord(function="f", name="a", arn=f"{BASE}:f:a", function_version="1")
    weighted = msgspec.structs.replace(plain, additional_weights={"2": 0.5})

    assert "RoutingConfig" not in alias_configuration(plain)
    assert alias_configuration(weighted)["RoutingConfig"] == {
        "AdditionalVersionWeights": {"2": 0.5}
    }


def test_code_directories_are_absolute_even_for_a_relative_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default `--data-dir .lamina` is relative; environments chdir into their code.
    monkeypatch.chdir(tmp_path)

    cache = CodeCache(Path(".lamina") / "code")

    assert cache.path("ab" * 32).is_absolute()
    assert cache.path("ab" * 32) == tmp_path / ".lamina" / "code" / ("ab" * 32)
