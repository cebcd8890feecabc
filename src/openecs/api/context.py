"""What a handler gets besides its parameters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from openecs.domain.scope import Scope
from openecs.usecases.backend import Backend

__all__ = ["Handler", "Operations", "RequestContext"]


@dataclass(frozen=True, slots=True)
class RequestContext:
    scope: Scope
    backend: Backend
    request_id: str


Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any]]
Operations = Mapping[str, Handler]
