"""Response serialization driven by botocore's output shapes.

Only members the model knows are sent; timestamps go out as epoch seconds
(the JSON 1.1 wire format); None values are left out, as AWS does.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from openecs.api.compile_cache import CompileCache

__all__ = ["ResponseSerializer"]

Writer = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _blob(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


class ResponseSerializer:
    def __init__(self) -> None:
        self._writers: CompileCache[Writer] = CompileCache(self._compile, _shape_key)

    def serialize(self, shape: StructureShape | None, value: dict[str, Any]) -> dict[str, Any]:
        if shape is None:
            return {}
        result = self._writer(shape)(value)
        assert isinstance(result, dict)
        return result

    def _writer(self, shape: Shape) -> Writer:
        return self._writers.get(shape)

    def _compile(self, shape: Shape) -> Writer:
        if isinstance(shape, StructureShape):
            members = {name: self._writer(m) for name, m in shape.members.items()}

            def write_structure(value: Any) -> Any:
                out = {}
                for name, item in value.items():
                    writer = members.get(name)
                    if writer is not None and item is not None:
                        out[name] = writer(item)
                return out

            return write_structure
        if isinstance(shape, ListShape):
            member = self._writer(shape.member)
            if member is _identity:
                return list
            return lambda value: [member(item) for item in value]
        if isinstance(shape, MapShape):
            inner = self._writer(shape.value)
            return lambda value: {k: inner(v) for k, v in value.items()}
        if shape.type_name == "timestamp":
            return _timestamp
        if shape.type_name == "blob":
            return _blob
        return _identity


def _shape_key(shape: Shape) -> str:
    return f"{shape.type_name}:{shape.name}"
