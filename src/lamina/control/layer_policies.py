"""Layer version policies: AddLayerVersionPermission, GetLayerVersionPolicy and
RemoveLayerVersionPermission, stored and answered as AWS does.

A policy (document kind `layer-policy`, keyed as its layer version) holds the statements that
share a layer version with other accounts. Lamina serves only this account's layers, so the
policies are stored, not enforced. Deleting a layer version deletes its policy.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec

from lamina.control.layers import LAYER_POLICY, LAYER_VERSION, LayerService, version_key
from lamina.control.models import LayerVersion
from lamina.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from lamina.store.base import Expect, Op, Put


class LayerPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The statements of one layer version's policy, and the revision changing them."""

    revision_id: str
    statements: list[dict[str, Any]] = msgspec.field(default_factory=list)


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(LayerPolicy)


def _stale() -> PreconditionFailed:
    return PreconditionFailed(
        "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy"
        " API to retrieve the latest Revision Id"
    )


def _principal(principal: str) -> str | dict[str, str]:
    """`*`, or an account id as the root ARN AWS writes into a policy."""
    if principal.isdigit():
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    return principal


class LayerPolicies:
    """Reads and writes layer version policies."""

    def __init__(self, layers: LayerService) -> None:
        self.layers = layers
        self.store = layers.store

    async def _version(self, name: str, version: int) -> LayerVersion:
        try:
            return await self.layers.get(name, version)
        except ResourceNotFound:
            arn = self.layers.arns.layer(name, version)
            raise ResourceNotFound(f"Layer version {arn} does not exist.") from None

    async def _load(self, name: str, version: int) -> tuple[LayerPolicy | None, bytes | None]:
        raw = await self.store.get(LAYER_POLICY, version_key(name, version))
        return (None if raw is None else _dec.decode(raw)), raw

    async def add(
        self,
        name: str,
        version: int,
        *,
        statement_id: str,
        action: str,
        principal: str,
        organization_id: str | None,
        revision_id: str | None,
    ) -> tuple[dict[str, Any], str]:
        """Add one statement; return it and the policy's new revision id."""
        layer = await self._version(name, version)
        policy, raw = await self._load(name, version)
        if revision_id is not None and (policy is None or revision_id != policy.revision_id):
            raise _stale()
        statements = list(policy.statements) if policy else []
        if any(s["Sid"] == statement_id for s in statements):
            raise ResourceConflict(
                f"The statement id ({statement_id}) provided already exists. Please provide a new"
                " statement id, or remove the existing statement."
            )
        statement: dict[str, Any] = {
            "Sid": statement_id,
            "Effect": "Allow",
            "Principal": _principal(principal),
            "Action": action,
            "Resource": layer.arn,
        }
        if organization_id:
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
        updated = LayerPolicy(revision_id=str(uuid.uuid4()), statements=[*statements, statement])
        await self._write(layer, raw, updated)
        return statement, updated.revision_id

    async def get(self, name: str, version: int) -> tuple[str, str]:
        """The policy as AWS's JSON text, and its revision id."""
        await self._version(name, version)
        policy, _ = await self._load(name, version)
        if policy is None or not policy.statements:
            raise ResourceNotFound("No policy is associated with the given resource.")
        text = {"Version": "2012-10-17", "Id": "default", "Statement": policy.statements}
        return json.dumps(text, separators=(",", ":")), policy.revision_id

    async def remove(
        self, name: str, version: int, statement_id: str, revision_id: str | None
    ) -> None:
        layer = await self._version(name, version)
        policy, raw = await self._load(name, version)
        if revision_id is not None and (policy is None or revision_id != policy.revision_id):
            raise _stale()
        kept = [s for s in (policy.statements if policy else []) if s["Sid"] != statement_id]
        if policy is None or len(kept) == len(policy.statements):
            raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
        updated = LayerPolicy(revision_id=str(uuid.uuid4()), statements=kept)
        await self._write(layer, raw, updated)

    async def _write(self, layer: LayerVersion, raw: bytes | None, new: LayerPolicy) -> None:
        """Write `new` if neither the policy nor its layer version changed since they were read
        (a layer version deleted meanwhile leaves no orphan policy)."""
        key = version_key(layer.name, layer.version)
        ops: list[Op] = [
            Expect(LAYER_VERSION, key, _enc.encode(layer)),
            Expect(LAYER_POLICY, key, raw),
            Put(LAYER_POLICY, key, _enc.encode(new)),
        ]
        if not await self.store.transact(ops):
            raise ResourceConflict(
                "The layer version or its policy changed during the request; try again."
            )
