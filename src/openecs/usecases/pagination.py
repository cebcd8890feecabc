"""nextToken / maxResults as AWS list operations use them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from openecs.domain.errors import InvalidParameterException

__all__ = ["decode_token", "encode_token", "page_limit"]


def encode_token(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": key}).encode()).decode()


def decode_token(token: str | None) -> Any:
    if token is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["k"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidParameterException("Invalid token " + token[:64]) from None


def page_limit(max_results: int | None, *, default: int = 100, most: int = 100) -> int:
    if max_results is None:
        return default
    if not 1 <= max_results <= most:
        raise InvalidParameterException(f"maxResults must be between 1 and {most}, inclusive.")
    return max_results
