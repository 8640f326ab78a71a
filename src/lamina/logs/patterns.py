"""CloudWatch Logs filter patterns for unstructured lines: terms, phrases, `?` and `-`.

Supported, as on AWS (terms are case-sensitive and match anywhere in the message):

    ""                      every event
    ERROR Exception         events holding both terms
    "Task timed out"        events holding the phrase (quotes keep spaces and punctuation)
    ?ERROR ?WARN            events holding at least one of the `?` terms
    ERROR -Retrying         events holding ERROR and not Retrying
    %ERR(OR|EUR)%           events matching the regular expression between the percent signs

JSON (`{ $.x = 1 }`) and space-delimited (`[ip, user, ...]`) patterns are refused with
InvalidParameterException rather than silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.errors import LogsInvalidParameter

#: A term: an optional ? or - then a "quoted phrase", a %regex% or a bare word.
_TERM_RE = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|%([^%]+)%|(\S+))')

Matcher = Callable[[str], bool]


@dataclass
class _Pattern:
    required: list[Matcher] = field(default_factory=list)
    any_of: list[Matcher] = field(default_factory=list)
    excluded: list[Matcher] = field(default_factory=list)

    def __call__(self, message: str) -> bool:
        if not all(match(message) for match in self.required):
            return False
        if self.any_of and not any(match(message) for match in self.any_of):
            return False
        return not any(match(message) for match in self.excluded)


def _contains(term: str) -> Matcher:
    return lambda message: term in message


def _regex(expr: str) -> Matcher:
    try:
        compiled = re.compile(expr)
    except re.error as exc:
        raise LogsInvalidParameter(f"Invalid filter pattern: {exc}") from exc
    return lambda message: compiled.search(message) is not None


def compile_pattern(text: str | None) -> Matcher:
    """A predicate on messages for the filter pattern `text` (None or blank: all events)."""
    text = (text or "").strip()
    if not text:
        return lambda message: True
    if text[0] in "{[":
        raise LogsInvalidParameter(
            "Invalid filter pattern: Lamina supports terms, quoted phrases, ?alternatives,"
            " -exclusions and %regex%, not JSON or space-delimited patterns"
        )
    pattern = _Pattern()
    pos = 0
    while pos < len(text):
        found = _TERM_RE.match(text, pos)
        if found is None or found.end() == pos:
            raise LogsInvalidParameter(f"Invalid filter pattern: {text}")
        pos = found.end()
        sign, phrase, regex, word = found.groups()
        if regex is not None:
            matcher = _regex(regex)
        else:
            term = phrase.replace('\\"', '"') if phrase is not None else word
            matcher = _contains(term)
        {"?": pattern.any_of, "-": pattern.excluded}.get(sign, pattern.required).append(matcher)
        if text[pos:].strip() == "":
            break
    return pattern
