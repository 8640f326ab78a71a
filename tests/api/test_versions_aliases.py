"""PublishVersion, ListVersionsByFunction, aliases with routing, and tags, through boto3."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, NodeProcess, zip_source

#: The shared-node tests run on both stores (tests/conftest.py: pytest_generate_tests).
STORES = ("sqlite", "redis")

ECHO = {"app.py": "def handler(event, context):\n    return event\n"}


@pytest.fixture(scope="module")
def raw(shared_node: NodeProcess) -> Any:
    """A client that skips botocore's own parameter checks, so the node's checks are reached."""
    return shared_node.client(parameter_validation=False)


@pytest.fixture
def fn(lam: Any) -> str:
    """A fresh function with versions 1 (Timeout 3) and 2 (Timeout 4); $LATEST = version 2."""
    name = f"fn-{uuid.uuid4().hex[:10]}"
    lam.create_function(
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source(ECHO)},
        Publish=True,
    )
    lam.update_function_configuration(FunctionName=name, Timeout=4)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    return name


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = exc.value.response["Error"]["Code"]
    return code


def versions(lam: Any, name: str) -> list[str]:
    return [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]


# -- PublishVersion ---------------------------------------------------------------------------
def test_publish_version_snapshots_latest_with_its_description(lam: Any, fn: str) -> None:
    lam.update_function_configuration(FunctionName=fn, MemorySize=256)
    latest = lam.get_function_configuration(FunctionName=fn)

    out = lam.publish_version(FunctionName=fn, Description="release 3")

    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["Version"] == "3"
    assert out["Description"] == "release 3"
    assert out["MemorySize"] == 256
    assert out["CodeSha256"] == latest["CodeSha256"]
    assert out["FunctionArn"] == f"{latest['FunctionArn']}:3"
    # Later changes to $LATEST leave the published version alone
    lam.update_function_configuration(FunctionName=fn, MemorySize=512)
    assert lam.get_function_configuration(FunctionName=fn, Qualifier="3")["MemorySize"] == 256


def test_publish_version_with_nothing_changed_returns_the_last_version(lam: Any, fn: str) -> None:
    again = lam.publish_version(FunctionName=fn)

    assert again["Version"] == "2"
    assert versions(lam, fn) == ["$LATEST", "1", "2"]


def test_publish_version_with_a_wrong_code_sha256_is_invalid(lam: Any, fn: str) -> None:
    lam.update_function_configuration(FunctionName=fn, Timeout=7)

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.publish_version(FunctionName=fn, CodeSha256="bm90IHRoZSByaWdodCBoYXNo")
    assert versions(lam, fn) == ["$LATEST", "1", "2"]


def test_publish_version_with_the_right_code_sha256_publishes(lam: Any, fn: str) -> None:
    lam.update_function_configuration(FunctionName=fn, Timeout=7)
    sha = lam.get_function_configuration(FunctionName=fn)["CodeSha256"]

    assert lam.publish_version(FunctionName=fn, CodeSha256=sha)["Version"] == "3"


def test_publish_version_with_a_stale_revision_id_is_precondition_failed(lam: Any, fn: str) -> None:
    stale = lam.get_function_configuration(FunctionName=fn)["RevisionId"]
    lam.update_function_configuration(FunctionName=fn, Timeout=8)

    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.publish_version(FunctionName=fn, RevisionId=stale)


def test_version_numbers_are_never_reused_after_a_delete(lam: Any, fn: str) -> None:
    # Given versions 1 and 2, and version 2 deleted
    lam.delete_function(FunctionName=fn, Qualifier="2")
    assert versions(lam, fn) == ["$LATEST", "1"]

    # When $LATEST changes and is published
    lam.update_function_configuration(FunctionName=fn, Timeout=9)
    out = lam.publish_version(FunctionName=fn)

    # Then the new version is 3, not 2 again
    assert out["Version"] == "3"
    assert versions(lam, fn) == ["$LATEST", "1", "3"]


def test_publish_version_of_an_unknown_function_is_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.publish_version(FunctionName="no-such-function-here")


# -- ListVersionsByFunction -------------------------------------------------------------------
def test_list_versions_puts_latest_first_then_versions_in_order(lam: Any, fn: str) -> None:
    out = lam.list_versions_by_function(FunctionName=fn)["Versions"]

    assert [v["Version"] for v in out] == ["$LATEST", "1", "2"]
    assert out[0]["FunctionArn"].endswith(f"{fn}:$LATEST")
    assert out[2]["FunctionArn"].endswith(f"{fn}:2")
    assert [v["Timeout"] for v in out] == [4, 3, 4]


def test_list_versions_pages_with_marker_and_the_paginator(lam: Any, fn: str) -> None:
    # Given 12 versions (publishing after each config change)
    for timeout in range(10, 20):
        lam.update_function_configuration(FunctionName=fn, Timeout=timeout)
        lam.publish_version(FunctionName=fn)
    expected = ["$LATEST", *[str(i) for i in range(1, 13)]]

    # When paged by hand, 5 at a time
    seen: list[str] = []
    kwargs: dict[str, Any] = {"FunctionName": fn, "MaxItems": 5}
    while True:
        page = lam.list_versions_by_function(**kwargs)
        assert len(page["Versions"]) <= 5
        seen += [v["Version"] for v in page["Versions"]]
        if not page.get("NextMarker"):
            break
        kwargs["Marker"] = page["NextMarker"]

    # Then, and through the paginator, every version comes once, in order
    paginator = lam.get_paginator("list_versions_by_function")
    pages = list(paginator.paginate(FunctionName=fn, PaginationConfig={"PageSize": 4}))
    assert seen == expected
    assert [v["Version"] for p in pages for v in p["Versions"]] == expected
    assert len(pages) == 4


def test_list_versions_of_an_unknown_function_is_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_versions_by_function(FunctionName="no-such-function-here")


# -- Aliases ----------------------------------------------------------------------------------
def test_create_alias_returns_and_stores_the_alias(lam: Any, fn: str) -> None:
    out = lam.create_alias(
        FunctionName=fn,
        Name="live",
        FunctionVersion="1",
        Description="prod traffic",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )

    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["AliasArn"].endswith(f":function:{fn}:live")
    got = lam.get_alias(FunctionName=fn, Name="live")
    for body in (out, got):
        assert body["Name"] == "live"
        assert body["FunctionVersion"] == "1"
        assert body["Description"] == "prod traffic"
        assert body["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert got["RevisionId"] == out["RevisionId"]


def test_create_alias_pointing_to_latest_is_allowed(lam: Any, fn: str) -> None:
    out = lam.create_alias(FunctionName=fn, Name="edge", FunctionVersion="$LATEST")

    assert out["FunctionVersion"] == "$LATEST"
    got = lam.get_function_configuration(FunctionName=fn, Qualifier="edge")
    assert got["Version"] == "$LATEST"


def test_create_alias_twice_is_a_conflict(lam: Any, fn: str) -> None:
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")

    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="2")


def test_create_alias_to_an_unknown_version_is_not_found(lam: Any, fn: str) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="42")


def test_create_alias_with_an_all_digits_name_is_rejected(raw: Any, fn: str) -> None:
    with pytest.raises(ClientError) as exc:
        raw.create_alias(FunctionName=fn, Name="123", FunctionVersion="1")
    assert error_code(exc) == "ValidationException"


@pytest.mark.parametrize("weight", [1.5, -0.1])
def test_routing_weight_outside_zero_to_one_is_rejected(raw: Any, fn: str, weight: float) -> None:
    with pytest.raises(ClientError) as exc:
        raw.create_alias(
            FunctionName=fn,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": weight}},
        )
    assert error_code(exc) == "ValidationException"


def test_routing_to_more_than_one_extra_version_is_invalid(lam: Any, fn: str) -> None:
    lam.update_function_configuration(FunctionName=fn, Timeout=11)
    lam.publish_version(FunctionName=fn)

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_alias(
            FunctionName=fn,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}},
        )


def test_routing_from_latest_with_weights_is_invalid(lam: Any, fn: str) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_alias(
            FunctionName=fn,
            Name="live",
            FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_alias(
            FunctionName=fn,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}},
        )


def test_routing_to_an_unknown_version_is_not_found(lam: Any, fn: str) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_alias(
            FunctionName=fn,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"9": 0.5}},
        )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName=fn, Name="live")


def test_get_configuration_of_a_weighted_alias_shows_its_primary_version(lam: Any, fn: str) -> None:
    # Given an alias on version 1 that sends all of its traffic to version 2
    lam.create_alias(
        FunctionName=fn,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}},
    )

    # Then the alias's configuration is still version 1's (routing is for invokes only)
    for _ in range(5):
        assert lam.get_function_configuration(FunctionName=fn, Qualifier="live")["Version"] == "1"
        assert lam.get_function(FunctionName=fn, Qualifier="live")["Configuration"]["Timeout"] == 3


def test_update_alias_moves_it_and_changes_its_revision(lam: Any, fn: str) -> None:
    first = lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")

    out = lam.update_alias(
        FunctionName=fn, Name="live", FunctionVersion="2", RevisionId=first["RevisionId"]
    )

    assert out["FunctionVersion"] == "2"
    assert out["RevisionId"] != first["RevisionId"]
    assert out["Description"] == ""
    assert lam.get_function_configuration(FunctionName=fn, Qualifier="live")["Version"] == "2"


def test_update_alias_with_a_stale_revision_id_is_precondition_failed(lam: Any, fn: str) -> None:
    first = lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    lam.update_alias(FunctionName=fn, Name="live", Description="touched")

    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_alias(
            FunctionName=fn, Name="live", FunctionVersion="2", RevisionId=first["RevisionId"]
        )
    assert lam.get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "1"


def test_update_alias_sets_and_clears_routing(lam: Any, fn: str) -> None:
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")

    routed = lam.update_alias(
        FunctionName=fn, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}}
    )
    kept = lam.update_alias(FunctionName=fn, Name="live", Description="still routed")
    cleared = lam.update_alias(
        FunctionName=fn, Name="live", RoutingConfig={"AdditionalVersionWeights": {}}
    )

    assert routed["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    assert kept["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    assert "RoutingConfig" not in cleared
    assert cleared["Description"] == "still routed"


def test_update_alias_to_an_unknown_version_is_not_found(lam: Any, fn: str) -> None:
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.update_alias(FunctionName=fn, Name="live", FunctionVersion="77")


def test_delete_alias_removes_it(lam: Any, fn: str) -> None:
    lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")

    out = lam.delete_alias(FunctionName=fn, Name="live")

    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName=fn, Name="live")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_configuration(FunctionName=fn, Qualifier="live")
    # and the version it pointed at can now be deleted
    lam.delete_function(FunctionName=fn, Qualifier="1")


def test_list_aliases_filters_by_function_version_and_pages(lam: Any, fn: str) -> None:
    for i in range(5):
        lam.create_alias(FunctionName=fn, Name=f"one-{i}", FunctionVersion="1")
    lam.create_alias(FunctionName=fn, Name="two", FunctionVersion="2")

    every = lam.list_aliases(FunctionName=fn)["Aliases"]
    on_two = lam.list_aliases(FunctionName=fn, FunctionVersion="2")["Aliases"]
    paged = [
        a["Name"]
        for page in lam.get_paginator("list_aliases").paginate(
            FunctionName=fn, PaginationConfig={"PageSize": 2}
        )
        for a in page["Aliases"]
    ]

    assert sorted(a["Name"] for a in every) == [*(f"one-{i}" for i in range(5)), "two"]
    assert [a["Name"] for a in on_two] == ["two"]
    assert sorted(paged) == sorted(a["Name"] for a in every)


def test_alias_operations_on_an_unknown_function_are_not_found(lam: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_alias(FunctionName="no-such-function-here", Name="a", FunctionVersion="1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_aliases(FunctionName="no-such-function-here")


# -- Tags -------------------------------------------------------------------------------------
def test_tag_untag_and_list_tags_on_a_function_arn(lam: Any, fn: str) -> None:
    arn = lam.get_function_configuration(FunctionName=fn)["FunctionArn"]

    lam.tag_resource(Resource=arn, Tags={"team": "core", "env": "dev", "cost": "1"})
    lam.untag_resource(Resource=arn, TagKeys=["env", "cost"])
    lam.tag_resource(Resource=arn, Tags={"team": "platform"})

    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "platform"}
    assert lam.get_function(FunctionName=fn)["Tags"] == {"team": "platform"}


def test_tags_given_at_create_are_listed(lam: Any) -> None:
    name = f"fn-{uuid.uuid4().hex[:10]}"
    out = lam.create_function(
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": zip_source(ECHO)},
        Tags={"a": "1"},
    )

    assert lam.list_tags(Resource=out["FunctionArn"])["Tags"] == {"a": "1"}


def test_tags_on_a_qualified_arn_are_invalid(lam: Any, fn: str) -> None:
    arn = lam.get_function_configuration(FunctionName=fn, Qualifier="1")["FunctionArn"]

    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.tag_resource(Resource=arn, Tags={"a": "b"})


def test_tags_of_an_unknown_function_are_not_found(lam: Any) -> None:
    arn = "arn:aws:lambda:us-east-1:000000000000:function:no-such-function-here"

    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_tags(Resource=arn)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.tag_resource(Resource=arn, Tags={"a": "b"})
