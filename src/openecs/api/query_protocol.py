"""The AWS Query protocol (Elastic Load Balancing v2), driven by botocore's model.

The request path, in order: form body (`Action=...&Version=...&Names.member.1=...`)
→ operation → parameters rebuilt from the flat form along the input shape
(strings turned into the shape's integers, booleans, doubles) → validation
against the input shape → handler → XML from the output shape:

    <XResponse xmlns="..."><XResult>...</XResult>
      <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></XResponse>

Failures become `<ErrorResponse><Error><Type/><Code/><Message/></Error>
<RequestId/></ErrorResponse>` with the code and HTTP status the model gives the
error shape (TargetGroupNotFoundException → TargetGroupNotFound, 400).

The form encoding is botocore's QuerySerializer read backwards: structure
members as `Prefix.Member`, lists as `Prefix.member.N` (or `Prefix.N` when
flattened), maps as `Prefix.entry.N.key` / `.value`, an empty list as `Prefix=`.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape

from openecs.api.context import Operations, RequestContext
from openecs.api.shape_validation import RequestValidator
from openecs.domain.errors import (
    AwsError,
    InvalidActionException,
    MalformedQueryStringException,
    MissingParameterException,
    SerializationException,
    UnsupportedFeatureException,
    ValidationError,
)

__all__ = [
    "XML_CONTENT_TYPE",
    "FormDecoder",
    "QueryService",
    "XmlWriter",
    "error_response",
    "is_query_request",
    "parse_form",
]

XML_CONTENT_TYPE = "text/xml"
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_MAX_REPORTED = 10
_INT_BITS = {"integer": 31, "long": 63}
# XML 1.0 cannot carry these characters at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# Errors that are not the service's own: how Query services spell them on the wire.
_QUERY_CODES: dict[str, tuple[str, int]] = {
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403),
    "IncompleteSignatureException": ("IncompleteSignature", 400),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403),
    "UnrecognizedClientException": ("InvalidClientTokenId", 403),
    "AccessDeniedException": ("AccessDenied", 403),
    "UnknownOperationException": ("InvalidAction", 400),
    "SerializationException": ("ValidationError", 400),
    "ServerException": ("InternalFailure", 500),
}


def is_query_request(headers: Mapping[str, str]) -> bool:
    """A POST without X-Amz-Target whose body is a form: `headers` have lowercase names."""
    if headers.get("x-amz-target"):
        return False
    content_type = headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == _FORM_CONTENT_TYPE


def parse_form(body: bytes) -> dict[str, str]:
    """The form's fields; a repeated field keeps its last value."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise MalformedQueryStringException("The query string is not valid UTF-8.") from None
    return dict(pairs)


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


# --- form → parameters -----------------------------------------------------------------


