"""The data plane on a real HAProxy, with real HTTP backends in this process.

Every test runs its own HAProxy (state and sockets in temporary directories) and
stops it afterwards. Backends are small threaded HTTP servers on 127.0.0.1
ephemeral ports that answer with their own name and let a test fail their
health check. Health checks run every second, so waits are for "until it
happens, at most N seconds", never for a fixed time.
"""

from __future__ import annotations

import http.client
import http.server
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from openecs.controllers.load_balancer import LoadBalancerController
from openecs.domain.load_balancing import (
    HealthCheck,
    LoadBalancingSnapshot,
    Target,
    TargetGroup,
    TargetState,
)
from openecs.lb.data_plane import DataPlane, HealthUpdate
from openecs.lb.haproxy_config import ConfigSettings, backend_name
from openecs.lb.haproxy_process import HAProxyError
from openecs.platform.clock import SystemClock
from openecs.usecases.backend import Backend as Store
from tests.support.lb_snapshots import (
    fixed_response,
    forward,
    host,
    listener,
    load_balancer,
    path,
    redirect,
    rule,
    snapshot,
    target,
    target_group,
    weighted,
)
from tests.support.server import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HAPROXY = "/usr/sbin/haproxy"
FAST_CHECKS = HealthCheck(
    path="/health",
    interval_seconds=1,
    timeout_seconds=1,
    healthy_threshold=2,
    unhealthy_threshold=2,
)
WAIT = 20.0

