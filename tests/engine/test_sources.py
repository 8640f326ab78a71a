"""Pure rules of event source mappings: partial batch responses and mapping validation."""

from __future__ import annotations

import pytest

from lamina.control.mappings import Mapping, check
from lamina.engine.sources import partial_failures
from lamina.errors import InvalidParameterValue, ValidationError

BATCH = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("payload", "kept"),
    [
        (b"", set()),
        (b"null", set()),
        (b"{}", set()),
        (b'{"batchItemFailures": []}', set()),
        (b'{"batchItemFailures": null}', set()),
        (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}', {"a", "c"}),
        (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', BATCH),
        (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', BATCH),
        (b'{"batchItemFailures": [{"itemIdentifier": null}]}', BATCH),
        (b'{"batchItemFailures": "b"}', BATCH),
        (b'"just a string"', BATCH),
        (b"{not json", BATCH),
    ],
)
def test_partial_batch_response_decides_what_stays(payload: bytes, kept: set[str]) -> None:
    assert partial_failures(payload, BATCH) == kept


def mapping(**kwargs: object) -> Mapping:
    return Mapping(uuid="u", function="f", qualifier=None, source_arn="arn:aws:sqs:r:1:q", **kwargs)  # type: ignore[arg-type]


def test_mapping_limits_follow_aws() -> None:
    check(mapping(batch_size=10_000, batching_window_s=1))
    with pytest.raises(ValidationError):
        check(mapping(batch_size=0))
    with pytest.raises(ValidationError):
        check(mapping(batch_size=10_001, batching_window_s=1))
    with pytest.raises(InvalidParameterValue):
        check(mapping(batch_size=11))  # more than 10 needs a batching window
    with pytest.raises(ValidationError):
        check(mapping(maximum_concurrency=1))
    with pytest.raises(ValidationError):
        check(mapping(batching_window_s=301))
    with pytest.raises(InvalidParameterValue):
        check(mapping(response_types=["Everything"]))
