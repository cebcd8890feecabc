"""Requests through the real HAProxy become AWS/ApplicationELB datapoints: the load
balancer controller reads the backend counters once per 10-second period."""

from __future__ import annotations

import http.client
import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from openecs.controllers.load_balancer import LoadBalancerController
from openecs.domain.load_balancing import HealthCheck, LoadBalancingSnapshot, TargetState
from openecs.domain.metrics import Datapoint
from openecs.lb.data_plane import HealthUpdate
from openecs.lb.haproxy_process import DEFAULT_BINARY
from openecs.platform.clock import FakeClock
from openecs.usecases.backend import Backend
from tests.support.lb_snapshots import (
    forward,
    listener,
    load_balancer,
    snapshot,
    target,
    target_group,
)

pytestmark = pytest.mark.skipif(
    not os.access(DEFAULT_BINARY, os.X_OK), reason="HAProxy is not installed"
)

NOW = 1_764_115_200.0  # a period start


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 500 if self.path.startswith("/boom") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def web_backend() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_requests_through_haproxy_become_per_period_load_balancer_datapoints(
    tmp_path: Path, web_backend: int
) -> None:
    checks = HealthCheck(path="/health", interval_seconds=1, timeout_seconds=1, healthy_threshold=2)
    web = target_group("web", health=checks)
    lb = load_balancer("shop")
    port = free_port()
    current: LoadBalancingSnapshot = snapshot(
        [lb], [listener(lb, port, forward(web))], [web], [], [target(web, web_backend)]
    )
    points: list[Datapoint] = []

    def record_health(store: Backend, updates: list[HealthUpdate]) -> int:
        for _, _, _, state, reason, description in updates:
            current.targets[0].state = state
            current.targets[0].reason, current.targets[0].description = reason, description
        return len(updates)

    clock = FakeClock(NOW)
    store = Backend.open(f"sqlite:///{tmp_path / 'openecs.db'}", clock)
    controller = LoadBalancerController(
        store,
        lambda _: current,
        record_health,
        state_dir=tmp_path / "haproxy",
        record_metrics=lambda _, new: points.extend(new),
    )
    try:
        deadline = time.monotonic() + 20
        while current.targets[0].state != TargetState.HEALTHY:
            assert time.monotonic() < deadline, "the target never became healthy"
            controller.reconcile()
            time.sleep(0.2)
        assert points == []  # the first reading only opens the period
        statuses = [get(port, p) for p in ("/a", "/b", "/c", "/boom", "/boom")]
        assert statuses == [200, 200, 200, 500, 500]

        clock.advance(10)
        controller.reconcile()

        values = {p.metric: p.value for p in points}
        assert values["RequestCount"] == 5
        assert values["HTTPCode_Target_5XX_Count"] == 2
        assert values["RequestCountPerTarget"] == 5
        assert 0 <= values["TargetResponseTime"] < 5
        assert {p.timestamp for p in points} == {NOW}
        assert {dict(p.dimensions)["TargetGroup"] for p in points} == {web.arn.rsplit(":", 1)[1]}
        assert {dict(p.dimensions)["LoadBalancer"] for p in points} == {
            lb.arn.split(":loadbalancer/", 1)[1]
        }

        # A quiet period after it: zero requests, nothing carried over.
        points.clear()
        clock.advance(10)
        controller.reconcile()
        assert {p.metric: p.value for p in points}["RequestCount"] == 0
    finally:
        controller.stop()
        store.close()
