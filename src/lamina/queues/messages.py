"""Message bodies and message attributes: validation, sizes and the MD5 digests SQS returns.

MD5OfMessageBody is the hex MD5 of the UTF-8 body. MD5OfMessageAttributes hashes the attributes
sorted by name, each as: name, data type (each with a 4-byte big-endian length), one transport
byte (1 = String/Number, 2 = Binary), then the length-prefixed value (reference F.3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Mapping
from typing import Any

import msgspec

from lamina.errors import SqsError

#: Most message attributes on one message.
MAX_ATTRIBUTES = 10
_ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_TYPE_RE = re.compile(r"^(String|Number|Binary)(\.[^\s]{1,255})?$")
#: Characters SQS accepts in a body (XML 1.0 characters).
_BAD_CHARS_RE = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class MessageAttribute(msgspec.Struct, frozen=True, rename="pascal", omit_defaults=True):
    """One message attribute as the SQS API spells it; `binary_value` is base64 text."""

    data_type: str
    string_value: str | None = None
    binary_value: str | None = None
    string_list_values: list[str] | None = None
    binary_list_values: list[str] | None = None

    @property
    def is_binary(self) -> bool:
        return self.data_type.startswith("Binary")

    def value_bytes(self) -> bytes:
        if self.is_binary:
            return base64.b64decode(self.binary_value or "")
        return (self.string_value or "").encode()

    def for_lambda(self) -> dict[str, Any]:
        """The lower-camel-case shape of an SQS event record."""
        out: dict[str, Any] = {"dataType": self.data_type}
        if self.is_binary:
            out["binaryValue"] = self.binary_value
        else:
            out["stringValue"] = self.string_value
        out["stringListValues"] = []
        out["binaryListValues"] = []
        return out


Attributes = dict[str, MessageAttribute]
_attributes_encoder = msgspec.json.Encoder()
_attributes_decoder = msgspec.json.Decoder(Attributes)


def encode_attributes(attributes: Attributes) -> bytes:
    return _attributes_encoder.encode(attributes)


def decode_attributes(raw: bytes) -> Attributes:
    return _attributes_decoder.decode(raw) if raw and raw != b"{}" else {}


def invalid(message: str) -> SqsError:
    return SqsError("InvalidParameterValue", message)


def check_body(body: str | None) -> str:
    if body is None or body == "":
        raise SqsError("MissingParameter", "The request must contain the parameter MessageBody.")
    if _BAD_CHARS_RE.search(body):
        raise SqsError(
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to"
            " #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        )
    return body


def check_attributes(attributes: Mapping[str, MessageAttribute] | None) -> Attributes:
    """Validate message attributes as SQS does; return them as a plain dict."""
    if not attributes:
        return {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum"
            f" [{MAX_ATTRIBUTES}]."
        )
    for name, attr in attributes.items():
        lowered = name.lower()
        if (
            not _ATTRIBUTE_NAME_RE.match(name)
            or lowered.startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise invalid(f"Message attribute name '{name}' is invalid.")
        if not _TYPE_RE.match(attr.data_type):
            raise invalid(
                f"The type of message (user) attribute '{name}' is invalid. You must use only"
                " the following supported type prefixes: Binary, Number, String."
            )
        if attr.string_list_values or attr.binary_list_values:
            raise invalid(f"Message attribute '{name}': list values are not supported.")
        _check_value(name, attr)
    return dict(attributes)


def _check_value(name: str, attr: MessageAttribute) -> None:
    kind = attr.data_type.split(".", 1)[0]
    empty = invalid(
        f"Message (user) attribute '{name}' must contain a non-empty value of type '{kind}'."
    )
    if kind == "Binary":
        if not attr.binary_value:
            raise empty
        try:
            base64.b64decode(attr.binary_value, validate=True)
        except binascii.Error as exc:
            raise invalid(f"The message attribute '{name}' has an invalid binary value.") from exc
        return
    if not attr.string_value:
        raise empty
    if kind == "Number":
        try:
            float(attr.string_value)
        except ValueError as exc:
            raise invalid(
                f"Can't cast the value of message (user) attribute '{name}' to a number."
            ) from exc


def attributes_size(attributes: Attributes) -> int:
    """Bytes the attributes count towards MaximumMessageSize (name + type + value)."""
    return sum(
        len(name.encode()) + len(a.data_type.encode()) + len(a.value_bytes())
        for name, a in attributes.items()
    )


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Attributes) -> str | None:
    """SQS's MD5OfMessageAttributes, or None when there are no attributes."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)

    def field(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)))
        digest.update(data)

    for name in sorted(attributes):
        attr = attributes[name]
        field(name.encode())
        field(attr.data_type.encode())
        digest.update(b"\x02" if attr.is_binary else b"\x01")
        field(attr.value_bytes())
    return digest.hexdigest()


def select_attributes(attributes: Attributes, wanted: list[str] | None) -> Attributes:
    """The attributes a ReceiveMessage asked for: `All`, `*` and `.*` mean every one, `Foo.*`
    every one whose name starts with `Foo`, anything else one name."""
    if not wanted or not attributes:
        return {}
    if {"All", "*", ".*"} & set(wanted):
        return attributes
    prefixes = tuple(w[:-2] for w in wanted if w.endswith(".*"))
    names = set(wanted)
    return {
        k: v for k, v in attributes.items() if k in names or (prefixes and k.startswith(prefixes))
    }
