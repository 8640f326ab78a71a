"""Control-plane records: functions, versions and aliases, as stored and as AWS shows them."""

from __future__ import annotations

from typing import Any

import msgspec

from lamina.clock import iso8601_ms

LATEST = "$LATEST"


class VersionConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The code and configuration of one version of a function (`$LATEST` or a published N)."""

    name: str
    version: str
    arn: str  # unqualified function ARN
    runtime: str
    handler: str
    role: str
    code_digest: str  # hex SHA-256 of the zip (blob key)
    code_sha256: str  # base64 SHA-256 of the zip (AWS CodeSha256)
    code_size: int
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    ephemeral_storage: int = 512
    variables: dict[str, str] | None = None
    dead_letter_target: str | None = None
    architectures: list[str] = msgspec.field(default_factory=lambda: ["x86_64"])
    tracing_mode: str = "PassThrough"
    log_format: str = "Text"
    log_group: str = ""
    last_modified: float = 0.0
    revision_id: str = ""
    state: str = "Active"
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: str | None = "Successful"

    @property
    def qualified_arn(self) -> str:
        return self.arn if self.version == LATEST else f"{self.arn}:{self.version}"

    def same_content(self, other: VersionConfig) -> bool:
        """True when publishing `self` after `other` would change nothing."""
        mine = msgspec.structs.replace(
            self, version="", last_modified=0.0, revision_id="", state="", last_update_status=None
        )
        theirs = msgspec.structs.replace(
            other, version="", last_modified=0.0, revision_id="", state="", last_update_status=None
        )
        return mine == theirs


class FunctionMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What belongs to a function as a whole rather than to one version."""

    name: str
    arn: str
    created: float
    last_version: int = 0  # highest version number ever published (never reused)
    generation: int = 0  # bumped by every change to the function: the compare-and-set token
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    reserved_concurrency: int | None = None


class Alias(msgspec.Struct, frozen=True, kw_only=True):
    """A named pointer to a version, with an optional weighted second version."""

    function: str
    name: str
    arn: str
    function_version: str
    description: str = ""
    additional_weights: dict[str, float] | None = None
    revision_id: str = ""


def configuration(v: VersionConfig, *, for_list: bool = False) -> dict[str, Any]:
    """`v` as AWS's FunctionConfiguration shape."""
    out: dict[str, Any] = {
        "FunctionName": v.name,
        "FunctionArn": v.qualified_arn,
        "Runtime": v.runtime,
        "Role": v.role,
        "Handler": v.handler,
        "CodeSize": v.code_size,
        "Description": v.description,
        "Timeout": v.timeout,
        "MemorySize": v.memory_size,
        "LastModified": iso8601_ms(v.last_modified),
        "CodeSha256": v.code_sha256,
        "Version": v.version,
        "TracingConfig": {"Mode": v.tracing_mode},
        "RevisionId": v.revision_id,
        "PackageType": "Zip",
        "Architectures": list(v.architectures),
        "EphemeralStorage": {"Size": v.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": v.log_format, "LogGroup": v.log_group},
    }
    if v.variables is not None:
        out["Environment"] = {"Variables": dict(v.variables)}
    if v.dead_letter_target:
        out["DeadLetterConfig"] = {"TargetArn": v.dead_letter_target}
    if not for_list:
        out["State"] = v.state
        if v.state_reason:
            out["StateReason"] = v.state_reason
        if v.state_reason_code:
            out["StateReasonCode"] = v.state_reason_code
        if v.last_update_status:
            out["LastUpdateStatus"] = v.last_update_status
    return out


def alias_configuration(a: Alias) -> dict[str, Any]:
    """`a` as AWS's AliasConfiguration shape."""
    out: dict[str, Any] = {
        "AliasArn": a.arn,
        "Name": a.name,
        "FunctionVersion": a.function_version,
        "Description": a.description,
        "RevisionId": a.revision_id,
    }
    if a.additional_weights:
        out["RoutingConfig"] = {"AdditionalVersionWeights": dict(a.additional_weights)}
    return out
