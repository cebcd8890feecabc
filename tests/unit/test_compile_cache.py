"""The shape compile cache under concurrent first use: requests are served from a
thread pool, so many threads may meet an uncompiled shape at the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.session

from openecs.api.compile_cache import CompileCache
from openecs.api.shape_serialization import ResponseSerializer
from openecs.api.shape_validation import RequestValidator

_ECS = botocore.session.get_session().get_service_model("ecs")


def _all_at_once(threads: int, work: Callable[[], Any]) -> list[BaseException]:
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_a_function_still_compiling_is_never_handed_to_another_thread() -> None:
    # A slow compile widens the window in which the old cache exposed its trampoline.
    def slow_compile(shape: str) -> Callable[[int], int]:
        time.sleep(0.05)
        return lambda x: x + 1

    cache: CompileCache[Callable[[int], int]] = CompileCache(slow_compile, str)
    errors = _all_at_once(8, lambda: cache.get("shape")(1))
    assert errors == []
    assert cache.get("shape")(41) == 42


def test_recursive_shapes_compile_through_a_trampoline() -> None:
    seen: list[str] = []

    def compile_node(shape: str) -> Callable[[int], int]:
        seen.append(shape)
        child = cache.get("node")  # a node holds nodes

        def depth(n: int) -> int:
            return 0 if n == 0 else 1 + child(n - 1)

        return depth

    cache: CompileCache[Callable[[int], int]] = CompileCache(compile_node, str)
    assert cache.get("node")(5) == 5
    assert seen == ["node"]


def test_concurrent_first_requests_validate_and_serialize_without_error() -> None:
    op = _ECS.operation_model("RegisterTaskDefinition")
    body = {
        "family": "web",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "busybox",
                "memory": 64,
                "portMappings": [{"containerPort": 80}],
            }
        ],
    }
    for _ in range(10):
        validator, serializer = RequestValidator(), ResponseSerializer()
        errors = _all_at_once(
            8,
            lambda v=validator, s=serializer: (
                v.validate(op.input_shape, body),
                s.serialize(op.output_shape, {"taskDefinition": body}),
            ),
        )
        assert errors == []
