"""Browser-safe defaults: a web page cannot reach a default node (issue 13 attacks)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from harness import ROLE, NodeProcess, zip_source

EVIL = "http://evil.example"
ZIP = base64.b64encode(zip_source({"app.py": "def handler(e, c):\n    return 1\n"})).decode()
CREATE = json.dumps(
    {
        "FunctionName": "pwned",
        "Role": ROLE,
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Code": {"ZipFile": ZIP},
    }
)


def _functions(lam: Any) -> list[str]:
    return [f["FunctionName"] for f in lam.list_functions()["Functions"]]


def test_cross_origin_text_plain_create_is_refused(node: NodeProcess, lam: Any) -> None:
    # Given a page on another origin posting what a browser sends without a preflight
    r = httpx.post(
        f"{node.url}/2015-03-31/functions",
        content=CREATE,
        headers={"Origin": EVIL, "Content-Type": "text/plain;charset=UTF-8"},
    )
    # Then it is refused and nothing was created
    assert r.status_code == 403
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert "access-control-allow-origin" not in r.headers
    assert "pwned" not in _functions(lam)


def test_simple_content_types_are_refused_on_mutating_calls(node: NodeProcess, lam: Any) -> None:
    for media in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"):
        r = httpx.post(
            f"{node.url}/2015-03-31/functions", content=CREATE, headers={"Content-Type": media}
        )
        assert r.status_code == 415, media
        assert r.headers["x-amzn-ErrorType"] == "UnsupportedMediaTypeException"
    assert "pwned" not in _functions(lam)


def test_cross_site_fetch_without_origin_is_refused(node: NodeProcess) -> None:
    r = httpx.get(f"{node.url}/2015-03-31/functions", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403


def test_dns_rebinding_host_is_refused_on_loopback(node: NodeProcess) -> None:
    r = httpx.get(f"{node.url}/2015-03-31/functions", headers={"Host": f"evil.example:{node.port}"})
    assert r.status_code == 403
    assert "Host" in r.json()["message"]


def test_same_origin_page_keeps_working(node: NodeProcess) -> None:
    r = httpx.get(
        f"{node.url}/2015-03-31/functions",
        headers={"Origin": node.url, "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers


def test_allowed_origin_gets_cors_answers(node_factory: Any) -> None:
    page = "http://app.example:3000"
    n = node_factory("--allow-origin", page)
    pre = httpx.options(
        f"{n.url}/2015-03-31/functions",
        headers={
            "Origin": page,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == page
    assert pre.headers["access-control-allow-headers"] == "content-type,authorization"
    r = httpx.get(f"{n.url}/2015-03-31/functions", headers={"Origin": page})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == page
    assert httpx.get(f"{n.url}/health", headers={"Origin": EVIL}).status_code == 403


def test_sqs_form_posts_are_refused(node: NodeProcess) -> None:
    r = httpx.post(
        node.url + "/",
        content="Action=CreateQueue&QueueName=pwned",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": node.url},
    )
    assert r.status_code == 400
    assert r.json()["__type"] == "com.amazonaws.sqs#InvalidAction"
