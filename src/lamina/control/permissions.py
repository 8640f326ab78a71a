"""Resource-based policies of functions: AddPermission, RemovePermission, GetPolicy.

One policy per function and qualifier (unqualified, a version or an alias), kept as a document
in the store (kind `policy`, key `name/qualifier`; the unqualified policy has an empty
qualifier). Statements are kept in the order they were added, as AWS shows them. Lamina does
not evaluate these policies yet: they are stored and returned faithfully so that deploy tools
that grant invoke permissions work (enforcement comes with authentication).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from lamina.control.functions import FunctionService
from lamina.control.models import LATEST
from lamina.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)
from lamina.store.base import Delete, Expect, Put

KIND = "policy"
POLICY_VERSION = "2012-10-17"
_SID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,100}$")
_ACTION_RE = re.compile(r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_IAM_ARN_RE = re.compile(r"^arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:\S+$")
_SERVICE_RE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")
_NO_RESOURCE = "The resource you requested does not exist."


class PolicyDoc(msgspec.Struct, frozen=True, kw_only=True):
    """What the store holds for one function/qualifier: the statements and a revision."""

    revision_id: str
    statements: list[dict[str, Any]]


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(PolicyDoc)


@dataclass(frozen=True)
class Grant:
    """One AddPermission request, after the name and qualifier are resolved."""

    sid: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    principal_org_id: str | None = None
    event_source_token: str | None = None
    function_url_auth_type: str | None = None


def _validation(value: str, member: str, pattern: str) -> ValidationError:
    return ValidationError(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy"
        f" constraint: Member must satisfy regular expression pattern: {pattern}"
    )


def principal_of(raw: str, account_id: str) -> str | dict[str, str]:
    """The policy's `Principal` for AddPermission's `Principal` parameter."""
    if raw == "*":
        return "*"
    if _ACCOUNT_RE.match(raw):
        return {"AWS": f"arn:aws:iam::{raw}:root"}
    if _IAM_ARN_RE.match(raw):
        return {"AWS": raw}
    if _SERVICE_RE.match(raw):
        return {"Service": raw}
    raise InvalidParameterValue(
        "The provided principal was invalid. Please check the principal and try again."
    )


def conditions_of(grant: Grant) -> dict[str, dict[str, str]]:
    """The `Condition` block, keyed and ordered as AWS writes it."""
    equals = {
        key: value
        for key, value in (
            ("AWS:SourceAccount", grant.source_account),
            ("lambda:FunctionUrlAuthType", grant.function_url_auth_type),
            ("aws:PrincipalOrgID", grant.principal_org_id),
            ("lambda:EventSourceToken", grant.event_source_token),
        )
        if value
    }
    out: dict[str, dict[str, str]] = {}
    if equals:
        out["StringEquals"] = equals
    if grant.source_arn:
        out["ArnLike"] = {"AWS:SourceArn": grant.source_arn}
    return out


class PermissionService:
    """Stores and answers the resource-based policy of each function and qualifier."""

    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions
        self.arns = functions.arns

    # -- resolution -------------------------------------------------------------------------
    @staticmethod
    def qualifier(name_qualifier: str | None, query: str | None) -> str | None:
        """The qualifier named by `name:qualifier` and/or `?Qualifier` (which must agree)."""
        if query is not None and not re.match(r"^(\$LATEST|[a-zA-Z0-9$_-]{1,128})$", query):
            raise _validation(query, "qualifier", r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+")
        if name_qualifier and query and name_qualifier != query:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified"
                " qualifier."
            )
        return query or name_qualifier

    async def _target_revision(self, name: str, qualifier: str | None) -> str:
        """The RevisionId of what `qualifier` names; raises ResourceNotFound if it is absent."""
        if qualifier is None:
            return (await self.functions.version(name, LATEST)).revision_id
        if qualifier.isdigit():
            return (await self.functions.version(name, qualifier)).revision_id
        await self.functions.meta(name)
        alias = await self.functions.records.alias(name, qualifier)
        if alias is None:
            raise ResourceNotFound(f"Cannot find alias arn: {self.arns.function(name, qualifier)}")
        return alias.revision_id

    async def _load(
        self, name: str, qualifier: str | None
    ) -> tuple[PolicyDoc | None, bytes | None]:
        raw = await self.functions.store.get(KIND, _key(name, qualifier))
        return (None if raw is None else _dec.decode(raw)), raw

    # -- operations -------------------------------------------------------------------------
    async def add(
        self, name: str, qualifier: str | None, grant: Grant, revision_id: str | None
    ) -> dict[str, Any]:
        """Add `grant` as a statement; the statement as AWS renders it."""
        _check_grant(grant)
        if qualifier == LATEST:
            raise InvalidParameterValue("We currently do not support adding policies for $LATEST.")
        async with self.functions.lock(name):
            target_revision = await self._target_revision(name, qualifier)
            doc, raw = await self._load(name, qualifier)
            # The policy's own revision, or (Lamina's stand-in for AWS's shared one) the
            # function's or alias's current RevisionId.
            accepted = {target_revision, *([doc.revision_id] if doc else [])}
            if revision_id and revision_id not in accepted:
                raise _stale(qualifier)
            statements = list(doc.statements) if doc else []
            if any(s["Sid"] == grant.sid for s in statements):
                raise ResourceConflict(
                    f"The statement id ({grant.sid}) provided already exists. Please provide a"
                    " new statement id, or remove the existing statement."
                )
            statement = self._statement(name, qualifier, grant)
            await self._write(name, qualifier, raw, [*statements, statement])
        return statement

    async def remove(
        self, name: str, qualifier: str | None, sid: str, revision_id: str | None
    ) -> None:
        """Remove statement `sid`; the policy goes away with its last statement."""
        if await self.functions.records.meta(name) is None:
            raise ResourceNotFound(f"No policy found for: {self.arns.function(name, qualifier)}")
        async with self.functions.lock(name):
            await self._target_revision(name, qualifier)
            doc, raw = await self._load(name, qualifier)
            if doc is None:
                raise ResourceNotFound("No policy is associated with the given resource.")
            if revision_id and revision_id != doc.revision_id:
                raise _stale(qualifier)
            kept = [s for s in doc.statements if s["Sid"] != sid]
            if len(kept) == len(doc.statements):
                raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
            await self._write(name, qualifier, raw, kept)

    async def get(self, name: str, qualifier: str | None) -> tuple[str, str]:
        """(the policy document as a JSON string, its RevisionId)."""
        try:
            await self._target_revision(name, qualifier)
        except ResourceNotFound as exc:
            raise ResourceNotFound(_NO_RESOURCE) from exc
        doc, _ = await self._load(name, qualifier)
        if doc is None:
            raise ResourceNotFound(_NO_RESOURCE)
        policy = {"Version": POLICY_VERSION, "Id": "default", "Statement": doc.statements}
        return _dumps(policy), doc.revision_id

    # -- helpers ----------------------------------------------------------------------------
    def _statement(self, name: str, qualifier: str | None, grant: Grant) -> dict[str, Any]:
        statement: dict[str, Any] = {
            "Sid": grant.sid,
            "Effect": "Allow",
            "Principal": principal_of(grant.principal, self.arns.account_id),
            "Action": grant.action,
            "Resource": self.arns.function(name, qualifier),
        }
        condition = conditions_of(grant)
        if condition:
            statement["Condition"] = condition
        return statement

    async def _write(
        self,
        name: str,
        qualifier: str | None,
        old_raw: bytes | None,
        statements: list[dict[str, Any]],
    ) -> None:
        key = _key(name, qualifier)
        if statements:
            doc = PolicyDoc(revision_id=str(uuid.uuid4()), statements=statements)
            write: Put | Delete = Put(KIND, key, _enc.encode(doc))
        else:
            write = Delete(KIND, key)
        if not await self.functions.store.transact([Expect(KIND, key, old_raw), write]):
            raise ResourceConflict(
                "The operation cannot be performed at this time. An update is in progress for"
                f" resource: {self.arns.function(name, qualifier)}"
            )

    async def drop_orphans(self, name: str) -> None:
        """Forget the policies of a deleted function, version or alias (`name` changed)."""
        found = await self.functions.store.scan(KIND, f"{name}/")
        if not found:
            return
        meta = await self.functions.records.meta(name)
        stale = []
        for key, _ in found:
            qualifier = key.partition("/")[2] or None
            if meta is None or not await self._exists(name, qualifier):
                stale.append(Delete(KIND, key))
        if stale:
            await self.functions.store.transact(stale)

    async def _exists(self, name: str, qualifier: str | None) -> bool:
        try:
            await self._target_revision(name, qualifier)
        except ResourceNotFound:
            return False
        return True


def _key(name: str, qualifier: str | None) -> str:
    return f"{name}/{qualifier or ''}"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def statement_json(statement: dict[str, Any]) -> str:
    """A statement as AddPermission answers it: compact JSON text."""
    return _dumps(statement)


def _check_grant(grant: Grant) -> None:
    if not _SID_RE.match(grant.sid):
        raise _validation(grant.sid, "statementId", "([a-zA-Z0-9-_]+)")
    if not _ACTION_RE.match(grant.action):
        raise _validation(grant.action, "action", "(lambda:[*]|lambda:[a-zA-Z]+|[*])")
    if grant.source_account and not _ACCOUNT_RE.match(grant.source_account):
        raise _validation(grant.source_account, "sourceAccount", r"\d{12}")
    if grant.principal_org_id and not re.match(r"^o-[a-z0-9]{10,32}$", grant.principal_org_id):
        raise _validation(grant.principal_org_id, "principalOrgID", "o-[a-z0-9]{10,32}")
    if grant.function_url_auth_type and grant.function_url_auth_type not in ("NONE", "AWS_IAM"):
        raise ValidationError(
            f"1 validation error detected: Value '{grant.function_url_auth_type}' at"
            " 'functionUrlAuthType' failed to satisfy constraint: Member must satisfy enum value"
            " set: [NONE, AWS_IAM]"
        )


def _stale(qualifier: str | None) -> PreconditionFailed:
    where = "GetPolicy" if qualifier else "GetFunction/GetAlias"
    return PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the"
        f" {where} API to retrieve the latest Revision Id"
    )