class _FormIndex:
    """The form's keys as a tree: which components follow a given dotted prefix."""

    def __init__(self, form: Mapping[str, str]) -> None:
        self.values = form
        self.children: dict[str, set[str]] = {}
        for key in form:
            parts = key.split(".")
            for i in range(1, len(parts)):
                self.children.setdefault(".".join(parts[:i]), set()).add(parts[i])

    def indices(self, prefix: str) -> list[int]:
        found = self.children.get(prefix, ())
        return sorted(int(part) for part in found if part.isdigit() and part[0] != "0")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class FormDecoder:
    """Rebuilds an operation's parameters from its flat form, along its input shape.

    Scalars become the shape's types; a value that is not one (`Port=eighty`) is a
    ValidationError in AWS's Coral wording. Keys the shape does not name are ignored.
    """

    def decode(self, shape: StructureShape | None, form: Mapping[str, str]) -> dict[str, Any]:
        if shape is None:
            return {}
        problems: list[str] = []
        params = self._structure(shape, "", _FormIndex(form), "", problems)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            shown = "; ".join(problems[:_MAX_REPORTED])
            raise ValidationError(f"{count} validation {noun} detected: {shown}")
        return params or {}

    def _value(
        self, shape: Shape, key: str, index: _FormIndex, path: str, problems: list[str]
    ) -> Any:
        """The member at `key`, or None when the form does not give it."""
        if isinstance(shape, StructureShape):
            if key not in index.children:
                return None
            return self._structure(shape, key, index, path, problems)
        if isinstance(shape, ListShape):
            return self._list(shape, key, index, path, problems)
        if isinstance(shape, MapShape):
            return self._map(shape, key, index, path, problems)
        text = index.values.get(key)
        if text is None:
            return None
        return _scalar(shape, text, path, problems)

    def _structure(
        self, shape: StructureShape, prefix: str, index: _FormIndex, path: str, problems: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            value = self._value(
                member, _join(prefix, wire), index, _join(path, _lower_camel(name)), problems
            )
            if value is not None:
                out[name] = value
        return out

    def _list(
        self, shape: ListShape, key: str, index: _FormIndex, path: str, problems: list[str]
    ) -> list[Any] | None:
        if shape.serialization.get("flattened"):
            item_prefix = key
            renamed = shape.member.serialization.get("name")
            if renamed:
                item_prefix = ".".join([*key.split(".")[:-1], renamed])
        else:
            item_prefix = f"{key}.{shape.member.serialization.get('name', 'member')}"
        positions = index.indices(item_prefix)
        if not positions:
            # `Names=` is how the Query protocol sends an empty list.
            return [] if index.values.get(key) == "" else None
        items = []
        for n in positions:
            item = self._value(
                shape.member, f"{item_prefix}.{n}", index, f"{path}.{n}.member", problems
            )
            if item is not None:
                items.append(item)
        return items

    def _map(
        self, shape: MapShape, key: str, index: _FormIndex, path: str, problems: list[str]
    ) -> dict[Any, Any] | None:
        entry_prefix = key if shape.serialization.get("flattened") else f"{key}.entry"
        positions = index.indices(entry_prefix)
        if not positions:
            return None
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out: dict[Any, Any] = {}
        for n in positions:
            entry = f"{entry_prefix}.{n}"
            map_key = self._value(shape.key, f"{entry}.{key_name}", index, f"{path}.key", problems)
            if map_key is None:
                continue
            value = self._value(
                shape.value, f"{entry}.{value_name}", index, f"{path}.{map_key}", problems
            )
            if value is not None:
                out[map_key] = value
        return out


def _scalar(shape: Shape, text: str, path: str, problems: list[str]) -> Any:
    kind = shape.type_name
    if kind in _INT_BITS:
        try:
            number = int(text.strip())
        except ValueError:
            problems.append(
                f"Value '{text}' at '{path}' failed to satisfy constraint: Member must be an {kind}"
            )
            return None
        bits = _INT_BITS[kind]
        if not -(2**bits) <= number < 2**bits:
            problems.append(
                f"Value '{text}' at '{path}' failed to satisfy constraint: "
                f"Member must be an {kind} that fits in {bits + 1} bits"
            )
            return None
        return number
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            problems.append(
                f"Value '{text}' at '{path}' failed to satisfy constraint: "
                "Member must be a boolean (true or false)"
            )
            return None
        return lowered == "true"
    if kind in ("double", "float"):
        try:
            number_f = float(text)
        except ValueError:
            number_f = math.nan
        if not math.isfinite(number_f):
            problems.append(
                f"Value '{text}' at '{path}' failed to satisfy constraint: "
                "Member must be a finite number"
            )
            return None
        return number_f
    if kind == "timestamp":
        try:
            return float(text)
        except ValueError:
            return text
    return text


# --- result → XML ------------------------------------------------------------------------


def _text(value: str) -> str:
    cleaned = _NOT_XML.sub("\ufffd", value)
    # A raw CR would be normalized away by the client's XML parser.
    return escape(cleaned).replace("\r", "&#xD;")


def _timestamp(value: Any) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, tz=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class XmlWriter:
    """Writes a result as XML along an output shape. None values and members the
    model does not know are left out; an empty list is an empty element."""

    def element(self, shape: Shape, name: str, value: Any, out: list[str]) -> None:
        if isinstance(shape, ListShape):
            self._list(shape, name, value, out)
        elif isinstance(shape, MapShape):
            self._map(shape, name, value, out)
        else:
            out.append(f"<{name}>")
            self.content(shape, value, out)
            out.append(f"</{name}>")

    def content(self, shape: Shape, value: Any, out: list[str]) -> None:
        """What goes between a structure's or a scalar's tags."""
        if isinstance(shape, StructureShape):
            for member_name, member in shape.members.items():
                item = value.get(member_name)
                if item is None:
                    continue
                name = member.serialization.get("name", member_name)
                if isinstance(member, ListShape) and member.serialization.get("flattened"):
                    name = member.member.serialization.get("name", name)
                self.element(member, name, item, out)
            return
        kind = shape.type_name
        if kind == "boolean":
            out.append("true" if value else "false")
        elif kind == "timestamp":
            out.append(_timestamp(value))
        elif kind in ("double", "float"):
            number = float(value)
            out.append(
                "NaN"
                if math.isnan(number)
                else ("Infinity" if number > 0 else "-Infinity")
                if math.isinf(number)
                else repr(number)
            )
        elif kind == "blob":
            raw = value.encode() if isinstance(value, str) else bytes(value)
            out.append(base64.b64encode(raw).decode())
        else:
            out.append(_text(str(value)))

    def _list(self, shape: ListShape, name: str, value: Any, out: list[str]) -> None:
        if shape.serialization.get("flattened"):
            for item in value:
                self.element(shape.member, name, item, out)
            return
        if not value:
            out.append(f"<{name}/>")
            return
        item_name = shape.member.serialization.get("name", "member")
        out.append(f"<{name}>")
        for item in value:
            self.element(shape.member, item_name, item, out)
        out.append(f"</{name}>")

    def _map(self, shape: MapShape, name: str, value: Mapping[Any, Any], out: list[str]) -> None:
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        flattened = shape.serialization.get("flattened")
        if not flattened:
            out.append(f"<{name}>")
        for key, item in value.items():
            out.append(f"<{name}>" if flattened else "<entry>")
            self.element(shape.key, key_name, key, out)
            self.element(shape.value, value_name, item, out)
            out.append(f"</{name}>" if flattened else "</entry>")
        if not flattened:
            out.append(f"</{name}>")


# --- the service -----------------------------------------------------------------------


@dataclass
class QueryService:
    """One Query service: its botocore model and the handlers built for it."""

    model: ServiceModel
    operations: Operations
    decoder: FormDecoder = field(init=False)
    validator: RequestValidator = field(init=False)
    writer: XmlWriter = field(init=False)
    _errors: dict[str, tuple[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.decoder = FormDecoder()
        self.validator = RequestValidator(ValidationError, path_name=_lower_camel)
        self.writer = XmlWriter()
        unknown = set(self.operations) - set(self.model.operation_names)
        if unknown:
            raise ValueError(f"handlers for operations not in the model: {sorted(unknown)}")
        self._errors = {}
        for shape in self.model.error_shapes:
            meta = shape.metadata.get("error") or {}
            self._errors[shape.name] = (
                str(meta.get("code", shape.name)),
                int(meta.get("httpStatusCode", 400)),
            )

    @property
    def signing_name(self) -> str:
        return str(self.model.metadata.get("signingName") or self.model.endpoint_prefix)

    @property
    def namespace(self) -> str:
        return str(self.model.metadata["xmlNamespace"])

    def handle(self, form: Mapping[str, str], ctx: RequestContext) -> bytes:
        """The XML answer to one request; raises AwsError for every failure."""
        operation = form.get("Action")
        if not operation:
            raise MissingParameterException("The request must contain the parameter Action.")
        if operation not in self.model.operation_names:
            raise InvalidActionException(
                f"The action {operation} is not valid for this web service."
            )
        version = form.get("Version")
        if not version:
            raise MissingParameterException("The request must contain the parameter Version.")
        if version != self.model.api_version:
            raise InvalidActionException(
                f"Could not find operation {operation} for version {version}."
            )
        handler = self.operations.get(operation)
        if handler is None:
            raise UnsupportedFeatureException(
                f"OpenECS does not implement {self.signing_name}:{operation} yet."
            )
        op_model = self.model.operation_model(operation)
        fields = {k: v for k, v in form.items() if k not in ("Action", "Version")}
        params = self.decoder.decode(op_model.input_shape, fields)
        try:
            params = self.validator.validate(op_model.input_shape, params)
        except SerializationException as err:
            raise ValidationError(err.message) from None
        result = handler(ctx, params)
        return self.response(operation, result, ctx.request_id)

    def response(self, operation: str, result: Mapping[str, Any], request_id: str) -> bytes:
        out = [f'<{operation}Response xmlns="{self.namespace}">']
        shape = self.model.operation_model(operation).output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{operation}Result")
            out.append(f"<{wrapper}>")
            self.writer.content(shape, result, out)
            out.append(f"</{wrapper}>")
        out.append(
            f"<ResponseMetadata><RequestId>{_text(request_id)}</RequestId></ResponseMetadata>"
            f"</{operation}Response>"
        )
        return "".join(out).encode()

    def error(self, err: AwsError, request_id: str) -> tuple[int, str, bytes]:
        """(status, wire code, XML body) for an error."""
        return error_response(err, request_id, self._errors, self.namespace)


def error_response(
    err: AwsError,
    request_id: str,
    modeled: Mapping[str, tuple[str, int]] | None = None,
    namespace: str | None = None,
) -> tuple[int, str, bytes]:
    """(status, wire code, XML body) of an error, in the model's terms when it has them."""
    known = (modeled or {}).get(err.code)
    if known is not None:
        code, status = known
    else:
        code, status = _QUERY_CODES.get(err.code, (err.code, err.status))
    fault = "Sender" if status < 500 else "Receiver"
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>{fault}</Type><Code>{_text(code)}</Code>"
        f"<Message>{_text(err.message)}</Message></Error>"
        f"<RequestId>{_text(request_id)}</RequestId></ErrorResponse>"
    )
    return status, code, body.encode()
