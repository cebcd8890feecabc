"""The task runner's state machine on the in-memory runtime and a fake clock.

Each test drives one TaskRunner the way the agent does: the runner's `run()` in
a task of its own, the runtime's container events pumped into `on_event`, and
every report it publishes recorded. Containers are told what to do through
FakeRuntime's test controls (exit, set_health, fail_pull...).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from openecs.agent import labels as L
from openecs.agent.container_runtime import (
    ContainerEvent,
    ContainerSpec,
    ContainerState,
    ContainerStatus,
    EventAction,
    HealthStatus,
    RegistryAuth,
)
from openecs.agent.container_specs import TaskContext
from openecs.agent.fake_runtime import FakeRuntime
from openecs.agent.log_shipper import LogLine, LogsApiError, LogsClientPool
from openecs.agent.task_runner import PAUSE_CONTAINER_NAME, LogShipping, TaskRunner
from openecs.platform.clock import FakeClock

pytestmark = pytest.mark.anyio

IMAGE = "app:1"
PAUSE_IMAGE = "openecs/pause:1"
AWSVPC = "openecs-awsvpc"
AGENT_ID = "agent-1"
T0 = 1_764_115_200.0
TASK_ID = "0123456789abcdef0123456789abcdef"
TASK_ARN = f"arn:aws:ecs:us-east-1:000000000000:task/c1/{TASK_ID}"
PULL_SECONDS = 3.0


class RecordingRuntime(FakeRuntime):
    """FakeRuntime that takes PULL_SECONDS of fake time per pull and records stops."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, images=[PAUSE_IMAGE])
        self.fake_clock = clock
        self.stops: list[str] = []
        self.creates: list[str] = []
        self.created_when_pulled: list[str] = []

    async def pull(self, image: str, *, auth: RegistryAuth | None = None) -> None:
        self.created_when_pulled = list(self.creates)
        self.fake_clock.advance(PULL_SECONDS)
        await super().pull(image, auth=auth)

    async def create(self, spec: ContainerSpec) -> str:
        self.creates.append(spec.name)
        return await super().create(spec)

    async def stop(self, container: str, *, timeout: int | None = None) -> None:
        self.stops.append((await self.inspect(container)).labels[L.CONTAINER_NAME])
        await super().stop(container, timeout=timeout)


def container(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "essential": True, **fields}


def task(
    *containers: dict[str, Any],
    network_mode: str = "bridge",
    desired_status: str = "RUNNING",
    last_status: str = "PROVISIONING",
) -> dict[str, Any]:
    return {
        "taskArn": TASK_ARN,
        "taskId": TASK_ID,
        "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c1",
        "desiredStatus": desired_status,
        "lastStatus": last_status,
        "networkMode": network_mode,
        "taskDefinition": {
            "family": "web",
            "revision": 1,
            "networkMode": network_mode,
            "containerDefinitions": list(containers),
        },
        "containers": [
            {"name": c["name"], "containerArn": f"arn:container/{c['name']}"} for c in containers
        ],
    }


def context(network_mode: str = "bridge", **fields: Any) -> TaskContext:
    return TaskContext(
        task_arn=TASK_ARN,
        task_id=TASK_ID,
        cluster="c1",
        family="web",
        revision="1",
        agent_id=AGENT_ID,
        network_mode=network_mode,
        host_ip="127.0.0.1",
        metadata_uri=f"http://169.254.170.2:51678/v4/{TASK_ID}",
        **fields,
    )


def docker_name(name: str) -> str:
    return context().container_name(name)


