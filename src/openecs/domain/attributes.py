"""Attributes: name/value pairs on container instances that placement constraints
match on. Some the agent registers (ecs.os-type, ecs.capability.*, ...); the
others are custom, put and deleted through the API, at most 10 per instance."""

from __future__ import annotations

import re
from dataclasses import dataclass

from openecs.domain.errors import ClientError, InvalidParameterException

__all__ = [
    "CONTAINER_INSTANCE",
    "MAX_ATTRIBUTES_PER_CALL",
    "MAX_CUSTOM_ATTRIBUTES",
    "Attribute",
    "AttributeLimitExceededException",
    "TargetNotFoundException",
    "validate_attribute",
]

CONTAINER_INSTANCE = "container-instance"
MAX_ATTRIBUTES_PER_CALL = 10
MAX_CUSTOM_ATTRIBUTES = 10

_NAME = re.compile(r"[A-Za-z0-9_./\\-]{1,128}")
_VALUE = re.compile(r"[A-Za-z0-9_.@/\\: -]{1,128}")


class TargetNotFoundException(ClientError):
    code = "TargetNotFoundException"


class AttributeLimitExceededException(ClientError):
    code = "AttributeLimitExceededException"


@dataclass(frozen=True, slots=True, order=True)
class Attribute:
    """One attribute of one target. Ordered by target, then name (the listing order)."""

    target_id: str
    name: str
    value: str | None = None
    target_type: str = CONTAINER_INSTANCE


def validate_attribute(name: str, value: str | None) -> None:
    """AWS's rules for a custom attribute's name and value."""
    if not _NAME.fullmatch(name):
        raise InvalidParameterException(
            f"Invalid attribute name '{name}'. An attribute name must contain between 1 and "
            "128 characters: letters (uppercase and lowercase), numbers, hyphens (-), "
            "underscores (_), forward slashes (/), back slashes (\\) or periods (.)."
        )
    if value is None:
        return
    if not _VALUE.fullmatch(value) or value != value.strip(" "):
        raise InvalidParameterException(
            f"Invalid value '{value}' for attribute {name}. An attribute value must contain "
            "between 1 and 128 characters: letters (uppercase and lowercase), numbers, "
            "hyphens (-), underscores (_), periods (.), at signs (@), forward slashes (/), "
            "back slashes (\\), colons (:) or spaces, and cannot start or end with a space."
        )
