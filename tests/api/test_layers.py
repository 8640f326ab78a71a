"""Layers through a real node with boto3: publish, read, list, delete, errors, and functions
that use them (their modules importable, a later layer overriding an earlier one, limits,
a deleted layer version still serving the functions that use it)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from io import BytesIO
from typing import Any

import botocore.exceptions
import httpx
import pytest

from harness import NODE_RUNTIME, NodeProcess, unique_name, zip_source

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

ARN = "arn:aws:lambda:us-east-1:000000000000"
NOT_FOUND = "The resource you requested does not exist."

#: A handler reporting what its layers give it.
USES_LAYERS = {
    "app.py": (
        "import shared\n"
        "from vendored import lib\n"
        "def handler(event, context):\n"
        "    return {'shared': shared.WHO, 'lib': lib.WHO}\n"
    )
}


def layer_zip(who: str, *, site_packages: bool = True) -> bytes:
    """A layer in AWS's Python layout: `python/shared.py`, and a package in site-packages."""
    files = {"python/shared.py": f"WHO = {who!r}\n"}
    if site_packages:
        packages = f"python/lib/{NODE_RUNTIME}/site-packages/vendored"
        files[f"{packages}/__init__.py"] = ""
        files[f"{packages}/lib.py"] = f"WHO = {who!r}\n"
    return zip_source(files)