if not os.access(HAPROXY, os.X_OK):
    pytest.skip("HAProxy is not installed (scripts/system-deps.sh)", allow_module_level=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --- backends -------------------------------------------------------------------------


class Backend:
    """An HTTP server answering `<name> <path>`; /health answers `health_status`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.health_status = 200
        self.hits: Counter[str] = Counter()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status = 200
                if self.path == "/health":
                    status = owner.health_status
                else:
                    owner.hits[self.path] += 1
                body = f"{owner.name} {self.path}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                # Health checks hang up as soon as they have the status line.
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> int:
        return sum(self.hits.values())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backends() -> Iterator[Callable[[str], Backend]]:
    started: list[Backend] = []

    def start(name: str) -> Backend:
        backend = Backend(name)
        started.append(backend)
        return backend

    yield start
    for backend in started:
        backend.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the data plane under test --------------------------------------------------------


class Harness:
    """A DataPlane and the snapshot it serves; health updates are applied to the
    snapshot the way record_target_health applies them to the store."""

    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self.snapshot = LoadBalancingSnapshot()
        self.now = time.time()

    async def apply(self) -> list[HealthUpdate]:
        updates = await self.plane.apply(self.snapshot, self.now)
        for group_arn, target_id, port, state, reason, description in updates:
            for t in self.snapshot.targets:
                if (t.target_group_arn, t.id, t.port) == (group_arn, target_id, port):
                    t.state, t.reason, t.description = state, reason, description
        return updates

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while True:
            await self.apply()
            if condition():
                return
            if time.monotonic() > deadline:
                states = [(t.port, t.state, t.reason) for t in self.snapshot.targets]
                raise AssertionError(f"not reached in {WAIT}s: {what}; targets {states}")
            time.sleep(0.2)

    async def all_healthy(self) -> None:
        await self.until(
            lambda: all(
                t.state == TargetState.HEALTHY
                for t in self.snapshot.targets
                if t.draining_until is None
            ),
            "every target healthy",
        )

    def target(self, port: int) -> Target:
        return next(t for t in self.snapshot.targets if t.port == port)

    async def worker_pid(self) -> int:
        return await self.plane.api.worker_pid()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    sockets = Path(tempfile.mkdtemp(prefix="lb-", dir="/tmp"))
    plane = DataPlane(
        ConfigSettings(state_dir=tmp_path / "haproxy", socket_dir=sockets, min_slots=4)
    )
    try:
        yield Harness(plane)
    finally:
        plane.stop()
        shutil.rmtree(sockets, ignore_errors=True)


def get(
    port: int, path: str = "/", headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        connection.close()


def group(name: str) -> TargetGroup:
    return target_group(name, health=replace(FAST_CHECKS))


# --- tests ----------------------------------------------------------------------------


async def test_path_and_host_rules_route_each_request_to_its_target_group(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    api_backend, admin_backend, site_backend = backends("api"), backends("admin"), backends("site")
    api, admin, site = group("api"), group("admin"), group("site")
    lb = load_balancer("web")
    port = free_port()
    front = listener(lb, port, forward(site))
    harness.snapshot = snapshot(
        [lb],
        [front],
        [api, admin, site],
        [
            rule(front, 10, [path("/api/*")], forward(api)),
            rule(front, 20, [host("admin.example.com")], forward(admin)),
            # Priority 5 answers first although HAProxy runs `http-request` rules earlier.
            rule(front, 5, [path("/api/teapot")], fixed_response("418", 'short "and" $tout 100%')),
            rule(front, 1, [path("/api/*"), host("admin.example.com")], forward(admin)),
            rule(front, 30, [path("/old/*")], redirect(Host="new.example.com", Path="/#{path}")),
        ],
        [
            target(api, api_backend.port),
            target(admin, admin_backend.port),
            target(site, site_backend.port),
        ],
    )
    await harness.all_healthy()

    assert get(port, "/api/users")[1] == "api /api/users"
    assert get(port, "/api/users", {"Host": "admin.example.com"})[1] == "admin /api/users"
    assert get(port, "/", {"Host": "ADMIN.example.com:8080"})[1] == "admin /"
    assert get(port, "/apix")[1] == "site /apix"
    assert get(port, "/", {"Host": "www.example.com"})[1] == "site /"
    status, body, _ = get(port, "/api/teapot")
    assert (status, body) == (418, 'short "and" $tout 100%')
    status, _, headers = get(port, "/old/page?a=1", {"Host": "old.example.com"})
    assert status == 301
    assert headers["location"] == f"http://new.example.com:{port}/old/page?a=1"


async def test_an_unhealthy_target_is_reported_unhealthy_and_gets_no_traffic(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    good, bad = backends("good"), backends("bad")
    web = group("web")
    lb = load_balancer()
    port = free_port()
    harness.snapshot = snapshot(
        [lb],
        [listener(lb, port, forward(web))],
        [web],
        [],
        [target(web, good.port), target(web, bad.port)],
    )
    await harness.all_healthy()

    bad.health_status = 500
    await harness.until(
        lambda: harness.target(bad.port).state == TargetState.UNHEALTHY, "bad target unhealthy"
    )
    assert harness.target(bad.port).reason == "Target.ResponseCodeMismatch"
    assert harness.target(bad.port).description == "Health checks failed with these codes: [500]"
    assert harness.target(good.port).state == TargetState.HEALTHY

    before = bad.requests
    answers = Counter(get(port, "/spread")[1] for _ in range(20))
    assert answers == Counter({"good /spread": 20})
    assert bad.requests == before

    bad.close()
    await harness.until(
        lambda: harness.target(bad.port).reason == "Target.FailedHealthChecks",
        "closed port reported as failed health checks",
    )


async def test_targets_come_and_go_through_the_runtime_api_without_a_reload(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    first, second = backends("first"), backends("second")
    web = group("web")
    lb = load_balancer()
    port = free_port()
    harness.snapshot = snapshot(
        [lb], [listener(lb, port, forward(web))], [web], [], [target(web, first.port)]
    )
    await harness.all_healthy()
    master, worker = harness.plane.process.master_pid, await harness.worker_pid()

    harness.snapshot.targets.append(target(web, second.port))
    await harness.apply()
    # Registered, not yet checked: initial, and no traffic for it yet.
    assert harness.target(second.port).state == TargetState.INITIAL
    await harness.all_healthy()
    seen = {get(port, "/x")[1].split()[0] for _ in range(10)}
    assert seen == {"first", "second"}

    harness.snapshot.targets = [t for t in harness.snapshot.targets if t.port != first.port]
    await harness.apply()
    seen = Counter(get(port, "/y")[1].split()[0] for _ in range(6))
    assert seen == Counter({"second": 6})

    assert harness.plane.process.reloads == 0
    assert harness.plane.process.master_pid == master
    assert await harness.worker_pid() == worker


async def test_more_targets_than_slots_grow_the_pool_with_one_reload(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    servers = [backends(f"b{i}") for i in range(6)]
    web = group("web")
    lb = load_balancer()
    port = free_port()
    harness.snapshot = snapshot(
        [lb],
        [listener(lb, port, forward(web))],
        [web],
        [],
        [target(web, s.port) for s in servers[:4]],
    )
    await harness.all_healthy()
    harness.snapshot.targets.extend(target(web, s.port) for s in servers[4:])
    await harness.all_healthy()

    assert harness.plane.process.reloads == 1
    seen = {get(port, "/z")[1].split()[0] for _ in range(24)}
    assert seen == {f"b{i}" for i in range(6)}
    config = (harness.plane.settings.state_dir / "haproxy.cfg").read_text()
    assert f"backend {backend_name(web)}" in config
    assert "server-template t 1-8 " in config


async def test_a_weighted_forward_splits_requests_by_weight(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    blue_backend, green_backend = backends("blue"), backends("green")
    blue, green = group("blue"), group("green")
    lb = load_balancer()
    port = free_port()
    harness.snapshot = snapshot(
        [lb],
        [listener(lb, port, weighted((blue, 70), (green, 30)))],
        [blue, green],
        [],
        [target(blue, blue_backend.port), target(green, green_backend.port)],
    )
    await harness.all_healthy()

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answers: Counter[str] = Counter()
    for _ in range(1000):
        connection.request("GET", "/w")
        answers[connection.getresponse().read().decode().split()[0]] += 1
    connection.close()
    # 1000 draws at p=0.3: the standard deviation is 14.5, the band is ±5.5 of them.
    assert answers["blue"] + answers["green"] == 1000
    assert 220 <= answers["green"] <= 380


async def test_a_deregistered_target_drains_then_frees_its_slot(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    stay, leave = backends("stay"), backends("leave")
    web = group("web")
    lb = load_balancer()
    port = free_port()
    harness.snapshot = snapshot(
        [lb],
        [listener(lb, port, forward(web))],
        [web],
        [],
        [target(web, stay.port), target(web, leave.port)],
    )
    await harness.all_healthy()

    harness.target(leave.port).draining_until = harness.now + 300
    await harness.apply()
    leaving = harness.target(leave.port)
    assert (leaving.state, leaving.reason) == (
        TargetState.DRAINING,
        "Target.DeregistrationInProgress",
    )
    servers, _ = await harness.plane.api.servers()
    slot = next(v for v in servers.values() if v.port == leave.port)
    assert slot.draining and not slot.in_maintenance
    before = leave.requests
    assert Counter(get(port, "/d")[1].split()[0] for _ in range(6)) == Counter({"stay": 6})
    assert leave.requests == before

    harness.now += 301
    await harness.apply()
    servers, _ = await harness.plane.api.servers()
    slot = next(v for v in servers.values() if v.port == leave.port)
    assert slot.in_maintenance
    assert harness.plane.process.reloads == 0


async def test_a_killed_haproxy_is_restarted_and_brought_back_in_step(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    first, second = backends("first"), backends("second")
    web = group("web")
    lb = load_balancer()
    port = free_port()
    harness.snapshot = snapshot(
        [lb], [listener(lb, port, forward(web))], [web], [], [target(web, first.port)]
    )
    await harness.all_healthy()
    master = harness.plane.process.master_pid
    assert master is not None

    os.kill(master, signal.SIGKILL)
    deadline = time.monotonic() + WAIT
    while harness.plane.process.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    # A target registered while HAProxy was down is placed once it is back.
    harness.snapshot.targets.append(target(web, second.port))
    await harness.all_healthy()

    assert harness.plane.process.starts == 2
    assert harness.plane.process.master_pid != master
    seen = {get(port, "/k")[1].split()[0] for _ in range(8)}
    assert seen == {"first", "second"}


def test_the_controller_step_serves_the_snapshot_records_health_and_stops_haproxy(
    tmp_path: Path, backends: Callable[[str], Backend]
) -> None:
    web_backend = backends("web")
    web = group("web")
    lb = load_balancer()
    port = free_port()
    served = snapshot(
        [lb], [listener(lb, port, forward(web))], [web], [], [target(web, web_backend.port)]
    )
    current = LoadBalancingSnapshot()
    recorded: list[HealthUpdate] = []

    def record(store: Store, updates: list[HealthUpdate]) -> int:
        recorded.extend(updates)
        for group_arn, target_id, target_port, state, reason, description in updates:
            for t in current.targets:
                if (t.target_group_arn, t.id, t.port) == (group_arn, target_id, target_port):
                    t.state, t.reason, t.description = state, reason, description
        return len(updates)

    store = Store.open(f"sqlite:///{tmp_path / 'openecs.db'}", SystemClock())
    controller = LoadBalancerController(
        store, lambda _: current, record, state_dir=tmp_path / ("a-rather-long-data-directory" * 2)
    )
    try:
        # No listener: no HAProxy.
        assert controller.reconcile() == 0
        assert not controller.plane.process.running()

        current = served
        deadline = time.monotonic() + WAIT
        while current.targets[0].state != TargetState.HEALTHY:
            assert time.monotonic() < deadline, recorded
            controller.reconcile()
            time.sleep(0.2)
        assert [u[3] for u in recorded] == ["initial", "healthy"]
        assert get(port, "/c")[1] == "web /c"

        controller.stop()
        assert not controller.plane.process.running()
        assert controller.reconcile() == 0
        assert not controller.plane.process.running()
    finally:
        controller.stop()
        store.close()


def test_the_elbv2_api_drives_haproxy_through_the_server(
    fresh_server: ServerProcess, backends: Callable[[str], Backend]
) -> None:
    app = backends("app")
    elbv2 = fresh_server.start(timeout=120).client("elbv2")
    group_arn = elbv2.create_target_group(
        Name="app",
        Protocol="HTTP",
        Port=80,
        VpcId="vpc-1",
        TargetType="ip",
        HealthCheckPath="/health",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=group_arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}],
    )
    lb_arn = elbv2.create_load_balancer(Name="front", Subnets=["subnet-a", "subnet-b"])[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    port = free_port()
    elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )
    elbv2.register_targets(
        TargetGroupArn=group_arn, Targets=[{"Id": "127.0.0.1", "Port": app.port}]
    )

    def health() -> list[dict[str, Any]]:
        found = elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
        return [d["TargetHealth"] for d in found]

    def diagnosis() -> str:
        haproxy_log = fresh_server.data_dir / "haproxy" / "haproxy.log"
        tail = haproxy_log.read_text()[-2000:] if haproxy_log.exists() else "no haproxy.log"
        return f"{health()}\n{fresh_server.log_tail()}\n{tail}"

    deadline = time.monotonic() + 60
    while health() != [{"State": "healthy"}]:
        assert time.monotonic() < deadline, diagnosis()
        time.sleep(0.5)
    assert get(port, "/hello")[:2] == (200, "app /hello")
    config = (fresh_server.data_dir / "haproxy" / "haproxy.cfg").read_text()
    assert f"bind 127.0.0.1:{port}" in config

    elbv2.deregister_targets(
        TargetGroupArn=group_arn, Targets=[{"Id": "127.0.0.1", "Port": app.port}]
    )
    deadline = time.monotonic() + 30
    while get(port, "/gone")[0] != 503:
        assert time.monotonic() < deadline, diagnosis()
        time.sleep(0.5)
    before = app.requests
    assert [get(port, "/gone")[0] for _ in range(3)] == [503, 503, 503]
    assert app.requests == before


async def test_a_port_another_process_holds_is_left_out_and_the_rest_is_served(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    web_backend = backends("web")
    web = group("web")
    lb = load_balancer()
    free, held = free_port(), socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    try:
        taken = listener(lb, held.getsockname()[1], forward(web))
        harness.snapshot = snapshot(
            [lb],
            [listener(lb, free, forward(web)), taken],
            [web],
            [],
            [target(web, web_backend.port)],
        )
        await harness.all_healthy()
        assert get(free, "/ok")[1] == "web /ok"
        config = (harness.plane.settings.state_dir / "haproxy.cfg").read_text()
        why = f"cannot bind 127.0.0.1:{taken.port}: Address already in use"
        assert f"# listener {taken.arn} not bound: {why}" in config
    finally:
        held.close()
    # Once the port is free the listener is bound (one reload).
    await harness.apply()
    assert get(taken.port, "/now")[1] == "web /now"
    assert harness.plane.process.reloads == 1


async def test_a_configuration_haproxy_refuses_leaves_the_running_one_serving(
    harness: Harness, backends: Callable[[str], Backend]
) -> None:
    web_backend = backends("web")
    web = group("web")
    lb = load_balancer()
    port = free_port()
    harness.snapshot = snapshot(
        [lb], [listener(lb, port, forward(web))], [web], [], [target(web, web_backend.port)]
    )
    await harness.all_healthy()
    process = harness.plane.process
    good = process.config_path.read_text()
    broken = good + "\nbackend broken\n    balance no-such-algorithm\n"

    with pytest.raises(HAProxyError, match="refused the configuration"):
        await process.ensure(broken)
    # Reported once, then left alone: no retry on every pass.
    assert await process.ensure(broken) == "unchanged"
    assert process.config_path.read_text() == good
    assert get(port, "/still")[1] == "web /still"
    assert process.reloads == 0