@dataclass
class RecordingCgroups:
    """TaskLimits that hands out a parent (or refuses to) and remembers the calls."""

    usable: bool = True
    created: list[tuple[str, int, int]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def create(self, task_id: str, *, cpu_units: int, memory_mib: int) -> str | None:
        self.created.append((task_id, cpu_units, memory_mib))
        return f"/openecs/{task_id}" if self.usable else None

    def remove(self, task_id: str) -> bool:
        self.removed.append(task_id)
        return True


class Harness:
    """One runner at a time on a shared runtime: a restart is a new runner, and
    like a restarted agent it sees only the events from its start on."""

    def __init__(self, runtime: RecordingRuntime, clock: FakeClock) -> None:
        self.runtime = runtime
        self.clock = clock
        self.reports: list[dict[str, Any]] = []
        self.events: list[ContainerEvent] = []
        self.runner: TaskRunner | None = None
        self.run_task: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None

    def _listen(self) -> None:
        events = self.runtime.events(labels={L.AGENT: AGENT_ID})
        self._pump = asyncio.create_task(self._forward(events))

    async def _forward(self, events: AsyncIterator[ContainerEvent]) -> None:
        async for event in events:
            self.events.append(event)
            if self.runner is not None:
                await self.runner.on_event(event)

    def start(
        self,
        desired: Mapping[str, Any],
        *,
        ctx: TaskContext | None = None,
        adopted: Mapping[str, str] | None = None,
        cgroups: RecordingCgroups | None = None,
        log_shipping: LogShipping | None = None,
        known_images: set[str] | None = None,
    ) -> TaskRunner:
        mode = str(desired["networkMode"])
        self._listen()
        self.runner = TaskRunner(
            desired,
            ctx or context(mode),
            self.runtime,
            self.reports.append,
            self.clock,
            pause_image=PAUSE_IMAGE,
            awsvpc_network=AWSVPC,
            adopted=adopted,
            cgroups=cgroups,
            log_shipping=log_shipping,
            known_images=known_images,
        )
        self.run_task = asyncio.create_task(self.runner.run())
        return self.runner

    async def kill_agent(self) -> None:
        """The agent dies: its runner stops mid-flight, the containers carry on."""
        assert self.run_task is not None
        self.run_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.run_task
        self.runner = None
        await self._stop_listening()

    async def _stop_listening(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None

    async def adoptable(self) -> dict[str, str]:
        """What a restarted agent finds by labels: container name → id."""
        found = await self.runtime.list_by_labels({L.AGENT: AGENT_ID, L.TASK_ARN: TASK_ARN})
        return {c.labels[L.CONTAINER_NAME]: c.id for c in found}

    @property
    def last(self) -> dict[str, Any]:
        return self.reports[-1]

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.last["containers"] if c["name"] == name)

    def statuses(self) -> list[str]:
        seen: list[str] = []
        for report in self.reports:
            if not seen or seen[-1] != report["lastStatus"]:
                seen.append(report["lastStatus"])
        return seen

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    await asyncio.sleep(0.001)
        except TimeoutError:
            last = self.reports[-1:]
            raise AssertionError(f"timed out waiting for {what}; last report {last}") from None

    async def until_status(self, status: str) -> None:
        await self.until(lambda: bool(self.reports) and self.last["lastStatus"] == status, status)

    async def until_container(self, name: str, status: str) -> None:
        await self.until(
            lambda: bool(self.reports) and self.container(name)["lastStatus"] == status,
            f"{name} {status}",
        )

    async def settle(self) -> None:
        """Let every ready coroutine run (to show that something did not happen)."""
        for _ in range(50):
            await asyncio.sleep(0)

    async def close(self) -> None:
        if self.run_task is not None and not self.run_task.done():
            self.run_task.cancel()
            await asyncio.gather(self.run_task, return_exceptions=True)
        await self._stop_listening()
        await self.runtime.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=T0)


@pytest.fixture
async def harness(clock: FakeClock) -> AsyncIterator[Harness]:
    runtime = RecordingRuntime(clock)
    await runtime.create_network(AWSVPC)
    h = Harness(runtime, clock)
    yield h
    await h.close()


async def running(h: Harness, desired: Mapping[str, Any], **kwargs: Any) -> TaskRunner:
    runner = h.start(desired, **kwargs)
    await h.until_status("RUNNING")
    return runner


# -- lifecycle ---------------------------------------------------------------------


async def test_task_moves_through_every_status_with_its_timestamps(
    harness: Harness, clock: FakeClock
) -> None:
    runner = await running(harness, task(container("web", stopTimeout=5)))
    assert harness.runtime.pulls == [IMAGE]
    assert harness.statuses() == ["PENDING", "ACTIVATING", "RUNNING"]
    up = harness.last
    assert up["pullStartedAt"] == T0
    assert up["pullStoppedAt"] == T0 + PULL_SECONDS
    assert up["startedAt"] == T0 + PULL_SECONDS
    assert up["executionStoppedAt"] is None
    web = harness.container("web")
    assert web["lastStatus"] == "RUNNING"
    assert web["runtimeId"] == (await harness.runtime.inspect(docker_name("web"))).id

    clock.advance(10)
    runner.request_stop("UserInitiated", "Task stopped by user")
    await harness.until_status("STOPPED")
    assert harness.statuses() == [
        "PENDING",
        "ACTIVATING",
        "RUNNING",
        "DEACTIVATING",
        "STOPPING",
        "DEPROVISIONING",
        "STOPPED",
    ]
    down = harness.last
    assert down["executionStoppedAt"] == T0 + PULL_SECONDS + 10
    assert (down["stopCode"], down["stoppedReason"]) == ("UserInitiated", "Task stopped by user")
    assert harness.container("web")["lastStatus"] == "STOPPED"
    assert harness.container("web")["exitCode"] == 143  # SIGTERM
    assert harness.runtime.signals_received(docker_name("web")) == ["SIGTERM"]


