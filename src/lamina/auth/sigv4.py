"""Check an AWS Signature Version 4 with botocore's own signer; no cryptography of our own.

The request is rebuilt as a botocore `AWSRequest` with the headers the client says it signed,
botocore computes the signature those bytes deserve under the caller's secret, and the two are
compared in constant time. What each refusal is called follows the AWS answer for it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lamina.auth.keys import KeyRing
from lamina.errors import AuthError

#: How far a request's X-Amz-Date may be from the node's clock.
MAX_CLOCK_SKEW = timedelta(minutes=5)
ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MISSING = "Missing Authentication Token"
UNRECOGNIZED = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your"
    " AWS Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True)
class SignedRequest:
    """What arrived: the raw path and query as sent, the headers, and the whole body."""

    method: str
    raw_path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class _Authorization:
    key_id: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str


def _parse(header: str | None) -> _Authorization:
    if not header:
        raise AuthError("MissingAuthenticationTokenException", MISSING)
    found = _AUTH_RE.match(header)
    if found is None:
        if header.startswith(ALGORITHM):
            raise AuthError(
                "IncompleteSignatureException", f"Authorization header is malformed: {header[:200]}"
            )
        raise AuthError("MissingAuthenticationTokenException", MISSING)
    parts = found["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthError(
            "IncompleteSignatureException",
            f"Credential should be scoped to a valid region and service: {found['credential']}",
        )
    signed = found["signed"].split(";")
    return _Authorization(parts[0], parts[1], parts[2], parts[3], signed, found["signature"])


def _check_clock(amz_date: str | None, now: datetime) -> str:
    if not amz_date:
        raise AuthError("IncompleteSignatureException", "X-Amz-Date header is missing.")
    try:
        when = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise AuthError("IncompleteSignatureException", f"Bad X-Amz-Date: {amz_date}") from exc
    stamp = now.strftime(_AMZ_DATE_FORMAT)
    if when < now - MAX_CLOCK_SKEW:
        earliest = (now - MAX_CLOCK_SKEW).strftime(_AMZ_DATE_FORMAT)
        raise AuthError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 5 min.)",
        )
    if when > now + MAX_CLOCK_SKEW:
        latest = (now + MAX_CLOCK_SKEW).strftime(_AMZ_DATE_FORMAT)
        raise AuthError(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {latest}"
            f" ({stamp} + 5 min.)",
        )
    return amz_date


def _check_payload_header(request: SignedRequest) -> None:
    """botocore trusts X-Amz-Content-SHA256 as the body's hash; make sure it is the body's."""
    claimed = request.headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(request.body).hexdigest():
        raise AuthError("InvalidSignatureException", MISMATCH)


def expected_signature(
    request: SignedRequest, auth: _Authorization, secret: str, amz_date: str
) -> str:
    """The signature botocore computes for `request` as signed by `auth`'s key with `secret`."""
    host = request.headers.get("host", "localhost")
    url = f"http://{host}{request.raw_path}" + (f"?{request.query}" if request.query else "")
    signed = {name: request.headers.get(name, "") for name in auth.signed_headers}
    rebuilt = AWSRequest(method=request.method, url=url, headers=signed, data=request.body)
    rebuilt.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(auth.key_id, secret), auth.service, auth.region)
    canonical = signer.canonical_request(rebuilt)
    string_to_sign = signer.string_to_sign(rebuilt, canonical)
    return str(signer.signature(string_to_sign, rebuilt))


@dataclass(frozen=True)
class Caller:
    """A request whose key, clock and form passed; its signature is checked once the body is in."""

    authorization: _Authorization
    secret: str
    amz_date: str


def identify(headers: Mapping[str, str], keys: KeyRing, now: datetime | None = None) -> Caller:
    """Everything that can be checked before reading the body. Raises AuthError."""
    auth = _parse(headers.get("authorization"))
    secret = keys.secret(auth.key_id)
    if secret is None:
        raise AuthError("UnrecognizedClientException", UNRECOGNIZED)
    amz_date = _check_clock(headers.get("x-amz-date"), now or datetime.now(UTC))
    if "host" not in auth.signed_headers or amz_date[:8] != auth.date:
        raise AuthError("InvalidSignatureException", MISMATCH)
    return Caller(auth, secret, amz_date)


def check_signature(request: SignedRequest, caller: Caller) -> None:
    """Raise InvalidSignatureException unless `caller`'s signature covers `request` as sent."""
    _check_payload_header(request)
    wanted = expected_signature(request, caller.authorization, caller.secret, caller.amz_date)
    if not hmac.compare_digest(wanted, caller.authorization.signature):
        raise AuthError("InvalidSignatureException", MISMATCH)


def verify(request: SignedRequest, keys: KeyRing, now: datetime | None = None) -> str:
    """The access key id that signed `request`. Raises AuthError naming what is wrong."""
    caller = identify(request.headers, keys, now)
    check_signature(request, caller)
    return caller.authorization.key_id
