"""The AWS JSON 1.1 protocol (ECS, CloudWatch Logs, Application Auto Scaling).

The request path, in order: X-Amz-Target → service and operation → JSON body
→ validation against the operation's input shape → handler → serialization
from the output shape. Every failure on the way becomes AWS's error body
`{"__type": ..., "message": ...}` with AWS's status code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import ServiceModel

from openecs.api.context import Operations, RequestContext
from openecs.api.shape_serialization import ResponseSerializer
from openecs.api.shape_validation import RequestValidator
from openecs.domain.errors import (
    AwsError,
    InvalidParameterException,
    SerializationException,
    UnknownOperationException,
    UnsupportedFeatureException,
)

__all__ = ["JsonService", "load_service_model"]

log = logging.getLogger("openecs.api")

_session = botocore.session.get_session()


def load_service_model(name: str) -> ServiceModel:
    return _session.get_service_model(name)


@dataclass
class JsonService:
    """One JSON 1.1 service: its botocore model and the handlers built for it."""

    model: ServiceModel
    operations: Operations
    validation_error: type[AwsError] = InvalidParameterException
    validator: RequestValidator = field(init=False)
    serializer: ResponseSerializer = field(init=False)

    def __post_init__(self) -> None:
        self.validator = RequestValidator(self.validation_error)
        self.serializer = ResponseSerializer()
        unknown = set(self.operations) - set(self.model.operation_names)
        if unknown:
            raise ValueError(f"handlers for operations not in the model: {sorted(unknown)}")

    @property
    def target_prefix(self) -> str:
        return str(self.model.metadata["targetPrefix"])

    @property
    def signing_name(self) -> str:
        return str(self.model.metadata.get("signingName") or self.model.endpoint_prefix)

    def handle(self, operation: str, body: bytes, ctx: RequestContext) -> dict[str, Any]:
        if operation not in self.model.operation_names:
            raise UnknownOperationException(f"Unknown operation {operation}")
        handler = self.operations.get(operation)
        if handler is None:
            raise UnsupportedFeatureException(
                f"OpenECS does not implement {self.model.service_name}:{operation} yet."
            )
        op_model = self.model.operation_model(operation)
        params = self.validator.validate(op_model.input_shape, _decode(body))
        result = handler(ctx, params)
        return self.serializer.serialize(op_model.output_shape, result)


def _decode(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the decoder's stack allows.
        raise SerializationException("Could not parse the request body as JSON.") from None
