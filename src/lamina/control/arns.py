"""ARNs and function names: build, parse, and split off qualifiers.

`FunctionName` may arrive as a name (`f`), a partial ARN (`123456789012:function:f`) or a
full ARN (`arn:aws:lambda:us-east-1:123456789012:function:f`), each optionally followed by
`:qualifier`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.errors import ResourceNotFound, ValidationError

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
QUALIFIER_RE = re.compile(r"^(\$LATEST|[A-Za-z0-9_-]{1,128})$")
ALIAS_RE = re.compile(r"^(?!^[0-9]+$)([A-Za-z0-9_-]{1,128})$")
FULL_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[A-Za-z0-9_-]+)(:(?P<qualifier>[^:]+))?$"
)
_PARTIAL = re.compile(r"^(?P<account>\d{12}):function:(?P<name>[A-Za-z0-9_-]+)(:(?P<q>[^:]+))?$")


@dataclass(frozen=True)
class Arns:
    """ARN builder for one region and account."""

    region: str
    account_id: str

    def function(self, name: str, qualifier: str | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return base if qualifier is None else f"{base}:{qualifier}"

    def queue(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def layer(self, name: str, version: int | None = None) -> str:
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}"
        return base if version is None else f"{base}:{version}"

    def mapping(self, uuid: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:event-source-mapping:{uuid}"

    def split_name(self, raw: str) -> tuple[str, str | None]:
        """(name, qualifier or None) of a FunctionName in any of its three forms."""
        m = FULL_ARN_RE.match(raw)
        if m:
            self._check_scope(m["region"], m["account"], raw)
            return m["name"], m["qualifier"]
        m = _PARTIAL.match(raw)
        if m:
            self._check_scope(self.region, m["account"], raw)
            return m["name"], m["q"]
        name, _, qualifier = raw.partition(":")
        if not NAME_RE.match(name) or (qualifier and not QUALIFIER_RE.match(qualifier)):
            raise ValidationFailed.function_name(raw)
        return name, qualifier or None

    def _check_scope(self, region: str, account: str, raw: str) -> None:
        if account != self.account_id or region != self.region:
            raise ResourceNotFound(f"Function not found: {raw}")


class ValidationFailed:
    """Builders for the messages AWS gives on malformed names."""

    @staticmethod
    def function_name(raw: str) -> ValidationError:
        return ValidationError(
            f"1 validation error detected: Value '{raw}' at 'functionName'"
            " failed to satisfy constraint: Member must satisfy regular"
            " expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
            "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?"
            "([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )
