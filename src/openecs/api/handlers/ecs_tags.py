"""ECS tags operations."""

from __future__ import annotations

from openecs.api.context import Operations

__all__ = ["OPERATIONS"]

OPERATIONS: Operations = {}
