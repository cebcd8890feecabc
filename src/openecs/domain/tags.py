"""Resource tags with AWS's limits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from openecs.domain.errors import InvalidParameterException

__all__ = ["MAX_TAGS", "tags_from_api", "tags_to_api", "validate_tag_keys"]

MAX_TAGS = 50


def tags_from_api(items: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """ECS `[{key, value}]` tags as a dict, checked against AWS's rules."""
    tags: dict[str, str] = {}
    for item in items:
        key = item.get("key")
        if key is None:
            raise InvalidParameterException("Tag key must not be null.")
        value = item.get("value", "")
        if key.lower().startswith("aws:"):
            raise InvalidParameterException(
                "Tag keys cannot start with the reserved prefix 'aws:'."
            )
        tags[key] = value
    if len(tags) > MAX_TAGS:
        raise InvalidParameterException(
            f"The number of tags exceeds the limit of {MAX_TAGS} tags per resource."
        )
    return tags


def validate_tag_keys(keys: Iterable[str]) -> list[str]:
    out = list(keys)
    for key in out:
        if key.lower().startswith("aws:"):
            raise InvalidParameterException(
                "Tag keys cannot start with the reserved prefix 'aws:'."
            )
    return out


def tags_to_api(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags.items()]
