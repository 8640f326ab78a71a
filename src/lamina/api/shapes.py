"""Request shapes of the Lambda API as msgspec structs, mirroring botocore's model names."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType


class Shape(msgspec.Struct, rename="pascal", omit_defaults=True, forbid_unknown_fields=False):
    """Base: JSON keys are the model's PascalCase member names."""


class FunctionCode(Shape):
    zip_file: bytes | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_object_version: str | None = None
    image_uri: str | None = None


class Environment(Shape):
    variables: dict[str, str] | None = None


class DeadLetterConfig(Shape):
    target_arn: str | None = None


class EphemeralStorage(Shape):
    size: int


class TracingConfig(Shape):
    mode: str | None = None


class SnapStart(Shape):
    apply_on: str | None = None


class CreateFunctionRequest(Shape):
    function_name: str
    role: str
    code: FunctionCode
    runtime: str | None = None
    handler: str | None = None
    description: str = ""
    timeout: int = 3
    memory_size: int = 128
    publish: bool = False
    environment: Environment | None = None
    dead_letter_config: DeadLetterConfig | None = None
    tags: dict[str, str] | None = None
    ephemeral_storage: EphemeralStorage | None = None
    architectures: list[str] | None = None
    package_type: str | None = None
    tracing_config: TracingConfig | None = None
    layers: list[str] | None = None
    snap_start: SnapStart | None = None


class UpdateFunctionCodeRequest(Shape):
    zip_file: bytes | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    image_uri: str | None = None
    publish: bool = False
    dry_run: bool = False
    revision_id: str | None = None
    architectures: list[str] | None = None


class UpdateFunctionConfigurationRequest(Shape):
    role: str | UnsetType = UNSET
    handler: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    timeout: int | UnsetType = UNSET
    memory_size: int | UnsetType = UNSET
    environment: Environment | UnsetType = UNSET
    runtime: str | UnsetType = UNSET
    dead_letter_config: DeadLetterConfig | UnsetType = UNSET
    ephemeral_storage: EphemeralStorage | UnsetType = UNSET
    tracing_config: TracingConfig | UnsetType = UNSET
    revision_id: str | None = None
    layers: list[str] | UnsetType = UNSET
    snap_start: SnapStart | UnsetType = UNSET


class PublishVersionRequest(Shape):
    code_sha256: str | None = None
    description: str = ""
    revision_id: str | None = None


class AliasRoutingConfiguration(Shape):
    additional_version_weights: dict[str, float] | None = None


class CreateAliasRequest(Shape):
    name: str
    function_version: str
    description: str = ""
    routing_config: AliasRoutingConfiguration | None = None


class UpdateAliasRequest(Shape):
    function_version: str | None = None
    description: str | None = None
    routing_config: AliasRoutingConfiguration | UnsetType = UNSET
    revision_id: str | None = None


class TagResourceRequest(Shape):
    tags: dict[str, str]


class OnDestination(Shape):
    destination: str | None = None


class DestinationConfig(Shape):
    on_success: OnDestination | None = None
    on_failure: OnDestination | None = None


class EventInvokeConfigRequest(Shape):
    maximum_retry_attempts: int | None = None
    maximum_event_age_in_seconds: int | None = None
    destination_config: DestinationConfig | None = None


class PutFunctionConcurrencyRequest(Shape):
    reserved_concurrent_executions: int


class ScalingConfig(Shape):
    maximum_concurrency: int | None = None


class EventSourceMappingRequest(Shape):
    function_name: str | None = None
    event_source_arn: str | None = None
    enabled: bool | None = None
    batch_size: int | None = None
    maximum_batching_window_in_seconds: int | None = None
    scaling_config: ScalingConfig | None = None
    function_response_types: list[str] | None = None


class PutProvisionedConcurrencyRequest(Shape):
    provisioned_concurrent_executions: int


class LayerVersionContentInput(Shape):
    zip_file: bytes | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_object_version: str | None = None


class PublishLayerVersionRequest(Shape):
    content: LayerVersionContentInput
    description: str = ""
    compatible_runtimes: list[str] | None = None
    license_info: str | None = None
    compatible_architectures: list[str] | None = None
