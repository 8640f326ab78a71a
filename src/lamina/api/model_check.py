"""Validate Lambda requests against botocore's service model, in one place, as AWS words it.

Each request is matched to its operation by method and URI template, its members are gathered
from the path, query string, headers and JSON body, and every modeled constraint is checked:
required members, enums, string and list lengths, numeric ranges and patterns. The answer is
AWS's `ValidationException` text ("1 validation error detected: Value 'x' at 'member' failed to
satisfy constraint: ..."), given before any function is looked up, as AWS does.
Shapes whose AWS answer is another error class (Runtime: InvalidParameterValueException) are
left to the routes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import msgspec
from botocore.model import OperationModel, Shape
from botocore.session import get_session

#: Shapes checked by the routes because AWS answers them with another error class.
ROUTE_CHECKED_SHAPES = frozenset({"Runtime"})
_PLACEHOLDER = re.compile(r"\{(\w+)\+?\}")


@dataclass(frozen=True)
class _Route:
    method: str
    path: re.Pattern[str]
    query: tuple[tuple[str, str], ...]  # literal query pairs the URI template requires
    operation: OperationModel


@functools.cache
def _routes() -> list[_Route]:
    model = get_session().get_service_model("lambda")
    out = []
    for name in model.operation_names:
        op = model.operation_model(name)
        uri, _, literal = op.http["requestUri"].partition("?")
        template = re.escape(uri).replace(r"\{", "{").replace(r"\}", "}")
        pattern = _PLACEHOLDER.sub(lambda m: f"(?P<{m[1]}>[^/]+)", template)
        query = tuple(parse_qsl(literal, keep_blank_values=True))
        out.append(_Route(op.http["method"], re.compile(f"^{pattern}/?$"), query, op))
    return sorted(out, key=lambda r: -len(r.query))  # the more specific template first


@functools.lru_cache(maxsize=4096)
def operation_for(
    method: str, path: str, query: str = ""
) -> tuple[OperationModel, dict[str, str]] | None:
    """The Lambda operation `method path?query` calls, and its path parameters."""
    pairs = set(parse_qsl(query, keep_blank_values=True))
    for route in _routes():
        if route.method == method and all(pair in pairs for pair in route.query):
            found = route.path.match(path)
            if found:
                path_params = {k: unquote(v) for k, v in found.groupdict().items()}
                return route.operation, path_params  # callers only read it (it is cached)
    return None


def _gather(
    op: OperationModel,
    path_params: Mapping[str, str],
    query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    """The request's members by name, from where the model says each one travels."""
    shape = op.input_shape
    if shape is None:
        return {}
    params = dict(parse_qsl(query, keep_blank_values=True))
    values: dict[str, Any] = {}
    if shape.serialization.get("payload") is None and body:
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError:
            decoded = None
        if isinstance(decoded, dict):
            values.update(decoded)
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if where == "uri" and wire in path_params:
            values[name] = path_params[wire]
        elif where == "querystring" and wire in params:
            values[name] = _scalar(member, params[wire])
        elif where == "header" and wire.lower() in headers:
            values[name] = _scalar(member, headers[wire.lower()])
    return values


def _scalar(member: Shape, raw: str) -> Any:
    if member.type_name in ("integer", "long") and re.fullmatch(r"-?\d{1,18}", raw):
        return int(raw)
    return raw


