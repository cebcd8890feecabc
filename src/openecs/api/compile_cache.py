"""A thread-safe cache of functions compiled from (possibly recursive) shapes.

Request validators and response serializers compile each botocore shape once
into a function. Shapes can be recursive, so compiling a shape may need the
function of a shape still being compiled: that reference goes through a
trampoline which calls the finished function once it exists.

Requests are served from a thread pool, so two threads may meet the same
uncompiled shape. Compilation runs under a lock, and a function is published
to the shared cache only when complete: another thread never sees, let alone
calls, a trampoline whose target is not there yet (that race once recursed
until Python's stack ran out under concurrent first requests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["CompileCache"]

F = TypeVar("F", bound=Callable[..., Any])


class CompileCache(Generic[F]):
    def __init__(self, compile_fn: Callable[[Any], F], key: Callable[[Any], str]) -> None:
        self._compile = compile_fn
        self._key = key
        self._done: dict[str, F] = {}
        self._building: dict[str, F] = {}
        self._lock = threading.RLock()

    def get(self, shape: Any) -> F:
        found = self._done.get(self._key(shape))
        if found is not None:
            return found
        with self._lock:
            return self._get_locked(shape)

    def _get_locked(self, shape: Any) -> F:
        key = self._key(shape)
        found = self._done.get(key) or self._building.get(key)
        if found is not None:
            return found
        target: list[F] = []

        def trampoline(*args: Any) -> Any:
            return target[0](*args)

        self._building[key] = trampoline  # type: ignore[assignment]
        try:
            compiled = self._compile(shape)
        finally:
            del self._building[key]
        target.append(compiled)
        self._done[key] = compiled
        return compiled
