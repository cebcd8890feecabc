"""CloudWatch Logs error codes that ECS does not have, one class each.

The codes both services share (InvalidParameterException,
ResourceNotFoundException, LimitExceededException...) live in `errors`.
"""

from __future__ import annotations

from openecs.domain.errors import ClientError

__all__ = [
    "InvalidOperationException",
    "ResourceAlreadyExistsException",
    "TooManyTagsException",
    "ValidationException",
]


class ResourceAlreadyExistsException(ClientError):
    code = "ResourceAlreadyExistsException"


class TooManyTagsException(ClientError):
    code = "TooManyTagsException"


class ValidationException(ClientError):
    code = "ValidationException"


class InvalidOperationException(ClientError):
    code = "InvalidOperationException"
