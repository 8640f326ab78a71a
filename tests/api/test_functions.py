"""Function CRUD through a real node with boto3: create, get, list, update, delete, waiters."""

from __future__ import annotations

import base64
import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import FUNCTIONS_DIR, ROLE, NodeProcess, zip_dir, zip_source

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

ECHO = {"app.py": "def handler(event, context):\n    return event\n"}
FAST_WAIT = {"Delay": 0.1, "MaxAttempts": 50}


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def create(lam: Any, name: str, data: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("Runtime", "python3.12")
    kwargs.setdefault("Handler", "app.handler")
    out: dict[str, Any] = lam.create_function(
        FunctionName=name, Role=ROLE, Code={"ZipFile": data or zip_source(ECHO)}, **kwargs
    )
    return out


# -- CreateFunction ----------------------------------------------------------------------------
def test_create_function_echoes_the_aws_defaults(lam: Any) -> None:
    data = zip_source(ECHO)
    name = unique()

    out = create(lam, name, data)

    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["FunctionName"] == name
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert out["Version"] == "$LATEST"
    assert out["Timeout"] == 3
    assert out["MemorySize"] == 128
    assert out["EphemeralStorage"] == {"Size": 512}
    assert out["TracingConfig"] == {"Mode": "PassThrough"}
    assert out["Architectures"] == ["x86_64"]
    assert out["PackageType"] == "Zip"
    assert out["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert out["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert out["CodeSha256"] == code_sha256(data)
    assert out["CodeSize"] == len(data)
    assert out["State"] == "Pending"
    assert out["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in out
    assert out["LastModified"].endswith("+0000")
    uuid.UUID(out["RevisionId"])


def test_create_function_keeps_every_setting_it_was_given(lam: Any) -> None:
    name = unique()

    out = create(
        lam,
        name,
        Runtime="python3.11",
        Handler="pkg.mod.main",
        Description="does things",
        Timeout=30,
        MemorySize=512,
        Environment={"Variables": {"AA": "1", "B_2": "two"}},
        DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"},
        EphemeralStorage={"Size": 1024},
        TracingConfig={"Mode": "Active"},
        Architectures=["arm64"],
    )

    got = lam.get_function_configuration(FunctionName=name)
    for key in ("Runtime", "Handler", "Description", "Timeout", "MemorySize", "Environment"):
        assert got[key] == out[key]
    assert got["Runtime"] == "python3.11"
    assert got["Handler"] == "pkg.mod.main"
    assert got["Environment"] == {"Variables": {"AA": "1", "B_2": "two"}}
    assert got["DeadLetterConfig"] == {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"}
    assert got["EphemeralStorage"] == {"Size": 1024}
    assert got["TracingConfig"] == {"Mode": "Active"}
    assert got["Architectures"] == ["arm64"]


def test_create_function_with_publish_creates_version_1(lam: Any) -> None:
    name = unique()

    out = create(lam, name, Publish=True)

    assert out["Version"] == "1"
    assert out["FunctionArn"].endswith(f":function:{name}:1")
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_create_function_accepts_a_full_arn_as_name(lam: Any) -> None:
    name = unique()

    out = create(lam, f"arn:aws:lambda:us-east-1:000000000000:function:{name}")

    assert out["FunctionName"] == name
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


# -- GetFunction / GetFunctionConfiguration ---------------------------------------------------
def test_get_function_hands_out_a_code_url_serving_the_exact_zip(lam: Any) -> None:
    data = zip_dir(FUNCTIONS_DIR / "basic")
    name = unique()
    create(lam, name, data, Tags={"team": "core"})

    got = lam.get_function(FunctionName=name)

    assert got["Configuration"]["State"] == "Active"
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Code"]["RepositoryType"] == "S3"
    fetched = httpx.get(got["Code"]["Location"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert got["Tags"] == {"team": "core"}
    assert "Concurrency" not in got


def test_get_function_shows_reserved_concurrency_once_set(lam: Any) -> None:
    name = unique()
    create(lam, name)

    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)

    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}


def test_get_function_configuration_resolves_version_alias_and_latest(lam: Any) -> None:
    # Given version 1 with Timeout 3, an alias on it, and $LATEST changed to Timeout 9
    name = unique()
    create(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.update_function_configuration(FunctionName=name, Timeout=9)

    # When each qualifier is asked for, Then each shows its own version
    by_version = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    by_alias = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    latest = lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")
    by_suffix = lam.get_function_configuration(FunctionName=f"{name}:1")
    assert (by_version["Version"], by_version["Timeout"]) == ("1", 3)
    assert (by_alias["Version"], by_alias["Timeout"]) == ("1", 3)
    assert (latest["Version"], latest["Timeout"]) == ("$LATEST", 9)
    assert by_suffix["Version"] == "1"
    assert by_version["FunctionArn"].endswith(f"{name}:1")


def test_get_function_accepts_partial_and_full_arns(lam: Any) -> None:
    name = unique()
    create(lam, name)

    partial = lam.get_function(FunctionName=f"000000000000:function:{name}")
    full = lam.get_function(FunctionName=f"arn:aws:lambda:us-east-1:000000000000:function:{name}")

    assert partial["Configuration"]["FunctionName"] == name
    assert full["Configuration"]["FunctionName"] == name


# -- ListFunctions ----------------------------------------------------------------------------
def test_list_functions_pages_with_marker_and_the_paginator(lam: Any) -> None:
    # Given 120 functions sharing a prefix
    prefix = unique("many")
    names = {f"{prefix}-{i:03d}" for i in range(120)}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: create(lam, n), names))

    # When paging by hand with MaxItems 7 and Marker
    seen: list[str] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 7}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 7
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break

    # And with the boto3 paginator (no page size: the node caps pages at 50)
    paged: list[str] = []
    for page in lam.get_paginator("list_functions").paginate():
        assert len(page["Functions"]) <= 50
        paged += [f["FunctionName"] for f in page["Functions"]]

    # Then every function is listed exactly once either way
    for listing in (seen, paged):
        mine = [n for n in listing if n.startswith(prefix)]
        assert sorted(mine) == sorted(names)
        assert len(listing) == len(set(listing))


def test_list_functions_shows_latest_only_unless_function_version_all(lam: Any) -> None:
    name = unique()
    create(lam, name, Publish=True)

    default = [f for f in all_functions(lam) if f["FunctionName"] == name]
    every = [f for f in all_functions(lam, FunctionVersion="ALL") if f["FunctionName"] == name]

    assert [f["Version"] for f in default] == ["$LATEST"]
    assert sorted(f["Version"] for f in every) == ["$LATEST", "1"]
    assert "State" not in default[0]
    assert "LastUpdateStatus" not in default[0]


def all_functions(lam: Any, **kwargs: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in lam.get_paginator("list_functions").paginate(**kwargs):
        out += page["Functions"]
    return out


# -- UpdateFunctionCode -----------------------------------------------------------------------
def test_update_function_code_replaces_the_zip_and_revision(lam: Any) -> None:
    name = unique()
    before = create(lam, name)
    new = zip_source({"app.py": "def handler(event, context):\n    return 2\n"})

    out = lam.update_function_code(FunctionName=name, ZipFile=new)

    assert out["CodeSha256"] == code_sha256(new)
    assert out["CodeSize"] == len(new)
    assert out["RevisionId"] != before["RevisionId"]
    got = lam.get_function(FunctionName=name)
    assert httpx.get(got["Code"]["Location"], timeout=10).content == new


def test_update_function_code_with_publish_creates_the_next_version(lam: Any) -> None:
    name = unique()
    create(lam, name, Publish=True)
    new = zip_source({"app.py": "def handler(event, context):\n    return 2\n"})

    out = lam.update_function_code(FunctionName=name, ZipFile=new, Publish=True)

    assert out["Version"] == "2"
    assert out["CodeSha256"] == code_sha256(new)
    assert (
        lam.get_function_configuration(FunctionName=name, Qualifier="1")["CodeSha256"]
        != (out["CodeSha256"])
    )


def test_update_function_code_with_a_stale_revision_id_is_precondition_failed(lam: Any) -> None:
    name = unique()
    first = create(lam, name)
    lam.update_function_configuration(FunctionName=name, Description="moved on")

    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_function_code(
            FunctionName=name, ZipFile=zip_source(ECHO), RevisionId=first["RevisionId"]
        )


def test_update_function_code_with_the_current_revision_id_succeeds(lam: Any) -> None:
    name = unique()
    create(lam, name)
    current = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    new = zip_source({"app.py": "def handler(e, c):\n    return 3\n"})

    out = lam.update_function_code(FunctionName=name, ZipFile=new, RevisionId=current)

    assert out["CodeSha256"] == code_sha256(new)


def test_update_function_code_dry_run_changes_nothing(lam: Any) -> None:
    name = unique()
    before = create(lam, name)
    new = zip_source({"app.py": "def handler(event, context):\n    return 4\n"})

    out = lam.update_function_code(FunctionName=name, ZipFile=new, DryRun=True)

    assert out["CodeSha256"] == code_sha256(new)
    after = lam.get_function_configuration(FunctionName=name)
    assert after["CodeSha256"] == before["CodeSha256"]
    assert after["RevisionId"] == before["RevisionId"]


# -- UpdateFunctionConfiguration --------------------------------------------------------------
def test_update_function_configuration_changes_every_setting(lam: Any) -> None:
    name = unique()
    before = create(lam, name)
    dlq = "arn:aws:sqs:us-east-1:000000000000:dead"

    out = lam.update_function_configuration(
        FunctionName=name,
        Handler="app.other",
        Runtime="python3.13",
        Timeout=60,
        MemorySize=1024,
        Environment={"Variables": {"MODE": "prod"}},
        Description="updated",
        DeadLetterConfig={"TargetArn": dlq},
        EphemeralStorage={"Size": 2048},
    )

    got = lam.get_function_configuration(FunctionName=name)
    for body in (out, got):
        assert body["Handler"] == "app.other"
        assert body["Runtime"] == "python3.13"
        assert body["Timeout"] == 60
        assert body["MemorySize"] == 1024
        assert body["Environment"] == {"Variables": {"MODE": "prod"}}
        assert body["Description"] == "updated"
        assert body["DeadLetterConfig"] == {"TargetArn": dlq}
        assert body["EphemeralStorage"] == {"Size": 2048}
        assert body["CodeSha256"] == before["CodeSha256"]
    assert got["RevisionId"] == out["RevisionId"] != before["RevisionId"]


def test_update_function_configuration_leaves_unmentioned_settings_alone(lam: Any) -> None:
    name = unique()
    create(lam, name, Timeout=20, Environment={"Variables": {"KEEP": "me"}})

    lam.update_function_configuration(FunctionName=name, MemorySize=256)

    got = lam.get_function_configuration(FunctionName=name)
    assert (got["Timeout"], got["MemorySize"]) == (20, 256)
    assert got["Environment"] == {"Variables": {"KEEP": "me"}}


def test_update_function_configuration_with_a_stale_revision_id_is_precondition_failed(
    lam: Any,
) -> None:
    name = unique()
    first = create(lam, name)
    lam.update_function_configuration(FunctionName=name, Timeout=5)

    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_function_configuration(
            FunctionName=name, Timeout=6, RevisionId=first["RevisionId"]
        )
    assert lam.get_function_configuration(FunctionName=name)["Timeout"] == 5


# -- DeleteFunction ---------------------------------------------------------------------------
def test_delete_function_removes_it_with_its_versions_and_aliases(lam: Any) -> None:
    name = unique()
    create(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    out = lam.delete_function(FunctionName=name)

    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name, Qualifier="1")
    # The name is free again, with no leftovers from before
    create(lam, name)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST"
    ]
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


def test_delete_function_with_a_version_qualifier_removes_only_that_version(lam: Any) -> None:
    name = unique()
    create(lam, name, Publish=True)

    lam.delete_function(FunctionName=name, Qualifier="1")

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert lam.get_function_configuration(FunctionName=name)["Version"] == "$LATEST"


def test_delete_function_of_a_version_an_alias_uses_is_a_conflict(lam: Any) -> None:
    name = unique()
    create(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_function(FunctionName=name, Qualifier="1")
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Version"] == "1"


def test_delete_function_of_a_version_an_alias_routes_to_is_a_conflict(lam: Any) -> None:
    name = unique()
    create(lam, name, Publish=True)
    lam.update_function_configuration(FunctionName=name, Timeout=4)
    lam.publish_version(FunctionName=name)
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )

    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_function(FunctionName=name, Qualifier="2")


@pytest.mark.parametrize("qualifier", ["live", "$LATEST"])
def test_delete_function_with_an_alias_or_latest_qualifier_is_invalid(
    lam: Any, qualifier: str
) -> None:
    name = unique()
    create(lam, name, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.delete_function(FunctionName=name, Qualifier=qualifier)
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"


def test_delete_function_of_an_unknown_function_is_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.delete_function(FunctionName=unique("missing"))


# -- Waiters ----------------------------------------------------------------------------------
def test_function_active_v2_waiter_succeeds_after_create(lam: Any) -> None:
    name = unique()
    create(lam, name)

    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)


def test_function_updated_v2_waiter_succeeds_after_an_update(lam: Any) -> None:
    name = unique()
    create(lam, name)
    lam.update_function_code(FunctionName=name, ZipFile=zip_source({"app.py": "x = 1\n"}))

    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)


def test_published_version_active_waiter_succeeds_for_a_new_version(lam: Any) -> None:
    name = unique()
    create(lam, name)
    version = lam.publish_version(FunctionName=name)["Version"]

    lam.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier=version, WaiterConfig=FAST_WAIT
    )


