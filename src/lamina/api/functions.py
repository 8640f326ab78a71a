"""Create/Get/List/Update/Delete function, code and configuration, PublishVersion, versions."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lamina.api import shapes
from lamina.api.deps import path_name, services
from lamina.api.http import empty, json, paged_json, parse
from lamina.control import validate
from lamina.control.code import checked_zip
from lamina.control.models import LATEST, configuration
from lamina.control.new_function import NewFunction
from lamina.errors import InvalidParameterValue

P = "/2015-03-31/functions"


def _need_zip(zip_file: bytes | None, s3: str | None, image: str | None) -> bytes:
    if zip_file is None:
        what = "S3 code locations" if s3 else "container images" if image else "empty code"
        raise InvalidParameterValue(f"Lamina accepts Code.ZipFile only ({what} are not supported)")
    return zip_file


def _check_settings(runtime: str, handler: str, timeout: int, memory: int, ephemeral: int) -> None:
    validate.check_runtime(runtime)
    validate.check_handler(handler, runtime)
    validate.check_range(timeout, "timeout", 1, 900)
    validate.check_range(memory, "memorySize", 128, 10240)
    validate.check_range(ephemeral, "ephemeralStorage.size", 512, 10240)


async def create_function(request: Request) -> Response:
    req = await parse(request, shapes.CreateFunctionRequest)
    s = services(request)
    name, qualifier = s.arns.split_name(req.function_name)
    if qualifier:
        raise InvalidParameterValue("FunctionName must not carry a qualifier in CreateFunction")
    if req.package_type not in (None, "Zip"):
        raise InvalidParameterValue("Lamina supports PackageType Zip only")
    if req.runtime is None or req.handler is None:
        raise InvalidParameterValue("Runtime and Handler are required for Zip functions")
    ephemeral = req.ephemeral_storage.size if req.ephemeral_storage else 512
    _check_settings(req.runtime, req.handler, req.timeout, req.memory_size, ephemeral)
    snap_start = (req.snap_start.apply_on if req.snap_start else None) or "None"
    validate.check_snap_start(snap_start, req.runtime, ephemeral)
    validate.check_role(req.role)
    validate.check_description(req.description)
    variables = req.environment.variables if req.environment else None
    validate.check_environment(variables or {})
    layers = await s.layers.resolve(req.layers) if req.layers else []
    code = await checked_zip(_need_zip(req.code.zip_file, req.code.s3_bucket, req.code.image_uri))
    created = await s.functions.create(
        NewFunction(
            name=name,
            role=req.role,
            runtime=req.runtime,
            handler=req.handler,
            code=code,
            description=req.description,
            timeout=req.timeout,
            memory_size=req.memory_size,
            ephemeral_storage=ephemeral,
            variables=variables,
            dead_letter_target=req.dead_letter_config.target_arn
            if req.dead_letter_config
            else None,
            architectures=tuple(req.architectures or ["x86_64"]),
            tracing_mode=(req.tracing_config.mode if req.tracing_config else None) or "PassThrough",
            tags=req.tags,
            publish=req.publish,
            layers=tuple(layers),
            snap_start=snap_start,
        )
    )
    body = configuration(created)
    if created.version == LATEST:
        # AWS answers CreateFunction while the function is still being created (reference A.4).
        body.update(
            State="Pending",
            StateReason="The function is being created.",
            StateReasonCode="Creating",
        )
        body.pop("LastUpdateStatus", None)
    return json(request, body, 201)


async def get_function(request: Request) -> Response:
    s = services(request)
    name, qualifier = path_name(request)
    version, _arn = await s.aliases.resolve(name, qualifier, route=False)
    meta, _ = await s.functions.meta(name)
    out: dict[str, Any] = {
        "Configuration": configuration(version),
        "Code": {
            "RepositoryType": "S3",
            "Location": f"{s.settings.public_base}/lamina/v1/code/{version.code_digest}",
        },
        "Tags": dict(meta.tags),
    }
    if meta.reserved_concurrency is not None:
        out["Concurrency"] = {"ReservedConcurrentExecutions": meta.reserved_concurrency}
    return json(request, out)


async def get_configuration(request: Request) -> Response:
    s = services(request)
    name, qualifier = path_name(request)
    version, _arn = await s.aliases.resolve(name, qualifier, route=False)
    return json(request, configuration(version))


async def list_functions(request: Request) -> Response:
    s = services(request)
    if request.query_params.get("FunctionVersion") == "ALL":
        items = await s.functions.list_all_versions()
    else:
        items = await s.functions.list_latest()
    return paged_json(request, "Functions", items, lambda v: configuration(v, for_list=True))


async def update_code(request: Request) -> Response:
    req = await parse(request, shapes.UpdateFunctionCodeRequest)
    s = services(request)
    name, _ = path_name(request)
    code = await checked_zip(_need_zip(req.zip_file, req.s3_bucket, req.image_uri))
    updated = await s.functions.update_code(
        name, code, publish=req.publish, revision_id=req.revision_id, dry_run=req.dry_run
    )
    return json(request, configuration(updated))


def _config_changes(req: shapes.UpdateFunctionConfigurationRequest) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    simple = {
        "role": req.role,
        "handler": req.handler,
        "description": req.description,
        "timeout": req.timeout,
        "memory_size": req.memory_size,
        "runtime": req.runtime,
    }
    changes.update({k: v for k, v in simple.items() if v is not UNSET})
    if req.environment is not UNSET:
        changes["variables"] = req.environment.variables
    if req.dead_letter_config is not UNSET:
        changes["dead_letter_target"] = req.dead_letter_config.target_arn or None
    if req.ephemeral_storage is not UNSET:
        changes["ephemeral_storage"] = req.ephemeral_storage.size
    if req.tracing_config is not UNSET:
        changes["tracing_mode"] = req.tracing_config.mode or "PassThrough"
    if req.snap_start is not UNSET:
        changes["snap_start"] = req.snap_start.apply_on or "None"
    return changes


async def update_configuration(request: Request) -> Response:
    req = await parse(request, shapes.UpdateFunctionConfigurationRequest)
    s = services(request)
    name, _ = path_name(request)
    changes = _config_changes(req)
    current = await s.functions.version(name, LATEST)
    if req.layers is not UNSET:
        changes["layers"] = await s.layers.resolve(req.layers)
    _check_settings(
        changes.get("runtime", current.runtime),
        changes.get("handler", current.handler),
        changes.get("timeout", current.timeout),
        changes.get("memory_size", current.memory_size),
        changes.get("ephemeral_storage", current.ephemeral_storage),
    )
    validate.check_snap_start(
        changes.get("snap_start", current.snap_start),
        changes.get("runtime", current.runtime),
        changes.get("ephemeral_storage", current.ephemeral_storage),
    )
    if "role" in changes:
        validate.check_role(changes["role"])
    if "description" in changes:
        validate.check_description(changes["description"])
    validate.check_environment(changes.get("variables") or {})
    updated = await s.functions.update_configuration(name, changes, revision_id=req.revision_id)
    return json(request, configuration(updated))


async def delete_function(request: Request) -> Response:
    s = services(request)
    name, qualifier = path_name(request)
    await s.functions.delete(name, qualifier)
    return empty(request, 204)


async def publish_version(request: Request) -> Response:
    req = await parse(request, shapes.PublishVersionRequest)
    s = services(request)
    name, _ = path_name(request)
    validate.check_description(req.description)
    version = await s.functions.publish(
        name, code_sha256=req.code_sha256, description=req.description, revision_id=req.revision_id
    )
    return json(request, configuration(version), 201)


async def list_versions(request: Request) -> Response:
    s = services(request)
    name, _ = path_name(request)
    versions = await s.functions.list_versions(name)
    return paged_json(request, "Versions", versions, _listed_version)


def _listed_version(v: Any) -> dict[str, Any]:
    body = configuration(v, for_list=True)
    if v.version == LATEST:
        body["FunctionArn"] = f"{v.arn}:{LATEST}"
    return body


routes = [
    Route(P, create_function, methods=["POST"]),
    Route(P, list_functions, methods=["GET"]),
    Route(P + "/", list_functions, methods=["GET"]),
    Route(P + "/{name}", get_function, methods=["GET"]),
    Route(P + "/{name}", delete_function, methods=["DELETE"]),
    Route(P + "/{name}/configuration", get_configuration, methods=["GET"]),
    Route(P + "/{name}/configuration", update_configuration, methods=["PUT"]),
    Route(P + "/{name}/code", update_code, methods=["PUT"]),
    Route(P + "/{name}/versions", publish_version, methods=["POST"]),
    Route(P + "/{name}/versions", list_versions, methods=["GET"]),
]