async def test_a_container_that_ignores_sigterm_is_killed(harness: Harness) -> None:
    runner = await running(harness, task(container("web", stopTimeout=2)))
    harness.runtime.set_sigterm_exit(docker_name("web"), None)
    runner.request_stop("UserInitiated", "bye")
    await harness.until_status("STOPPED")
    assert harness.runtime.signals_received(docker_name("web")) == ["SIGTERM", "SIGKILL"]
    assert harness.container("web")["exitCode"] == 137


async def test_the_first_stop_reason_stays(harness: Harness) -> None:
    runner = await running(harness, task(container("web")))
    runner.request_stop("UserInitiated", "first")
    runner.request_stop("ServiceSchedulerInitiated", "second")
    await harness.until_status("STOPPED")
    assert (harness.last["stopCode"], harness.last["stoppedReason"]) == ("UserInitiated", "first")


async def test_a_task_wanted_stopped_before_it_started_creates_nothing(
    harness: Harness,
) -> None:
    harness.start(task(container("web"), desired_status="STOPPED"))
    await harness.until_status("STOPPED")
    assert harness.runtime.creates == []
    assert "RUNNING" not in harness.statuses()


# -- essential containers ----------------------------------------------------------


async def test_a_non_essential_exit_leaves_the_task_running(harness: Harness) -> None:
    runner = await running(harness, task(container("web"), container("side", essential=False)))
    harness.runtime.exit(docker_name("side"), 3)
    await harness.until_container("side", "STOPPED")
    assert harness.container("side")["exitCode"] == 3
    assert not runner.stopping
    assert harness.last["lastStatus"] == "RUNNING"
    assert harness.container("web")["lastStatus"] == "RUNNING"


async def test_an_essential_exit_stops_the_task(harness: Harness) -> None:
    await running(harness, task(container("web"), container("side", essential=False)))
    harness.runtime.exit(docker_name("web"), 5)
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "EssentialContainerExited"
    assert harness.last["stoppedReason"] == "Essential container in task exited"
    assert harness.container("web")["exitCode"] == 5
    # The rest of the task is stopped with it.
    assert harness.container("side")["lastStatus"] == "STOPPED"
    assert harness.runtime.signals_received(docker_name("side")) == ["SIGTERM"]


async def test_an_oom_kill_is_the_containers_reason(harness: Harness) -> None:
    await running(harness, task(container("web")))
    harness.runtime.exit(docker_name("web"), 137, oom_killed=True)
    await harness.until_status("STOPPED")
    assert harness.container("web")["reason"] == (
        "OutOfMemoryError: Container killed due to memory usage"
    )


class StaleInspectRuntime(RecordingRuntime):
    """`side` exits the moment it starts, and the inspect that follows answers with
    what it saw before the exit (after the exit's event has been handled)."""

    _stale: ContainerState | None = None

    async def start(self, container: str) -> None:
        await super().start(container)
        if container == self._side_id():
            self._stale = await super().inspect(container)
            self.exit(container, 9)

    def _side_id(self) -> str | None:
        found = [c for c in self._containers.values() if c.spec.name == docker_name("side")]
        return found[0].id if found else None

    async def inspect(self, container: str) -> ContainerState:
        stale = self._stale
        if stale is not None and container in (stale.id, stale.name):
            self._stale = None
            for _ in range(20):
                await asyncio.sleep(0)  # the die event is handled meanwhile
            return stale
        return await super().inspect(container)


async def test_a_late_inspect_never_brings_an_exited_container_back(clock: FakeClock) -> None:
    runtime = StaleInspectRuntime(clock)
    h = Harness(runtime, clock)
    try:
        h.start(task(container("web"), container("side", essential=False)))
        await h.until_status("RUNNING")
        assert h.container("side")["lastStatus"] == "STOPPED"
        assert h.container("side")["exitCode"] == 9
    finally:
        await h.close()


# -- dependsOn ---------------------------------------------------------------------


def _index(h: Harness, action: EventAction, name: str) -> int:
    for i, event in enumerate(h.events):
        if event.action is action and event.labels.get(L.CONTAINER_NAME) == name:
            return i
    raise AssertionError(f"no {action} event for {name}")


async def test_start_dependency_is_started_first(harness: Harness) -> None:
    await running(
        harness,
        task(
            container("app", dependsOn=[{"containerName": "db", "condition": "START"}]),
            container("db"),
        ),
    )
    assert _index(harness, EventAction.START, "db") < _index(harness, EventAction.CREATE, "app")