# -- Concurrency of the control plane ---------------------------------------------------------
def test_fifty_concurrent_creates_are_all_listed_exactly_once(node: NodeProcess) -> None:
    lam = node.client()
    prefix = unique("burst")
    names = [f"{prefix}-{i:02d}" for i in range(50)]

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda n: create(lam, n), names))

    assert sorted(r["FunctionName"] for r in results) == sorted(names)
    listed = [f["FunctionName"] for f in all_functions(lam) if f["FunctionName"].startswith(prefix)]
    assert sorted(listed) == sorted(names)


def test_twenty_concurrent_creates_of_one_name_let_exactly_one_win(node: NodeProcess) -> None:
    lam = node.client()
    name = unique("race")

    def attempt(_: int) -> str:
        try:
            create(lam, name)
        except lam.exceptions.ResourceConflictException:
            return "conflict"
        return "created"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(attempt, range(20)))

    assert outcomes.count("created") == 1
    assert outcomes.count("conflict") == 19
    listed = [f for f in all_functions(lam) if f["FunctionName"] == name]
    assert len(listed) == 1


# -- Account settings -------------------------------------------------------------------------
def test_get_account_settings_counts_functions_and_code(node_factory: Any, tmp_path: Path) -> None:
    # Given a fresh node with two functions, one of them with a published version
    fresh = node_factory(data_dir=tmp_path / "account")
    lam = fresh.client()
    small, other = zip_source(ECHO), zip_source({"app.py": "def handler(e, c):\n    return 1\n"})
    create(lam, "one", small, Publish=True)
    create(lam, "two", other)

    # When the account settings are read
    out = lam.get_account_settings()

    # Then the usage counts functions and the code of every version
    assert out["AccountUsage"]["FunctionCount"] == 2
    assert out["AccountUsage"]["TotalCodeSize"] == 2 * len(small) + len(other)
    assert out["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert out["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert out["AccountLimit"]["CodeSizeZipped"] == 52_428_800
