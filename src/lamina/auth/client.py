"""Signing for Lamina's own client commands (`lamina invoke | logs | queue`).

They use the standard AWS credential chain (AWS_ACCESS_KEY_ID / profile …); with none
configured they send unsigned requests, which a node without --auth-keys accepts.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import get_session

#: Region signed for when none is configured (the node accepts any).
DEFAULT_REGION = "us-east-1"


def credentials() -> Credentials | None:
    """The caller's AWS credentials, if any are configured."""
    found: Credentials | None = get_session().get_credentials()
    return found


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


class SigV4(httpx.Auth):
    """httpx auth that signs each request with botocore's SigV4 signer (service `lambda`)."""

    requires_request_body = True

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        signed = AWSRequest(
            method=request.method,
            url=str(request.url),
            headers={"host": request.url.netloc.decode()},
            data=request.content,
        )
        SigV4Auth(self.creds.get_frozen_credentials(), "lambda", region()).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


def http_auth() -> SigV4 | None:
    """What to pass as httpx's `auth=`: a signer when credentials are configured."""
    creds = credentials()
    return SigV4(creds) if creds is not None else None