def publish(lam: Any, name: str, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
    out: dict[str, Any] = lam.publish_layer_version(
        LayerName=name, Content={"ZipFile": data or layer_zip(name)}, **kwargs
    )
    return out


def invoke_json(lam: Any, name: str) -> Any:
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body


def error_of(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


# -- PublishLayerVersion / GetLayerVersion ------------------------------------------------------
def test_publish_answers_aws_shape_and_numbers_versions_from_1(lam: Any) -> None:
    name = unique_name("layer")
    data = layer_zip("a")

    first = publish(
        lam,
        name,
        data,
        Description="my layer",
        LicenseInfo="MIT",
        CompatibleRuntimes=["python3.12"],
        CompatibleArchitectures=["x86_64"],
    )
    second = publish(lam, name, data)

    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["LayerArn"] == f"{ARN}:layer:{name}"
    assert first["LayerVersionArn"] == f"{ARN}:layer:{name}:1"
    assert first["Version"] == 1 and second["Version"] == 2
    assert first["Description"] == "my layer" and first["LicenseInfo"] == "MIT"
    assert first["CompatibleRuntimes"] == ["python3.12"]
    assert first["CompatibleArchitectures"] == ["x86_64"]
    assert first["Content"]["CodeSize"] == len(data)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert first["Content"]["CodeSha256"] == sha == second["Content"]["CodeSha256"]
    assert first["CreatedDate"].endswith("+0000")
    # what was not given is left out, as AWS does
    assert "CompatibleRuntimes" not in second and "LicenseInfo" not in second
    assert second["Description"] == ""
    # the Location serves the exact zip
    assert httpx.get(first["Content"]["Location"]).content == data


def test_publish_takes_a_zip_of_several_megabytes_as_function_code_does(lam: Any) -> None:
    noise = os.urandom(3 * 2**20)  # incompressible: a 3 MB zip, 4 MB of base64
    data = zip_source({"python/blob.py": f"DATA = {noise.hex()!r}\n"})

    out = publish(lam, unique_name("big"), data)

    assert out["Content"]["CodeSize"] == len(data) > 3 * 2**20


def test_get_layer_version_by_name_by_layer_arn_and_by_version_arn(lam: Any) -> None:
    name = unique_name("layer")
    published = publish(lam, name, Description="d", CompatibleRuntimes=[])

    by_name = lam.get_layer_version(LayerName=name, VersionNumber=1)
    by_layer_arn = lam.get_layer_version(LayerName=published["LayerArn"], VersionNumber=1)
    by_arn = lam.get_layer_version_by_arn(Arn=published["LayerVersionArn"])

    for got in (by_name, by_layer_arn, by_arn):
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
        got.pop("ResponseMetadata")
    published.pop("ResponseMetadata")
    assert by_name == by_layer_arn == by_arn == published
    assert by_name["CompatibleRuntimes"] == []


def test_layer_errors_have_aws_codes_and_messages(lam: Any) -> None:
    name = unique_name("layer")
    published = publish(lam, name)

    with pytest.raises(lam.exceptions.ResourceNotFoundException) as missing:
        lam.get_layer_version(LayerName=unique_name("nope"), VersionNumber=1)
    assert error_of(missing) == ("ResourceNotFoundException", NOT_FOUND)
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as missing_version:
        lam.get_layer_version(LayerName=name, VersionNumber=2)
    assert error_of(missing_version)[1] == NOT_FOUND
    for number in (0, -1):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as low:
            lam.get_layer_version(LayerName=name, VersionNumber=number)
        assert error_of(low)[1] == "Layer Version Cannot be less than 1"
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version_by_arn(Arn=f"{published['LayerArn']}:2")
    with pytest.raises(botocore.exceptions.ClientError) as unversioned:
        lam.get_layer_version_by_arn(Arn=published["LayerArn"])
    assert error_of(unversioned)[0] == "ValidationException"


def test_publish_refuses_unknown_runtimes_s3_content_and_bad_zips(lam: Any) -> None:
    name = unique_name("layer")

    with pytest.raises(botocore.exceptions.ClientError) as runtime:
        publish(lam, name, CompatibleRuntimes=["invalidruntime", "python3.12"])
    code, message = error_of(runtime)
    assert code == "ValidationException"
    assert message.startswith(
        "1 validation error detected: Value '[invalidruntime, python3.12]' at"
        " 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set:"
    )
    with pytest.raises(botocore.exceptions.ClientError) as arch:
        publish(lam, name, CompatibleArchitectures=["invalidarch"])
    assert error_of(arch)[0] == "ValidationException"
    assert "'compatibleArchitectures'" in error_of(arch)[1]
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as s3:
        lam.publish_layer_version(LayerName=name, Content={"S3Bucket": "bucket", "S3Key": "k"})
    assert "Content.ZipFile only" in error_of(s3)[1]
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as bad_zip:
        publish(lam, name, b"not a zip")
    assert "Could not unzip uploaded file" in error_of(bad_zip)[1]
    # old runtimes AWS still knows are accepted, as on AWS
    assert publish(lam, name, CompatibleRuntimes=["python3.7", "go1.x", "provided"])["Version"]


# -- ListLayerVersions / ListLayers / DeleteLayerVersion ----------------------------------------
def test_list_layer_versions_newest_first_filtered_and_paged(lam: Any) -> None:
    name = unique_name("layer")
    publish(lam, name, CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["arm64"])
    publish(lam, name, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"])
    publish(lam, name, CompatibleRuntimes=["python3.12"])

    listed = lam.list_layer_versions(LayerName=name)["LayerVersions"]
    by_runtime = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")
    by_arch = lam.list_layer_versions(LayerName=name, CompatibleArchitecture="arm64")
    first_page = lam.list_layer_versions(LayerName=name, MaxItems=2)
    second_page = lam.list_layer_versions(LayerName=name, Marker=first_page["NextMarker"])

    assert [v["Version"] for v in listed] == [3, 2, 1]
    assert set(listed[0]) == {"LayerVersionArn", "Version", "Description", "CreatedDate"} | {
        "CompatibleRuntimes"
    }
    assert [v["Version"] for v in by_runtime["LayerVersions"]] == [3, 2]
    assert [v["Version"] for v in by_arch["LayerVersions"]] == [1]
    assert [v["Version"] for v in first_page["LayerVersions"]] == [3, 2]
    assert [v["Version"] for v in second_page["LayerVersions"]] == [1]
    assert "NextMarker" not in second_page
    assert lam.list_layer_versions(LayerName=unique_name("nope"))["LayerVersions"] == []


def test_list_layers_shows_each_layers_latest_matching_version(lam: Any) -> None:
    tag = unique_name("lst")
    a, b = f"{tag}-a", f"{tag}-b"
    publish(lam, a, CompatibleRuntimes=["python3.12"])
    publish(lam, a, CompatibleRuntimes=["python3.11"])
    publish(lam, b, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["arm64"])

    def mine(**filters: Any) -> dict[str, Any]:
        return {
            layer["LayerName"]: layer
            for layer in lam.list_layers(**filters)["Layers"]
            if layer["LayerName"].startswith(tag)
        }

    everything = mine()
    for_312 = mine(CompatibleRuntime="python3.12")
    for_arm = mine(CompatibleArchitecture="arm64")

    assert sorted(everything) == [a, b]
    assert everything[a]["LayerArn"] == f"{ARN}:layer:{a}"
    assert everything[a]["LatestMatchingVersion"]["Version"] == 2
    assert everything[a]["LatestMatchingVersion"]["LayerVersionArn"] == f"{ARN}:layer:{a}:2"
    assert for_312[a]["LatestMatchingVersion"]["Version"] == 1
    assert sorted(for_arm) == [b]
    with pytest.raises(botocore.exceptions.ClientError) as bad:
        lam.list_layers(CompatibleRuntime="runtimedoesnotexist")
    assert error_of(bad)[0] == "ValidationException"
    assert "at 'compatibleRuntime' failed to satisfy constraint" in error_of(bad)[1]


def test_delete_is_idempotent_and_numbers_are_never_reused(lam: Any) -> None:
    name = unique_name("layer")
    publish(lam, name)
    publish(lam, name)

    for number in (1, 2, 2, 7):
        out = lam.delete_layer_version(LayerName=name, VersionNumber=number)
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.delete_layer_version(LayerName=unique_name("nope"), VersionNumber=1)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.delete_layer_version(LayerName=name, VersionNumber=-1)

    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []
    assert name not in {layer["LayerName"] for layer in lam.list_layers()["Layers"]}
    assert publish(lam, name)["Version"] == 3


# -- functions with layers --------------------------------------------------------------------
def test_function_imports_from_its_layers_and_a_later_layer_overrides(
    lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    first = publish(lam, unique_name("base"), layer_zip("base"))
    second = publish(lam, unique_name("over"), layer_zip("over", site_packages=False))

    only_first = create_function(USES_LAYERS, Layers=[first["LayerVersionArn"]])
    both = create_function(
        USES_LAYERS, Layers=[first["LayerVersionArn"], second["LayerVersionArn"]]
    )

    assert invoke_json(lam, only_first["FunctionName"]) == {"shared": "base", "lib": "base"}
    # python/shared.py comes from the later layer; site-packages only the first one has
    assert invoke_json(lam, both["FunctionName"]) == {"shared": "over", "lib": "base"}


def test_a_layers_own_boto3_wins_over_the_one_the_runtime_ships(
    lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    """As on AWS, where /opt/python comes before the runtime's boto3 on sys.path."""
    boto3_layer = zip_source({"python/boto3/__init__.py": "__version__ = '0.0-from-layer'\n"})
    layer = publish(lam, unique_name("boto3"), boto3_layer)
    fn = create_function(
        {"app.py": "import boto3\ndef handler(event, context):\n    return boto3.__version__\n"},
        Layers=[layer["LayerVersionArn"]],
    )

    assert invoke_json(lam, fn["FunctionName"]) == "0.0-from-layer"


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.isdir("/opt"), reason="a private /opt needs a root node"
)
def test_layer_files_are_at_opt_as_on_aws(
    lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    """With private mounts (a root node), the merged layers are mounted read-only at /opt."""
    data = zip_source({"data/model.txt": "weights", "bin/tool": "#!/bin/sh\necho tool\n"})
    layer = publish(lam, unique_name("opt"), data)
    reader = (
        "import os\n"
        "def handler(event, context):\n"
        "    try:\n"
        "        open('/opt/data/new.txt', 'w')\n"
        "        writable = True\n"
        "    except OSError:\n"
        "        writable = False\n"
        "    return [open('/opt/data/model.txt').read(), sorted(os.listdir('/opt')), writable]\n"
    )
    fn = create_function({"app.py": reader}, Layers=[layer["LayerVersionArn"]])

    assert invoke_json(lam, fn["FunctionName"]) == ["weights", ["bin", "data"], False]


def test_spawned_environments_find_layers_too(
    lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    layer = publish(lam, unique_name("spawn"), layer_zip("spawned"))

    # a PYTHON* variable makes the node spawn the environment instead of forking it
    fn = create_function(
        USES_LAYERS,
        Layers=[layer["LayerVersionArn"]],
        Environment={"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}},
    )

    assert invoke_json(lam, fn["FunctionName"]) == {"shared": "spawned", "lib": "spawned"}


def test_get_function_shows_layers_and_versions_keep_theirs(
    lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    a = publish(lam, unique_name("la"))
    b = publish(lam, unique_name("lb"))
    created = create_function(USES_LAYERS, Layers=[a["LayerVersionArn"]], Publish=True)
    name = created["FunctionName"]

    assert created["Layers"] == [
        {"Arn": a["LayerVersionArn"], "CodeSize": a["Content"]["CodeSize"]}
    ]
    updated = lam.update_function_configuration(
        FunctionName=name, Layers=[b["LayerVersionArn"], a["LayerVersionArn"]]
    )
    assert [layer["Arn"] for layer in updated["Layers"]] == [
        b["LayerVersionArn"],
        a["LayerVersionArn"],
    ]
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
    )
    got = lam.get_function(FunctionName=name)["Configuration"]["Layers"]
    listed = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    version_1 = lam.get_function_configuration(FunctionName=name, Qualifier="1")

    assert [layer["Arn"] for layer in got] == [b["LayerVersionArn"], a["LayerVersionArn"]]
    assert listed[name]["Layers"] == got
    assert [layer["Arn"] for layer in version_1["Layers"]] == [a["LayerVersionArn"]]
    # Layers=[] takes them all away
    cleared = lam.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in cleared


def test_function_layers_are_checked_as_aws_checks_them(
    lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    name = unique_name("layer")
    v1 = publish(lam, name)["LayerVersionArn"]
    v2 = publish(lam, name)["LayerVersionArn"]
    fn = create_function(USES_LAYERS)["FunctionName"]

    def refused(layers: list[str]) -> tuple[str, str]:
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            lam.update_function_configuration(FunctionName=fn, Layers=layers)
        return error_of(exc)

    assert refused([v1, v2]) == (
        "InvalidParameterValueException",
        "Two different versions of the same layer are not allowed to be referenced in the same"
        f" function. {v1} and {v2} are versions of the same layer.",
    )
    assert refused([f"{ARN}:layer:{name}:9"]) == (
        "InvalidParameterValueException",
        f"Layer version {ARN}:layer:{name}:9 does not exist.",
    )
    others = [publish(lam, unique_name("six"))["LayerVersionArn"] for _ in range(6)]
    assert refused(others) == (
        "InvalidParameterValueException",
        "Cannot reference more than 5 layers.",
    )
    elsewhere = f"arn:aws:lambda:eu-west-1:000000000000:layer:{name}:1"
    assert refused([elsewhere]) == (
        "InvalidParameterValueException",
        "Layers are not in the same region as the function. Layers are expected to be in"
        " region us-east-1.",
    )
    assert refused([f"{ARN}:layer:{name}"])[0] == "ValidationException"
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        create_function(USES_LAYERS, Layers=others)
    # five are fine
    lam.update_function_configuration(FunctionName=fn, Layers=others[:5])


def test_code_and_layers_over_250_mb_unzipped_are_refused(
    lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    # zeros compress to almost nothing: 150 MB unzipped in a zip of a few hundred KB
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("python/big.bin", bytes(150 * 2**20))
    big = buf.getvalue()
    first = publish(lam, unique_name("big"), big)["LayerVersionArn"]
    second = publish(lam, unique_name("big"), big)["LayerVersionArn"]
    fn = create_function(USES_LAYERS, Layers=[first])["FunctionName"]

    with pytest.raises(lam.exceptions.InvalidParameterValueException) as exc:
        lam.update_function_configuration(FunctionName=fn, Layers=[first, second])
    message = error_of(exc)[1]
    assert message.startswith(
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes."
        " The actual size is "
    )
    assert lam.get_function(FunctionName=fn)["Configuration"]["Layers"][0]["Arn"] == first


def test_deleted_layer_version_keeps_serving_the_functions_using_it(
    node: NodeProcess, lam: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    layer = publish(lam, unique_name("gone"), layer_zip("kept"))
    fn = create_function(USES_LAYERS, Layers=[layer["LayerVersionArn"]])["FunctionName"]
    assert invoke_json(lam, fn) == {"shared": "kept", "lib": "kept"}

    lam.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=1)
    # a change that starts new environments: they must still find the layer
    lam.update_function_configuration(FunctionName=fn, Description="new environments please")

    assert invoke_json(lam, fn) == {"shared": "kept", "lib": "kept"}
    assert (
        lam.get_function(FunctionName=fn)["Configuration"]["Layers"][0]["Arn"]
        == (layer["LayerVersionArn"])
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])


# -- layer version policies -------------------------------------------------------------------
def test_layer_version_policy_lifecycle(lam: Any) -> None:
    name = unique_name("pol")
    arn = publish(lam, name)["LayerVersionArn"]

    with pytest.raises(lam.exceptions.ResourceNotFoundException) as none_yet:
        lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    added = lam.add_layer_version_permission(
        LayerName=name,
        VersionNumber=1,
        StatementId="s1",
        Action="lambda:GetLayerVersion",
        Principal="*",
    )
    lam.add_layer_version_permission(
        LayerName=name,
        VersionNumber=1,
        StatementId="s2",
        Action="lambda:GetLayerVersion",
        Principal="123456789012",
        OrganizationId="o-abcdefghij",
        RevisionId=added["RevisionId"],
    )
    both = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="s2")
    one = lam.get_layer_version_policy(LayerName=name, VersionNumber=1)

    assert error_of(none_yet)[1] == "No policy is associated with the given resource."
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "s1",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:GetLayerVersion",
        "Resource": arn,
    }
    policy = json.loads(both["Policy"])
    assert (policy["Version"], policy["Id"]) == ("2012-10-17", "default")
    assert [s["Sid"] for s in policy["Statement"]] == ["s1", "s2"]
    assert policy["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert policy["Statement"][1]["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}
    }
    assert [s["Sid"] for s in json.loads(one["Policy"])["Statement"]] == ["s1"]
    assert len({added["RevisionId"], both["RevisionId"], one["RevisionId"]}) == 3


def test_layer_version_policy_errors(lam: Any) -> None:
    name = unique_name("pol")
    publish(lam, name)
    grant = {"Action": "lambda:GetLayerVersion", "Principal": "*"}
    lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="s1", **grant)

    with pytest.raises(lam.exceptions.ResourceConflictException) as duplicate:
        lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="s1", **grant)
    with pytest.raises(lam.exceptions.PreconditionFailedException) as stale:
        lam.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="s2", RevisionId="wrong", **grant
        )
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as no_version:
        lam.add_layer_version_permission(LayerName=name, VersionNumber=2, StatementId="x", **grant)
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as no_statement:
        lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="nope")
    with pytest.raises(botocore.exceptions.ClientError) as bad_action:
        lam.add_layer_version_permission(
            LayerName=name, VersionNumber=1, StatementId="s3", Action="*", Principal="*"
        )

    assert error_of(duplicate)[1] == (
        "The statement id (s1) provided already exists. Please provide a new statement id, or"
        " remove the existing statement."
    )
    assert error_of(stale)[1].startswith("The Revision Id provided does not match")
    assert error_of(no_version)[1] == f"Layer version {ARN}:layer:{name}:2 does not exist."
    assert error_of(no_statement)[1] == "Statement nope is not found in resource policy."
    assert error_of(bad_action)[0] == "ValidationException"
    # deleting the version takes its policy with it
    lam.delete_layer_version(LayerName=name, VersionNumber=1)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version_policy(LayerName=name, VersionNumber=1)
