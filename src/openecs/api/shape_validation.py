"""Request validation driven by botocore's input shapes.

Each shape compiles once into a checker. A checker walks the decoded JSON,
drops members the model does not know (as AWS does), turns timestamps into
epoch seconds, and reports:

* a wrong JSON type as `SerializationException` (AWS rejects those while
  deserializing, before any constraint is looked at);
* every constraint failure (required, length, range, enum, pattern) in the
  Coral wording AWS uses: "1 validation error detected: Value 'x' at
  'family' failed to satisfy constraint: Member must ...".
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import regex
from botocore.model import ListShape, MapShape, Shape, StructureShape

from openecs.api.compile_cache import CompileCache
from openecs.domain.errors import AwsError, InvalidParameterException, SerializationException

__all__ = ["RequestValidator"]

Checker = Callable[[Any, str, list[str]], Any]

_MAX_REPORTED = 10


class RequestValidator:
    """Compiles and caches one checker per shape for one service model.

    `path_name` spells a member in the paths messages show: AWS's Query services
    report `targetType` for the member `TargetType`.
    """

    def __init__(
        self,
        error_class: type[AwsError] = InvalidParameterException,
        *,
        path_name: Callable[[str], str] = str,
    ) -> None:
        self._error_class = error_class
        self._path_name = path_name
        self._checkers: CompileCache[Checker] = CompileCache(self._compile, _shape_key)

    def validate(self, shape: StructureShape | None, body: Any) -> dict[str, Any]:
        if shape is None:
            return {}
        if not isinstance(body, dict):
            raise SerializationException("Start of structure or map found where not expected.")
        problems: list[str] = []
        result = self._checker(shape)(body, "", problems)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            shown = "; ".join(problems[:_MAX_REPORTED])
            raise self._error_class(f"{count} validation {noun} detected: {shown}")
        assert isinstance(result, dict)
        return result

    def _checker(self, shape: Shape) -> Checker:
        return self._checkers.get(shape)

    def _compile(self, shape: Shape) -> Checker:
        kind = shape.type_name
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            return self._compile_structure(shape)
        if kind == "list":
            assert isinstance(shape, ListShape)
            return self._compile_list(shape)
        if kind == "map":
            assert isinstance(shape, MapShape)
            return self._compile_map(shape)
        if kind == "string":
            return _compile_string(shape)
        if kind in ("integer", "long"):
            return _compile_number(shape, integral=True)
        if kind in ("double", "float"):
            return _compile_number(shape, integral=False)
        if kind == "boolean":
            return _check_boolean
        if kind == "timestamp":
            return _check_timestamp
        if kind == "blob":
            return _check_blob
        return lambda value, path, problems: value

    def _compile_structure(self, shape: StructureShape) -> Checker:
        members = {name: self._checker(member) for name, member in shape.members.items()}
        required = list(shape.required_members)
        spelled = {name: self._path_name(name) for name in shape.members}

        def check(value: Any, path: str, problems: list[str]) -> Any:
            if value is None:
                return None
            if not isinstance(value, dict):
                raise SerializationException(
                    f"Unexpected value type for '{path or 'input'}': expected a structure."
                )
            out: dict[str, Any] = {}
            for name, item in value.items():
                member_check = members.get(name)
                if member_check is None or item is None:
                    continue
                out[name] = member_check(item, _join(path, spelled[name]), problems)
            for name in required:
                if name not in out:
                    problems.append(_null(_join(path, spelled[name])))
            return out

        return check

    def _compile_list(self, shape: ListShape) -> Checker:
        member = self._checker(shape.member)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")

        def check(value: Any, path: str, problems: list[str]) -> Any:
            if not isinstance(value, list):
                raise SerializationException(
                    f"Unexpected value type for '{path}': expected a list."
                )
            _check_length(len(value), low, high, value, path, problems)
            out = []
            for i, item in enumerate(value):
                item_path = f"{path}.{i + 1}.member"
                if item is None:
                    # A null inside a list is never absent: handlers must not see it.
                    problems.append(_null(item_path))
                    continue
                out.append(member(item, item_path, problems))
            return out

        return check

    def _compile_map(self, shape: MapShape) -> Checker:
        key_check = self._checker(shape.key)
        value_check = self._checker(shape.value)
        low, high = shape.metadata.get("min"), shape.metadata.get("max")

        def check(value: Any, path: str, problems: list[str]) -> Any:
            if not isinstance(value, dict):
                raise SerializationException(f"Unexpected value type for '{path}': expected a map.")
            _check_length(len(value), low, high, value, path, problems)
            out = {}
            for k, v in value.items():
                if v is None:
                    problems.append(_null(f"{path}.{k}"))
                    continue
                out[key_check(k, f"{path}.key", problems)] = value_check(v, f"{path}.{k}", problems)
            return out

        return check


def _null(path: str) -> str:
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, (list, dict)):
        return f"'{json.dumps(value, separators=(',', ':'))[:100]}'"
    return f"'{value}'"


def _check_length(
    length: int, low: Any, high: Any, value: Any, path: str, problems: list[str]
) -> None:
    if low is not None and length < low:
        problems.append(
            f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {low}"
        )
    if high is not None and length > high:
        problems.append(
            f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {high}"
        )


def _compile_pattern(text: str) -> regex.Pattern[str] | None:
    """The model's pattern, or None for the few written for Java's UTF-16 regexes
    (Application Auto Scaling's XmlString spells surrogate pairs as a range
    `\\uD800\\uDC00-\\uDBFF\\uDFFF`, which no Python regex accepts); those only
    allow every valid character anyway."""
    try:
        return regex.compile(text)
    except regex.error:
        return None


def _compile_string(shape: Shape) -> Checker:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    enum = list(shape.enum) if shape.enum else None
    enum_set = set(enum or ())
    pattern_text = shape.metadata.get("pattern")
    pattern = _compile_pattern(pattern_text) if pattern_text else None

    def check(value: Any, path: str, problems: list[str]) -> Any:
        if not isinstance(value, str):
            raise SerializationException(
                f"Unexpected value type for '{path}': "
                f"expected a string but got {_json_type(value)}."
            )
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                # JSON may escape a lone surrogate; no store or ARN can hold one.
                raise SerializationException(
                    f"Unexpected value for '{path}': the string is not valid Unicode."
                ) from None
        _check_length(len(value), low, high, value, path, problems)
        if enum is not None and value not in enum_set:
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        if pattern is not None and pattern.fullmatch(value) is None:
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern_text}"
            )
        return value

    return check


def _compile_number(shape: Shape, *, integral: bool) -> Checker:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    kind = shape.type_name

    def check(value: Any, path: str, problems: list[str]) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SerializationException(
                f"Unexpected value type for '{path}': expected {kind} but got {_json_type(value)}."
            )
        if integral:
            if isinstance(value, float):
                if not value.is_integer():
                    raise SerializationException(
                        f"Unexpected value for '{path}': {value} is not an integer."
                    )
                value = int(value)
            bits = 31 if kind == "integer" else 63
            if not -(2**bits) <= value < 2**bits:
                raise SerializationException(
                    f"Unexpected value for '{path}': {value} is out of range for {kind}."
                )
        elif not math.isfinite(value):
            raise SerializationException(f"Unexpected value for '{path}': {value}.")
        if low is not None and value < low:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
        if high is not None and value > high:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )
        return value

    return check


def _check_boolean(value: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(value, bool):
        raise SerializationException(
            f"Unexpected value type for '{path}': expected boolean but got {_json_type(value)}."
        )
    return value


def _check_timestamp(value: Any, path: str, problems: list[str]) -> Any:
    if isinstance(value, bool):
        raise SerializationException(f"Unexpected value type for '{path}': expected a timestamp.")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise SerializationException(f"Unexpected value for '{path}': expected a timestamp.")


def _check_blob(value: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(value, str):
        raise SerializationException(f"Unexpected value type for '{path}': expected base64 text.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationException(f"Unexpected value for '{path}': invalid base64.") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shape_key(shape: Shape) -> str:
    return f"{shape.type_name}:{shape.name}"
