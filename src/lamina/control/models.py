"""Control-plane records: functions, versions and aliases, as stored and as AWS shows them."""

from __future__ import annotations

from typing import Any

import msgspec

from lamina.clock import iso8601_ms

LATEST = "$LATEST"
#: SnapStart.ApplyOn values (the botocore enum); published versions of a function with
#: PUBLISHED_VERSIONS are snapshotted (engine/snapstart.py).
SNAP_START_APPLY_ON = ("PublishedVersions", "None")
PUBLISHED_VERSIONS = "PublishedVersions"


class LayerRef(msgspec.Struct, frozen=True, kw_only=True):
    """One layer version a function version uses, as resolved when it was set (AWS keeps a copy:
    the function keeps working after the layer version is deleted)."""

    arn: str  # the layer version ARN (`...:layer:NAME:N`)
    code_digest: str  # hex SHA-256 of the layer zip (blob key)
    code_size: int
    unzipped_size: int = 0


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
    #: The function's layers in order (later ones override earlier files), resolved at set time.
    layers: list[LayerRef] = msgspec.field(default_factory=list)
    #: Bytes of the code unzipped (0 in records written before layers were supported).
    code_unzipped_size: int = 0
    #: SnapStart.ApplyOn: "PublishedVersions" or "None".
    snap_start: str = "None"

    @property
    def snap_started(self) -> bool:
        """Whether this is a published version that runs from a snapshot (OptimizationStatus
        On); `$LATEST` never is, whatever its ApplyOn says."""
        return self.version != LATEST and self.snap_start == PUBLISHED_VERSIONS

    @property
    def qualified_arn(self) -> str:
        return self.arn if self.version == LATEST else f"{self.arn}:{self.version}"

    def same_content(self, other: VersionConfig) -> bool:
        """True when publishing `self` after `other` would change nothing."""
        blank: dict[str, Any] = {
            "version": "",
            "last_modified": 0.0,
            "revision_id": "",
            "state": "",
            "state_reason": None,
            "state_reason_code": None,
            "last_update_status": None,
        }
        return msgspec.structs.replace(self, **blank) == msgspec.structs.replace(other, **blank)


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
        "SnapStart": {
            "ApplyOn": v.snap_start,
            "OptimizationStatus": "On" if v.snap_started else "Off",
        },
        "LoggingConfig": {"LogFormat": v.log_format, "LogGroup": v.log_group},
    }
    if v.variables is not None:
        out["Environment"] = {"Variables": dict(v.variables)}
    if v.dead_letter_target:
        out["DeadLetterConfig"] = {"TargetArn": v.dead_letter_target}
    if v.layers:
        out["Layers"] = [{"Arn": layer.arn, "CodeSize": layer.code_size} for layer in v.layers]
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


class LayerMeta(msgspec.Struct, frozen=True, kw_only=True):
    """A layer name: outlives its versions, so a version number is never handed out twice."""

    name: str
    last_version: int = 0  # highest version number ever published


class LayerVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One published, immutable version of a layer."""

    name: str
    version: int
    layer_arn: str  # unversioned
    code_digest: str  # hex SHA-256 of the zip (blob key)
    code_sha256: str  # base64 SHA-256 (AWS CodeSha256)
    code_size: int
    unzipped_size: int
    created: float
    description: str = ""
    license_info: str | None = None
    #: None when the publisher gave none: AWS then leaves the key out of its answers.
    compatible_runtimes: list[str] | None = None
    compatible_architectures: list[str] | None = None

    @property
    def arn(self) -> str:
        return f"{self.layer_arn}:{self.version}"

    def ref(self) -> LayerRef:
        """What a function version keeps of this layer version."""
        return LayerRef(
            arn=self.arn,
            code_digest=self.code_digest,
            code_size=self.code_size,
            unzipped_size=self.unzipped_size,
        )


def layer_version_summary(lv: LayerVersion) -> dict[str, Any]:
    """`lv` as AWS's LayerVersionsListItem shape (ListLayerVersions, ListLayers)."""
    out: dict[str, Any] = {
        "LayerVersionArn": lv.arn,
        "Version": lv.version,
        "Description": lv.description,
        "CreatedDate": iso8601_ms(lv.created),
    }
    if lv.compatible_runtimes is not None:
        out["CompatibleRuntimes"] = list(lv.compatible_runtimes)
    if lv.license_info is not None:
        out["LicenseInfo"] = lv.license_info
    if lv.compatible_architectures is not None:
        out["CompatibleArchitectures"] = list(lv.compatible_architectures)
    return out


def layer_version_detail(lv: LayerVersion, location: str) -> dict[str, Any]:
    """`lv` as AWS's GetLayerVersion / PublishLayerVersion answer; `location` serves the zip."""
    out = layer_version_summary(lv)
    out["LayerArn"] = lv.layer_arn
    out["Content"] = {
        "Location": location,
        "CodeSha256": lv.code_sha256,
        "CodeSize": lv.code_size,
    }
    return out
