"""CloudWatch Logs filter patterns: parse once, then match many messages.

Two kinds of pattern, as on AWS:

* Terms, matched as case-sensitive substrings of the whole message:

      ERROR                   contains ERROR
      ERROR Exception         contains both
      "Internal error"        contains the phrase
      ?ERROR ?WARN            contains at least one of the ?-terms
      ERROR -DEBUG            contains ERROR and not DEBUG
      %time[o]?ut%            a regular expression found in the message

* JSON patterns, evaluated on messages that are JSON objects:

      { $.level = "error" }                  string equality; * is a wildcard
      { $.latency > 100 }                    numbers: = != < <= > >=
      { $.user.id = 7 && $.items[0] != x* }  selectors with names and indexes
      { ($.a = 1 || $.b = 2) && $.c IS TRUE }
      { $.x IS NULL }  { $.x NOT EXISTS }  { $.x IS FALSE }  { $.msg = %^fail% }

The empty pattern matches every message.

LIMITATIONS (where OpenECS differs from AWS):
* space-delimited patterns (`[ip, user, ...]`) are rejected as invalid;
* JSON selectors take names and indexes, not `[*]` or `.*` wildcards;
* a regular expression is Python's `regex` dialect, bounded to 100 ms per message.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import regex

from openecs.domain.errors import InvalidParameterException

__all__ = ["FilterPattern", "parse_filter_pattern"]

_REGEX_TIMEOUT = 0.1
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_SELECTOR_STEP = re.compile(r"\.([A-Za-z0-9_\-@$]+)|\[(\d+)\]")


class FilterPattern(Protocol):
    def matches(self, message: str) -> bool: ...


def parse_filter_pattern(text: str | None) -> FilterPattern:
    """The pattern `text` describes; InvalidParameterException when it is malformed."""
    source = (text or "").strip()
    if not source:
        return _MatchAll()
    if source.startswith("{"):
        return _JsonPattern(_JsonParser(source).parse())
    if source.startswith("["):
        raise _invalid("space-delimited patterns ([...]) are not supported")
    return _parse_terms(source)


def _invalid(reason: str) -> InvalidParameterException:
    return InvalidParameterException(f"Invalid filter pattern: {reason}")


# --- values: literal text with * wildcards, or a regular expression ------------------


@dataclass(frozen=True, slots=True)
class _Text:
    """A literal (where `*` stands for any run of characters) or a %regex%."""

    source: str
    is_regex: bool = False
    _compiled: Any = field(default=None, compare=False)

    @classmethod
    def literal(cls, text: str, *, wildcards: bool) -> _Text:
        if wildcards and "*" in text:
            pattern = ".*".join(re.escape(part) for part in text.split("*"))
            return cls(text, False, re.compile(pattern, re.DOTALL))
        return cls(text, False, None)

    @classmethod
    def expression(cls, body: str) -> _Text:
        try:
            return cls(body, True, regex.compile(body))
        except regex.error as exc:
            raise _invalid(f"bad regular expression %{body}%: {exc}") from None

    def found_in(self, message: str) -> bool:
        if self.is_regex:
            return self._search(message)
        if self._compiled is not None:
            return self._compiled.search(message) is not None
        return self.source in message

    def equals(self, value: str) -> bool:
        if self.is_regex:
            return self._search(value)
        if self._compiled is not None:
            return self._compiled.fullmatch(value) is not None
        return self.source == value

    def _search(self, text: str) -> bool:
        try:
            return self._compiled.search(text, timeout=_REGEX_TIMEOUT) is not None
        except TimeoutError:
            return False


# --- term patterns -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MatchAll:
    def matches(self, message: str) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class _TermPattern:
    required: tuple[_Text, ...]
    any_of: tuple[_Text, ...]
    excluded: tuple[_Text, ...]

    def matches(self, message: str) -> bool:
        if not all(term.found_in(message) for term in self.required):
            return False
        if self.any_of and not any(term.found_in(message) for term in self.any_of):
            return False
        return not any(term.found_in(message) for term in self.excluded)


def _parse_terms(source: str) -> _TermPattern:
    required: list[_Text] = []
    any_of: list[_Text] = []
    excluded: list[_Text] = []
    pos = 0
    while pos < len(source):
        if source[pos].isspace():
            pos += 1
            continue
        bucket = required
        if source[pos] in "?-" and pos + 1 < len(source) and not source[pos + 1].isspace():
            bucket = any_of if source[pos] == "?" else excluded
            pos += 1
        term, pos = _read_term(source, pos)
        bucket.append(term)
    return _TermPattern(tuple(required), tuple(any_of), tuple(excluded))


def _read_term(source: str, pos: int) -> tuple[_Text, int]:
    opener = source[pos]
    if opener in '"%':
        body, end = _read_delimited(source, pos, opener)
        if opener == "%":
            return _Text.expression(body), end
        return _Text.literal(body, wildcards=False), end
    end = pos
    while end < len(source) and not source[end].isspace():
        if source[end] == '"':
            raise _invalid(f"unexpected quote in term at position {end}")
        end += 1
    return _Text.literal(source[pos:end], wildcards=False), end


def _read_delimited(source: str, pos: int, quote: str) -> tuple[str, int]:
    """The text between `quote` at `pos` and its closing twin (backslash escapes it)."""
    out: list[str] = []
    i = pos + 1
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source):
            following = source[i + 1]
            # In a regex, keep escapes other than the delimiter for the regex engine.
            out.append(following if following == quote or quote == '"' else char + following)
            i += 2
            continue
        if char == quote:
            if quote == "%" and not out:
                raise _invalid("empty regular expression")
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise _invalid(f"unterminated {quote} starting at position {pos}")


# --- JSON patterns -------------------------------------------------------------------

_MISSING = object()
Expr = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class _JsonPattern:
    expr: Expr

    def matches(self, message: str) -> bool:
        if not message.lstrip().startswith("{"):
            return False
        try:
            doc = json.loads(message)
        except (ValueError, RecursionError):
            return False
        return isinstance(doc, dict) and self.expr(doc)


def _select(doc: Any, path: Sequence[str | int]) -> Any:
    current = doc
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return _MISSING
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                return _MISSING
            current = current[step]
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _numeric_comparison(path: list[str | int], op: str, number: float, literal: str) -> Expr:
    compare = _NUMERIC_OPS[op]
    text = _Text.literal(literal, wildcards=False)

    def evaluate(doc: Any) -> bool:
        value = _select(doc, path)
        if _is_number(value):
            return compare(float(value), number)
        if isinstance(value, str) and op in ("=", "!="):
            # `{ $.version = 1.2 }` on "1.2": the literal compared as text.
            return text.equals(value) == (op == "=")
        return False

    return evaluate


def _text_comparison(path: list[str | int], op: str, expected: _Text) -> Expr:
    def evaluate(doc: Any) -> bool:
        value = _select(doc, path)
        if isinstance(value, str):
            text = value
        elif _is_number(value):
            text = json.dumps(value)
        else:
            return False
        return expected.equals(text) == (op == "=")

    return evaluate


def _check(path: list[str | int], test: Callable[[Any], bool]) -> Expr:
    return lambda doc: test(_select(doc, path))


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<punct>&&|\|\||[(){}])
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<regex>%(?:[^%\\]|\\.)*%)
      | (?P<selector>\$[^\s()=!<>&|{}]*)
      | (?P<word>[^\s()=!<>&|{}"%]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    at: int


class _JsonParser:
    """Recursive descent over the tokens of `{ ... }`: || binds looser than &&."""

    def __init__(self, source: str) -> None:
        self.tokens = self._tokenize(source)
        self.pos = 0

    @staticmethod
    def _tokenize(source: str) -> list[_Token]:
        tokens: list[_Token] = []
        pos = 0
        while pos < len(source):
            if source[pos:].strip() == "":
                break
            found = _TOKEN.match(source, pos)
            if found is None or found.lastgroup is None:
                raise _invalid(f"unexpected character at position {pos}")
            tokens.append(_Token(found.lastgroup, found.group(found.lastgroup), found.start()))
            pos = found.end()
        return tokens

    def parse(self) -> Expr:
        self._expect("{")
        expr = self._or()
        self._expect("}")
        if self.pos != len(self.tokens):
            raise _invalid(f"unexpected {self.tokens[self.pos].text!r} after the closing brace")
        return expr

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self, what: str) -> _Token:
        token = self._peek()
        if token is None:
            raise _invalid(f"expected {what} at the end of the pattern")
        self.pos += 1
        return token

    def _expect(self, text: str) -> None:
        token = self._next(repr(text))
        if token.text != text:
            raise _invalid(f"expected {text!r} at position {token.at}, found {token.text!r}")

    def _or(self) -> Expr:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.text == "||":
            self.pos += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: any(part(doc) for part in parts)

    def _and(self) -> Expr:
        parts = [self._primary()]
        while (token := self._peek()) is not None and token.text == "&&":
            self.pos += 1
            parts.append(self._primary())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: all(part(doc) for part in parts)

    def _primary(self) -> Expr:
        token = self._next("a comparison")
        if token.text == "(":
            inner = self._or()
            self._expect(")")
            return inner
        if token.kind != "selector":
            raise _invalid(f"expected a selector like $.field at position {token.at}")
        path = _parse_selector(token)
        following = self._next("an operator")
        if following.kind == "word":
            return self._keyword_check(path, following)
        if following.kind != "op":
            raise _invalid(f"expected an operator at position {following.at}")
        return self._comparison(path, following.text, self._next("a value"))

    def _keyword_check(self, path: list[str | int], token: _Token) -> Expr:
        keyword = token.text.upper()
        if keyword == "IS":
            what = self._next("NULL, TRUE or FALSE").text.upper()
            tests: dict[str, Callable[[Any], bool]] = {
                "NULL": lambda v: v is None,
                "TRUE": lambda v: v is True,
                "FALSE": lambda v: v is False,
            }
            if what not in tests:
                raise _invalid(f"IS must be followed by NULL, TRUE or FALSE, not {what}")
            return _check(path, tests[what])
        if keyword == "NOT":
            if self._next("EXISTS").text.upper() != "EXISTS":
                raise _invalid("NOT must be followed by EXISTS")
            return _check(path, lambda v: v is _MISSING)
        if keyword == "EXISTS":
            return _check(path, lambda v: v is not _MISSING)
        raise _invalid(f"expected an operator at position {token.at}, found {token.text!r}")

    def _comparison(self, path: list[str | int], op: str, value: _Token) -> Expr:
        if value.kind == "word" and _NUMBER.fullmatch(value.text):
            number = float(value.text)
            if not math.isfinite(number):
                raise _invalid(f"number out of range: {value.text}")
            return _numeric_comparison(path, op, number, value.text)
        if value.kind == "string":
            expected = _Text.literal(_read_delimited(value.text, 0, '"')[0], wildcards=True)
        elif value.kind == "regex":
            expected = _Text.expression(_read_delimited(value.text, 0, "%")[0])
        elif value.kind == "word":
            expected = _Text.literal(value.text, wildcards=True)
        else:
            raise _invalid(f"expected a value at position {value.at}, found {value.text!r}")
        if op not in ("=", "!="):
            raise _invalid(f"{op} compares numbers; {value.text} is not a number")
        return _text_comparison(path, op, expected)


def _parse_selector(token: _Token) -> list[str | int]:
    rest = token.text[1:]
    path: list[str | int] = []
    pos = 0
    while pos < len(rest):
        found = _SELECTOR_STEP.match(rest, pos)
        if found is None:
            raise _invalid(f"bad selector {token.text!r} at position {token.at}")
        path.append(found[1] if found[1] is not None else int(found[2]))
        pos = found.end()
    if not path:
        raise _invalid(f"selector {token.text!r} names no field")
    return path