async def test_complete_dependency_waits_for_any_exit(harness: Harness) -> None:
    harness.start(
        task(
            container("init", essential=False),
            container("app", dependsOn=[{"containerName": "init", "condition": "COMPLETE"}]),
        )
    )
    await harness.until_container("init", "RUNNING")
    await harness.settle()
    assert docker_name("app") not in harness.runtime.creates
    harness.runtime.exit(docker_name("init"), 1)
    await harness.until_status("RUNNING")
    assert harness.container("app")["lastStatus"] == "RUNNING"
    assert harness.container("init")["exitCode"] == 1


async def test_success_dependency_waits_for_exit_zero(harness: Harness) -> None:
    harness.start(
        task(
            container("init", essential=False),
            container("app", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
        )
    )
    await harness.until_container("init", "RUNNING")
    await harness.settle()
    assert docker_name("app") not in harness.runtime.creates
    harness.runtime.exit(docker_name("init"), 0)
    await harness.until_status("RUNNING")
    assert harness.container("app")["lastStatus"] == "RUNNING"


async def test_success_dependency_that_fails_stops_the_task_before_its_dependent_starts(
    harness: Harness,
) -> None:
    harness.start(
        task(
            container("init", essential=False),
            container("app", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
        )
    )
    await harness.until_container("init", "RUNNING")
    harness.runtime.exit(docker_name("init"), 2)
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "TaskFailedToStart"
    assert "init exited with code 2" in harness.last["stoppedReason"]
    assert docker_name("app") not in harness.runtime.creates
    assert "RUNNING" not in harness.statuses()


HEALTH = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1}


async def test_healthy_dependency_waits_for_healthy(harness: Harness) -> None:
    harness.start(
        task(
            container("db", healthCheck=HEALTH),
            container("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        )
    )
    await harness.until_container("db", "RUNNING")
    await harness.settle()
    assert docker_name("app") not in harness.runtime.creates
    harness.runtime.set_health(docker_name("db"), HealthStatus.HEALTHY)
    await harness.until_status("RUNNING")
    assert harness.container("db")["healthStatus"] == "HEALTHY"
    assert harness.container("app")["lastStatus"] == "RUNNING"


async def test_a_resync_reads_back_a_health_verdict_whose_event_was_lost(
    harness: Harness,
) -> None:
    runner = await running(harness, task(container("web", healthCheck=HEALTH)))
    harness.runtime.set_health(docker_name("web"), HealthStatus.HEALTHY, announce=False)
    await harness.settle()
    assert harness.container("web")["healthStatus"] == "UNKNOWN"
    await runner.resync()
    await harness.settle()
    assert harness.container("web")["healthStatus"] == "HEALTHY"


async def test_a_resync_stops_the_task_of_an_essential_container_gone_unseen(
    harness: Harness,
) -> None:
    runner = await running(harness, task(container("web")))
    await harness.kill_agent()  # no events reach the runner meanwhile
    await harness.runtime.remove(docker_name("web"), force=True)
    await runner.resync()
    await asyncio.wait_for(runner.run(), 10)
    assert harness.last["lastStatus"] == "STOPPED"
    assert harness.last["stopCode"] == "EssentialContainerExited"


async def test_unhealthy_dependency_stops_the_task_before_its_dependent_starts(
    harness: Harness,
) -> None:
    harness.start(
        task(
            container("db", healthCheck=HEALTH),
            container("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        )
    )
    await harness.until_container("db", "RUNNING")
    harness.runtime.set_health(docker_name("db"), HealthStatus.UNHEALTHY)
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "TaskFailedToStart"
    assert "db is unhealthy" in harness.last["stoppedReason"]
    assert harness.container("db")["healthStatus"] == "UNHEALTHY"
    assert docker_name("app") not in harness.runtime.creates


async def test_a_stop_while_waiting_for_a_dependency_starts_nothing_more(
    harness: Harness,
) -> None:
    runner = harness.start(
        task(
            container("db", healthCheck=HEALTH),
            container("app", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        )
    )
    await harness.until_container("db", "RUNNING")
    runner.request_stop("UserInitiated", "changed my mind")
    await harness.until_status("STOPPED")
    assert docker_name("app") not in harness.runtime.creates
    assert harness.container("app")["lastStatus"] == "STOPPED"


async def test_containers_stop_in_reverse_dependency_waves(harness: Harness) -> None:
    runner = await running(
        harness,
        task(
            container("proxy", dependsOn=[{"containerName": "app", "condition": "START"}]),
            container(
                "app",
                dependsOn=[
                    {"containerName": "db", "condition": "START"},
                    {"containerName": "cache", "condition": "START"},
                ],
            ),
            container("db"),
            container("cache"),
        ),
    )
    runner.request_stop("UserInitiated", "bye")
    await harness.until_status("STOPPED")
    stops = harness.runtime.stops
    assert stops[:2] == ["proxy", "app"]
    assert sorted(stops[2:4]) == ["cache", "db"]


# -- failures to start ----------------------------------------------------------------


async def test_a_failed_pull_stops_the_task_with_cannot_pull_container_error(
    harness: Harness,
) -> None:
    harness.runtime.fail_pull("missing:1", "manifest unknown")
    harness.start(task(container("web", image="missing:1")))
    await harness.until_status("STOPPED")
    report = harness.last
    assert report["stopCode"] == "TaskFailedToStart"
    assert report["stoppedReason"].startswith("CannotPullContainerError:")
    assert "manifest unknown" in report["stoppedReason"]
    assert harness.container("web")["reason"] == report["stoppedReason"]
    assert report["pullStartedAt"] == T0
    assert report["pullStoppedAt"] == T0 + PULL_SECONDS
    assert harness.runtime.creates == []
    assert "RUNNING" not in harness.statuses()


async def test_an_image_is_checked_once_then_known_to_the_agent(harness: Harness) -> None:
    harness.runtime.add_image(IMAGE)
    known: set[str] = set()
    await running(harness, task(container("web")), known_images=known)
    assert harness.runtime.image_checks == [IMAGE]
    assert known == {IMAGE}
    assert harness.runtime.pulls == []


async def test_a_known_image_is_not_checked_before_the_start(harness: Harness) -> None:
    harness.runtime.add_image(IMAGE)
    await running(harness, task(container("web")), known_images={IMAGE})
    assert harness.runtime.image_checks == []
    assert harness.runtime.pulls == []
    assert harness.last["pullStartedAt"] == harness.last["pullStoppedAt"] == T0


async def test_a_known_image_removed_from_the_engine_is_pulled_when_the_create_misses_it(
    harness: Harness,
) -> None:
    known = {IMAGE}
    await running(harness, task(container("web")), known_images=known)
    assert harness.runtime.pulls == [IMAGE]
    assert harness.runtime.creates == [docker_name("web"), docker_name("web")]
    assert known == {IMAGE}


async def test_a_known_image_removed_from_the_engine_that_cannot_be_pulled_fails_the_task(
    harness: Harness,
) -> None:
    harness.runtime.fail_pull(IMAGE, "manifest unknown")
    known = {IMAGE}
    harness.start(task(container("web")), known_images=known)
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "TaskFailedToStart"
    assert harness.last["stoppedReason"].startswith("CannotPullContainerError:")
    assert "manifest unknown" in harness.last["stoppedReason"]
    assert known == set()
    assert "RUNNING" not in harness.statuses()


async def test_a_failed_start_stops_the_task_with_cannot_start_container_error(
    harness: Harness,
) -> None:
    harness.runtime.add_image(IMAGE)
    harness.runtime.fail_start(docker_name("web"), "exec: sh: not found")
    harness.start(task(container("web")))
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "TaskFailedToStart"
    assert harness.last["stoppedReason"] == "CannotStartContainerError: exec: sh: not found"


# -- awsvpc and task-level limits ------------------------------------------------------


async def test_awsvpc_containers_share_the_pause_containers_namespace_and_ports(
    harness: Harness,
) -> None:
    await running(
        harness,
        task(
            container("web", portMappings=[{"containerPort": 8080, "hostPort": 8080}]),
            network_mode="awsvpc",
        ),
    )
    pause = await harness.runtime.inspect(docker_name("internalecspause"))
    web = harness.runtime.spec_of(docker_name("web"))
    assert web.network_mode == f"container:{pause.id}"
    assert web.ports == ()
    [published] = pause.ports
    assert published.container_port == 8080
    binding = harness.container("web")["networkBindings"]
    assert binding == [
        {
            "bindIP": "127.0.0.1",
            "containerPort": 8080,
            "hostPort": published.host_port,
            "protocol": "tcp",
        }
    ]
    ip = pause.ip_addresses[AWSVPC]
    assert harness.last["eni"] == {"privateIPv4Address": ip}
    assert harness.container("web")["networkInterfaces"][0]["privateIpv4Address"] == ip


async def test_an_awsvpc_tasks_network_is_set_up_while_its_image_is_pulled(
    harness: Harness,
) -> None:
    # The image is missing: the pull (PULL_SECONDS of fake time) runs beside the pause
    # container's start, as Fargate attaches a task's ENI before pulling.
    await running(harness, task(container("web"), network_mode="awsvpc"))
    assert harness.runtime.created_when_pulled == [docker_name("internalecspause")]
    assert harness.last["pullStoppedAt"] == T0 + PULL_SECONDS
    assert harness.statuses().index("PENDING") < harness.statuses().index("ACTIVATING")


async def test_a_failed_pull_of_an_awsvpc_task_removes_its_network_and_says_why(
    harness: Harness,
) -> None:
    harness.runtime.fail_pull("missing:1", "manifest unknown")
    harness.start(task(container("web", image="missing:1"), network_mode="awsvpc"))
    await harness.until_status("STOPPED")
    assert harness.last["stoppedReason"].startswith("CannotPullContainerError:")
    assert harness.runtime.creates == [docker_name("internalecspause")]
    assert harness.runtime.stops == [PAUSE_CONTAINER_NAME]
    assert "RUNNING" not in harness.statuses()


async def test_an_awsvpc_task_whose_pause_container_exits_is_stopped(harness: Harness) -> None:
    await running(harness, task(container("web"), network_mode="awsvpc"))
    await harness.runtime.kill(docker_name("internalecspause"))
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "EssentialContainerExited"
    assert "pause container exited" in harness.last["stoppedReason"]
    assert harness.container("web")["lastStatus"] == "STOPPED"


async def test_task_limits_go_on_the_task_cgroup_and_it_is_released(harness: Harness) -> None:
    cgroups = RecordingCgroups()
    runner = await running(
        harness,
        task(container("web"), network_mode="awsvpc"),
        ctx=context("awsvpc", task_cpu=256, task_memory=512),
        cgroups=cgroups,
    )
    assert cgroups.created == [(TASK_ID, 256, 512)]
    for name in ("web", "internalecspause"):
        spec = harness.runtime.spec_of(docker_name(name))
        assert spec.cgroup_parent == f"/openecs/{TASK_ID}"
        assert spec.nano_cpus is None
    web = harness.runtime.spec_of(docker_name("web"))
    assert web.memory_bytes is None  # the task's cgroup holds it
    assert cgroups.removed == []
    runner.request_stop("UserInitiated", "bye")
    await harness.until_status("STOPPED")
    assert cgroups.removed == [TASK_ID]


async def test_without_a_task_cgroup_each_container_gets_the_task_limits(
    harness: Harness,
) -> None:
    cgroups = RecordingCgroups(usable=False)
    await running(
        harness,
        task(container("web"), container("side", memory=128), network_mode="awsvpc"),
        ctx=context("awsvpc", task_cpu=512, task_memory=1024),
        cgroups=cgroups,
    )
    web = harness.runtime.spec_of(docker_name("web"))
    side = harness.runtime.spec_of(docker_name("side"))
    assert web.cgroup_parent is None
    assert web.memory_bytes == 1024 * 1024 * 1024
    assert side.memory_bytes == 128 * 1024 * 1024
    assert web.nano_cpus == side.nano_cpus == 500_000_000


async def test_a_task_without_a_task_size_gets_no_cgroup(harness: Harness) -> None:
    cgroups = RecordingCgroups()
    await running(harness, task(container("web")), cgroups=cgroups)
    assert cgroups.created == []
    assert harness.runtime.spec_of(docker_name("web")).cgroup_parent is None


# -- adoption after an agent restart ---------------------------------------------------


async def test_restarted_runner_adopts_running_containers_without_creating_any(
    harness: Harness,
) -> None:
    desired = task(container("web"), container("side", essential=False), network_mode="awsvpc")
    await running(harness, desired)
    before = await harness.adoptable()
    ids = {c["name"]: c["runtimeId"] for c in harness.last["containers"]}
    bindings = harness.container("web")["networkBindings"]
    await harness.kill_agent()
    harness.runtime.creates.clear()
    harness.reports.clear()

    runner = await running(harness, {**desired, "lastStatus": "RUNNING"}, adopted=before)
    assert harness.runtime.creates == []
    assert await harness.adoptable() == before
    assert {c["name"]: c["runtimeId"] for c in harness.last["containers"]} == ids
    assert harness.container("web")["networkBindings"] == bindings
    assert PAUSE_CONTAINER_NAME in before
    assert runner.pause_id == before[PAUSE_CONTAINER_NAME]
    # Supervision carries on: the adopted essential container's exit stops the task.
    harness.runtime.exit(docker_name("web"), 4)
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "EssentialContainerExited"


async def test_a_container_that_exited_while_the_agent_was_away_stops_its_task(
    harness: Harness,
) -> None:
    desired = task(container("web"))
    await running(harness, desired)
    await harness.kill_agent()
    harness.runtime.exit(docker_name("web"), 7)
    harness.reports.clear()
    harness.start({**desired, "lastStatus": "RUNNING"}, adopted=await harness.adoptable())
    await harness.until_status("STOPPED")
    assert harness.container("web")["exitCode"] == 7
    assert harness.last["stopCode"] == "EssentialContainerExited"


async def test_a_container_removed_while_the_agent_was_away_stops_its_task_with_a_reason(
    harness: Harness,
) -> None:
    desired = task(container("web"), container("side", essential=False))
    await running(harness, desired)
    await harness.kill_agent()
    await harness.runtime.remove(docker_name("web"), force=True)
    harness.reports.clear()
    harness.start({**desired, "lastStatus": "RUNNING"}, adopted=await harness.adoptable())
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "EssentialContainerExited"
    assert "removed while the agent was not running" in harness.last["stoppedReason"]
    assert harness.container("web")["reason"] == (
        "Container was removed while the agent was not running"
    )
    assert harness.container("side")["lastStatus"] == "STOPPED"
    assert harness.runtime.creates.count(docker_name("web")) == 1


async def test_a_running_task_whose_containers_all_vanished_stops_and_creates_nothing(
    harness: Harness,
) -> None:
    desired = task(container("web"))
    await running(harness, desired)
    await harness.kill_agent()
    await harness.runtime.remove(docker_name("web"), force=True)
    harness.runtime.creates.clear()
    harness.reports.clear()
    # Nothing left to adopt, but the control plane knows the task ran.
    harness.start({**desired, "lastStatus": "RUNNING"}, adopted={})
    await harness.until_status("STOPPED")
    assert harness.runtime.creates == []
    assert "removed while the agent was not running" in harness.last["stoppedReason"]


async def test_an_awsvpc_task_whose_pause_container_went_while_the_agent_was_away_stops(
    harness: Harness,
) -> None:
    desired = task(container("web"), network_mode="awsvpc")
    await running(harness, desired)
    await harness.kill_agent()
    await harness.runtime.remove(docker_name("internalecspause"), force=True)
    harness.reports.clear()
    harness.start({**desired, "lastStatus": "RUNNING"}, adopted=await harness.adoptable())
    await harness.until_status("STOPPED")
    assert "pause container exited" in harness.last["stoppedReason"]
    assert harness.runtime.signals_received(docker_name("web")) == ["SIGTERM"]


async def test_adopted_containers_of_a_task_wanted_stopped_are_stopped(
    harness: Harness,
) -> None:
    desired = task(container("web"))
    await running(harness, desired)
    await harness.kill_agent()
    harness.start(
        {**desired, "lastStatus": "RUNNING", "desiredStatus": "STOPPED"},
        adopted=await harness.adoptable(),
    )
    await harness.until_status("STOPPED")
    state = await harness.runtime.inspect(docker_name("web"))
    assert state.status is ContainerStatus.EXITED
    assert harness.runtime.signals_received(docker_name("web")) == ["SIGTERM"]


async def test_a_task_the_control_plane_never_saw_running_finishes_starting_once(
    harness: Harness,
) -> None:
    desired = task(
        container("init", essential=False),
        container("app", dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]),
    )
    harness.start(desired)
    await harness.until_container("init", "RUNNING")
    harness.runtime.exit(docker_name("init"), 0)
    await harness.until_status("RUNNING")
    await harness.kill_agent()
    harness.runtime.creates.clear()
    harness.reports.clear()
    found = await harness.adoptable()

    # The report of RUNNING never reached the control plane: it still says PENDING.
    await running(harness, {**desired, "lastStatus": "PENDING"}, adopted=found)
    assert await harness.adoptable() == found
    init = await harness.runtime.inspect(docker_name("init"))
    assert init.status is ContainerStatus.EXITED  # not run a second time
    assert harness.container("init")["exitCode"] == 0
    assert harness.container("app")["lastStatus"] == "RUNNING"


async def test_a_runner_that_finds_its_containers_by_name_never_creates_a_second_copy(
    harness: Harness,
) -> None:
    desired = task(container("web"))
    await running(harness, desired)
    first = await harness.adoptable()
    await harness.kill_agent()
    harness.reports.clear()
    # No adoption map (the labels were not found): the names still collide.
    await running(harness, desired)
    assert await harness.adoptable() == first
    assert harness.container("web")["runtimeId"] == first["web"]


async def test_containers_removed_after_cleanup(harness: Harness) -> None:
    runner = await running(harness, task(container("web"), network_mode="awsvpc"))
    runner.request_stop("UserInitiated", "bye")
    await harness.until_status("STOPPED")
    assert len(await harness.adoptable()) == 2
    await runner.remove_containers()
    assert await harness.adoptable() == {}


# -- awslogs -----------------------------------------------------------------------


class MemoryLogs:
    """A LogsClient (and its pool) keeping log events in memory."""

    def __init__(self, groups: tuple[str, ...] = ()) -> None:
        self.groups: dict[str, dict[str, list[str]]] = {g: {} for g in groups}
        self.regions: list[str] = []

    def for_region(self, region: str) -> MemoryLogs:
        self.regions.append(region)
        return self

    async def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        group = payload["logGroupName"]
        if operation == "CreateLogGroup":
            self.groups.setdefault(group, {})
        elif group not in self.groups:
            raise LogsApiError(
                "ResourceNotFoundException", "The specified log group does not exist."
            )
        elif operation == "CreateLogStream":
            self.groups[group].setdefault(payload["logStreamName"], [])
        elif operation == "PutLogEvents":
            stream = self.groups[group][payload["logStreamName"]]
            stream.extend(e["message"] for e in payload["logEvents"])
        return {}


class ScriptedSource:
    """Each container's output: lines given up front, ended when the container is."""

    def __init__(self, text: list[str]) -> None:
        self.text = text
        self.followed: list[str] = []

    async def follow(self, container_id: str, *, since_nanos: int) -> AsyncIterator[LogLine]:
        self.followed.append(container_id)
        for i, line in enumerate(self.text):
            nanos = int(T0 * 1e9) + i * 1000
            if nanos >= since_nanos:
                yield LogLine(nanos, line)


def shipping(logs: MemoryLogs, source: ScriptedSource, tmp_path: Any) -> LogShipping:
    return LogShipping(source=source, pool=cast(LogsClientPool, logs), data_dir=tmp_path)


def awslogs(group: str, **extra: str) -> dict[str, Any]:
    options = {"awslogs-group": group, "awslogs-region": "eu-west-1", **extra}
    return {"logDriver": "awslogs", "options": {"awslogs-stream-prefix": "web", **options}}


async def test_awslogs_output_is_shipped_before_the_task_reports_stopped(
    harness: Harness, tmp_path: Any
) -> None:
    logs, source = MemoryLogs(("g",)), ScriptedSource(["one", "two", "three"])
    desired = task(container("app", logConfiguration=awslogs("g")))
    runner = await running(harness, desired, log_shipping=shipping(logs, source, tmp_path))
    assert logs.regions == ["eu-west-1"]
    runner.request_stop("UserInitiated", "done")
    await harness.until_status("STOPPED")
    assert logs.groups["g"] == {f"web/app/{TASK_ID}": ["one", "two", "three"]}
    assert (tmp_path / "awslogs").is_dir()
    await runner.remove_containers()
    assert list((tmp_path / "awslogs").iterdir()) == []


async def test_a_log_group_it_may_not_create_fails_the_start(
    harness: Harness, tmp_path: Any
) -> None:
    logs, source = MemoryLogs(), ScriptedSource(["never"])
    desired = task(container("app", logConfiguration=awslogs("missing")))
    harness.start(desired, log_shipping=shipping(logs, source, tmp_path))
    await harness.until_status("STOPPED")
    assert harness.last["stopCode"] == "TaskFailedToStart"
    assert harness.last["stoppedReason"].startswith("ResourceInitializationError")
    assert "ResourceNotFoundException" in harness.last["stoppedReason"]
    assert not any(e.action is EventAction.START for e in harness.events)
    assert source.followed == []


async def test_an_adopted_awslogs_container_resumes_shipping(
    harness: Harness, tmp_path: Any
) -> None:
    logs, source = MemoryLogs(("g",)), ScriptedSource(["one", "two"])
    desired = task(
        container("app", logConfiguration=awslogs("g", **{"awslogs-create-group": "true"}))
    )
    first = await running(harness, desired, log_shipping=shipping(logs, source, tmp_path))
    await first.stop_shippers()  # the agent shuts down (Agent.aclose)
    await harness.kill_agent()
    adopted = await harness.adoptable()
    source.text.append("three")
    runner = harness.start(
        task(container("app", logConfiguration=awslogs("g")), last_status="RUNNING"),
        adopted=adopted,
        log_shipping=shipping(logs, source, tmp_path),
    )
    await harness.until_status("RUNNING")
    runner.request_stop("UserInitiated", "done")
    await harness.until_status("STOPPED")
    assert logs.groups["g"][f"web/app/{TASK_ID}"] == ["one", "two", "three"]
