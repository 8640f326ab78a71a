"""Which requests the hot lane takes (the rest go through Starlette's routes)."""

from __future__ import annotations

import pytest

from lamina.api.hot import _qualifier, invoked_name, is_sqs
from lamina.api.limits import Service


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("POST", "/2015-03-31/functions/f/invocations", "f"),
        ("POST", "/2015-03-31/functions/f:live/invocations", "f:live"),
        (
            "POST",
            "/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:f/invocations",
            "arn:aws:lambda:us-east-1:000000000000:function:f",
        ),
        ("GET", "/2015-03-31/functions/f/invocations", None),
        ("POST", "/2015-03-31/functions/f/invocations/", None),
        ("POST", "/2015-03-31/functions//invocations", None),
        ("POST", "/2015-03-31/functions/a/b/invocations", None),
        ("POST", "/2014-11-13/functions/f/invoke-async", None),
        ("POST", "/2015-03-31/functions/f/configuration", None),
    ],
)
def test_only_invoke_urls_take_the_hot_lane(method: str, path: str, name: str | None) -> None:
    assert invoked_name({"method": method, "path": path}) == name


def test_the_qualifier_is_read_as_starlette_reads_it() -> None:
    assert _qualifier(b"") is None
    assert _qualifier(b"Qualifier=3") == "3"
    assert _qualifier(b"x=1&Qualifier=a&Qualifier=live") == "live"  # the last one wins
    assert _qualifier(b"Qualifier=%24LATEST") == "$LATEST"


@pytest.mark.parametrize(
    ("method", "path", "service", "lane"),
    [
        ("POST", "/", Service.SQS, "sqs"),
        ("POST", "/", Service.LOGS, None),
        ("GET", "/", Service.SQS, None),
        ("POST", "/000000000000/q", Service.SQS, None),  # a queue URL: through the routes
        ("POST", "/2015-03-31/functions/f/invocations", Service.LAMBDA, "invoke"),
        ("PUT", "/2015-03-31/functions/f/code", Service.LAMBDA, None),
    ],
)
def test_the_lane_of_a_request(method: str, path: str, service: Service, lane: str | None) -> None:
    scope = {"method": method, "path": path}
    taken = "invoke" if invoked_name(scope) else "sqs" if is_sqs(scope, service) else None
    assert taken == lane
