"""Storage-level failures the use cases react to."""

from __future__ import annotations

__all__ = ["ConcurrentUpdateError"]


class ConcurrentUpdateError(Exception):
    """A row changed between read and write (optimistic version mismatch)."""