def _java(value: Any) -> str:
    """A value as AWS's messages print it (Java's toString)."""
    if isinstance(value, list):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _string_rules(shape: Shape, value: str) -> list[str]:
    meta = shape.metadata
    rules = []
    if "enum" in meta and value not in meta["enum"]:
        rules.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    if "min" in meta and len(value) < meta["min"]:
        rules.append(f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and len(value) > meta["max"]:
        rules.append(f"Member must have length less than or equal to {meta['max']}")
    if "pattern" in meta and not _matches(meta["pattern"], value):
        rules.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    return rules


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return compiled is None or compiled.fullmatch(value) is not None


def _number_rules(shape: Shape, value: int | float) -> list[str]:
    meta = shape.metadata
    if "min" in meta and value < meta["min"]:
        return [f"Member must have value greater than or equal to {meta['min']}"]
    if "max" in meta and value > meta["max"]:
        return [f"Member must have value less than or equal to {meta['max']}"]
    return []


def _size_rules(shape: Shape, value: list[Any] | dict[str, Any]) -> list[str]:
    meta = shape.metadata
    if "min" in meta and len(value) < meta["min"]:
        return [f"Member must have length greater than or equal to {meta['min']}"]
    if "max" in meta and len(value) > meta["max"]:
        return [f"Member must have length less than or equal to {meta['max']}"]
    return []


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, where: str, rule: str) -> None:
        self.errors.append(
            f"Value '{_java(value)}' at '{where}' failed to satisfy constraint: {rule}"
        )

    def check(self, shape: Shape, value: Any, where: str) -> None:
        if shape.name in ROUTE_CHECKED_SHAPES or value is None:
            return
        kind = shape.type_name
        if kind == "structure" and isinstance(value, dict):
            self.structure(shape, value, where)
        elif kind == "list" and isinstance(value, list):
            self.listed(shape, value, where)
        elif kind == "map" and isinstance(value, dict):
            for rule in _size_rules(shape, value):
                self.fail(value, where, rule)
        elif kind == "string" and isinstance(value, str):
            for rule in _string_rules(shape, value):
                self.fail(value, where, rule)
        elif kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
            for rule in _number_rules(shape, value):
                self.fail(value, where, rule)

    def structure(self, shape: Shape, value: dict[str, Any], where: str) -> None:
        required = shape.required_members
        for name, member in shape.members.items():
            given = value.get(name)
            if given is None and name not in required:
                continue
            path = f"{where}.{_camel(name)}" if where else _camel(name)
            if given is None:
                self.fail("null", path, "Member must not be null")
                continue
            self.check(member, given, path)

    def listed(self, shape: Shape, value: list[Any], where: str) -> None:
        for rule in _size_rules(shape, value):
            self.fail(value, where, rule)
        member = shape.member
        inner: list[str] = []
        for item in value:
            if isinstance(item, str) and member.name not in ROUTE_CHECKED_SHAPES:
                inner += _string_rules(member, item)
        if inner:
            rules = ", ".join([*dict.fromkeys(inner), "Member must not be null"])
            self.fail(value, where, f"Member must satisfy constraint: [{rules}]")


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def validation_message(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> str | None:
    """AWS's ValidationException message for this request, or None when it passes."""
    found = operation_for(method, path, query)
    if found is None or found[0].input_shape is None:
        return None
    op, path_params = found
    wires = _header_wires(op)
    if wires is not None:  # the body is a blob (Invoke's payload): the answer is cacheable
        return _message_without_body(method, path, query, tuple(headers.get(w) for w in wires))
    return _message(op, path_params, query, headers, body)


@functools.lru_cache(maxsize=4096)
def _message_without_body(
    method: str, path: str, query: str, header_values: tuple[str | None, ...]
) -> str | None:
    found = operation_for(method, path, query)
    assert found is not None
    op, path_params = found
    wires = _header_wires(op) or ()
    headers = {w: v for w, v in zip(wires, header_values, strict=True) if v is not None}
    return _message(op, path_params, query, headers, b"")


@functools.cache
def _header_wires(op: OperationModel) -> tuple[str, ...] | None:
    """The (lower-case) headers an operation whose body is a blob payload takes its members
    from; None when its body holds members (then each request is checked afresh)."""
    shape = op.input_shape
    if shape is None or shape.serialization.get("payload") is None:
        return None
    payload = shape.members.get(shape.serialization["payload"])
    if payload is None or payload.type_name != "blob":
        return None
    return tuple(
        m.serialization.get("name", n).lower()
        for n, m in shape.members.items()
        if m.serialization.get("location") == "header"
    )


def _message(
    op: OperationModel,
    path_params: Mapping[str, str],
    query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> str | None:
    assert op.input_shape is not None
    checker = _Checker()
    checker.structure(op.input_shape, _gather(op, path_params, query, headers, body), "")
    if not checker.errors:
        return None
    count = len(checker.errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(checker.errors)
