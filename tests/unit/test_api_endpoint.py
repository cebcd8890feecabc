"""`POST /`: which requests run on the event loop and which in the thread pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest

from openecs.api.app import ApiAnswer, AwsApiEndpoint

_LOOP_THREAD = "loop"


class RecordingGateway:
    """Answers every request, noting the thread it ran on; `hold` keeps RunTask waiting."""

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.hold.set()

    def handle(
        self, path: str, query: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> ApiAnswer:
        operation = headers["x-amz-target"].rpartition(".")[2]
        current = threading.current_thread()
        self.threads[operation] = _LOOP_THREAD if current.name == _LOOP_THREAD else "pool"
        if operation == "RunTask" and not self.hold.is_set():
            self.holding.set()
            self.hold.wait(5)
        return ApiAnswer(200, b"{}", "application/x-amz-json-1.1", operation)


async def _call(app: AwsApiEndpoint, operation: str) -> int:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "query_string": b"",
        "headers": [(b"x-amz-target", f"AmazonEC2ContainerServiceV20141113.{operation}".encode())],
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("only POST / is sent here")


def _run(coro: Any) -> Any:
    """Run on an event loop in a thread named like the loop, so handlers can tell."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coro)), name=_LOOP_THREAD)
    thread.start()
    thread.join(10)
    return result[0]


@pytest.mark.parametrize(
    ("operation", "where"),
    [
        ("DescribeTasks", _LOOP_THREAD),
        ("ListClusters", _LOOP_THREAD),
        ("GetTaskProtection", _LOOP_THREAD),
        ("RunTask", "pool"),
        ("UpdateService", "pool"),
        ("DeleteCluster", "pool"),
    ],
)
def test_an_idle_server_answers_reads_on_the_loop_and_writes_in_the_pool(
    operation: str, where: str
) -> None:
    gateway = RecordingGateway()
    app = AwsApiEndpoint(gateway, _not_found, None, inline_reads=True)  # type: ignore[arg-type]
    assert _run(_call(app, operation)) == 200
    assert gateway.threads[operation] == where


def test_without_inline_reads_everything_runs_in_the_pool() -> None:
    gateway = RecordingGateway()
    app = AwsApiEndpoint(gateway, _not_found, None)  # type: ignore[arg-type]
    assert _run(_call(app, "DescribeTasks")) == 200
    assert gateway.threads["DescribeTasks"] == "pool"


def test_a_read_arriving_while_another_request_is_answered_goes_to_the_pool() -> None:
    gateway = RecordingGateway()
    app = AwsApiEndpoint(gateway, _not_found, None, inline_reads=True)  # type: ignore[arg-type]

    async def scenario() -> tuple[int, int]:
        gateway.hold.clear()
        slow = asyncio.ensure_future(_call(app, "RunTask"))
        while not gateway.holding.is_set():
            await asyncio.sleep(0.001)
        read = await _call(app, "DescribeTasks")  # RunTask still in flight
        gateway.hold.set()
        return await slow, read

    assert _run(scenario()) == (200, 200)
    assert gateway.threads == {"RunTask": "pool", "DescribeTasks": "pool"}
