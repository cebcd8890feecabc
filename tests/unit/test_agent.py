"""The agent's reconciliation on FakeRuntime and an in-memory control plane:
launch what is desired, stop what is not, adopt after a restart, never start a
finished task twice, wind down once deregistered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from openecs.agent import labels as L
from openecs.agent.agent import Agent, AgentConfig, _task_size
from openecs.agent.container_runtime import ContainerSpec, HealthStatus
from openecs.agent.fake_runtime import FakeRuntime
from openecs.platform.clock import FakeClock

pytestmark = pytest.mark.anyio

IMAGE = "app:1"
PAUSE_IMAGE = "openecs/pause:1"
INSTANCE_ARN = "arn:aws:ecs:us-east-1:000000000000:container-instance/c1/inst-1"


class CountingRuntime(FakeRuntime):
    def __init__(self) -> None:
        super().__init__(FakeClock(), images=[IMAGE, PAUSE_IMAGE])
        self.creates: list[str] = []

    async def create(self, spec: ContainerSpec) -> str:
        self.creates.append(spec.name)
        return await super().create(spec)

    def count(self) -> int:
        """Containers that exist, running or not."""
        return len(self._containers)


class FakeControlPlane:
    """The agent channel in memory: desired tasks in, reports out (the newest per task)."""

    def __init__(self) -> None:
        self.desired: dict[str, dict[str, Any]] = {}
        self.instance_status = "ACTIVE"
        self.reports: dict[str, dict[str, Any]] = {}
        self.registrations = 0
        self.polls = 0
        self._changed = asyncio.Event()

    def set_desired(self, *tasks: dict[str, Any]) -> None:
        self.desired = {t["taskArn"]: t for t in tasks}
        self._changed.set()

    async def call(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if path == "/agent/v1/register":
            self.registrations += 1
            return {"instanceId": "inst-1", "containerInstanceArn": INSTANCE_ARN}
        if path == "/agent/v1/poll":
            self.polls += 1
            digest = f"{self.instance_status}:{sorted(self.desired)}:{self._statuses()}"
            if payload.get("digest") == digest:
                self._changed.clear()
                try:
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()
                except TimeoutError:
                    pass
            return {
                "digest": f"{self.instance_status}:{sorted(self.desired)}:{self._statuses()}",
                "instanceStatus": self.instance_status,
                "tasks": list(self.desired.values()),
            }
        if path == "/agent/v1/report":
            for report in payload["tasks"]:
                self.reports[report["taskArn"]] = report
            return {"changed": len(payload["tasks"])}
        raise AssertionError(path)

    def _statuses(self) -> list[str]:
        return [t["desiredStatus"] for _, t in sorted(self.desired.items())]

    async def aclose(self) -> None:
        pass


def desired_task(
    task_id: str, *, desired: str = "RUNNING", last: str = "PROVISIONING"
) -> dict[str, Any]:
    return {
        "taskArn": f"arn:aws:ecs:us-east-1:000000000000:task/c1/{task_id}",
        "taskId": task_id,
        "cluster": "c1",
        "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/c1",
        "family": "web",
        "desiredStatus": desired,
        "lastStatus": last,
        "networkMode": "bridge",
        "taskDefinition": {
            "family": "web",
            "revision": 1,
            "networkMode": "bridge",
            "containerDefinitions": [{"name": "web", "image": IMAGE, "essential": True}],
        },
        "containers": [{"name": "web", "containerArn": f"arn:container/{task_id}/web"}],
    }


class Running:
    """One agent process: `start`, then `kill` (cancel, containers stay) or `wait`."""

    def __init__(
        self,
        data_dir: Path,
        runtime: CountingRuntime,
        control: FakeControlPlane,
        *,
        cleanup_delay: float = 600.0,
        resync_interval: float = 15.0,
    ) -> None:
        self.clock = FakeClock()
        config = AgentConfig(
            endpoint="http://127.0.0.1:1",
            cluster="c1",
            access_key="AKIA",
            secret_key="secret",
            data_dir=data_dir,
            pause_image=PAUSE_IMAGE,
            task_cgroups=False,
            poll_wait=0.05,
            cleanup_delay=cleanup_delay,
            resync_interval=resync_interval,
        )
        self.agent = Agent(config, runtime, control=control, clock=self.clock)  # type: ignore[arg-type]
        self.task = asyncio.create_task(self.agent.run())

    async def kill(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.agent.metadata.stop()


@pytest.fixture
async def runtime() -> AsyncIterator[CountingRuntime]:
    fake = CountingRuntime()
    yield fake
    await fake.aclose()


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def status(control: FakeControlPlane, task: dict[str, Any]) -> str | None:
    report = control.reports.get(task["taskArn"])
    return report["lastStatus"] if report else None


async def test_desired_tasks_are_launched_and_reported(
    tmp_path: Path, runtime: CountingRuntime
) -> None:
    control = FakeControlPlane()
    task = desired_task("t1")
    control.set_desired(task)
    agent = Running(tmp_path, runtime, control)
    try:
        await until(lambda: status(control, task) == "RUNNING", "RUNNING")
        [web] = control.reports[task["taskArn"]]["containers"]
        containers = await runtime.list_by_labels({L.TASK_ARN: task["taskArn"]})
        assert [c.id for c in containers] == [web["runtimeId"]]
        assert containers[0].labels[L.AGENT] == agent.agent.identity.agent_id

        control.set_desired({**task, "desiredStatus": "STOPPED", "stopCode": "UserInitiated"})
        await until(lambda: status(control, task) == "STOPPED", "STOPPED")
        assert control.reports[task["taskArn"]]["stopCode"] == "UserInitiated"
    finally:
        await agent.kill()


async def test_a_health_verdict_whose_event_was_lost_is_read_back_and_reported(
    tmp_path: Path, runtime: CountingRuntime
) -> None:
    control = FakeControlPlane()
    task = desired_task("t1")
    control.set_desired(task)
    agent = Running(tmp_path, runtime, control, resync_interval=0.05)
    try:
        await until(lambda: status(control, task) == "RUNNING", "RUNNING")
        [web] = control.reports[task["taskArn"]]["containers"]
        runtime.set_health(web["runtimeId"], HealthStatus.HEALTHY, announce=False)
        await until(
            lambda: control.reports[task["taskArn"]]["containers"][0]["healthStatus"] == "HEALTHY",
            "the health Docker holds reported",
        )
    finally:
        await agent.kill()


async def test_a_restarted_agent_adopts_its_containers_instead_of_starting_new_ones(
    tmp_path: Path, runtime: CountingRuntime
) -> None:
    control = FakeControlPlane()
    task = desired_task("t1")
    control.set_desired(task)
    first = Running(tmp_path, runtime, control)
    await until(lambda: status(control, task) == "RUNNING", "RUNNING")
    identity = first.agent.identity
    await first.kill()
    runtime.creates.clear()
    control.reports.clear()
    control.set_desired({**task, "lastStatus": "RUNNING"})

    second = Running(tmp_path, runtime, control)  # same data dir: same identity
    try:
        await until(lambda: status(control, task) == "RUNNING", "RUNNING again")
        assert second.agent.identity.agent_id == identity.agent_id
        assert second.agent.identity.instance_id == identity.instance_id
        assert runtime.creates == []
    finally:
        await second.kill()


async def test_containers_of_tasks_the_control_plane_no_longer_knows_are_removed_on_restart(
    tmp_path: Path, runtime: CountingRuntime
) -> None:
    control = FakeControlPlane()
    task = desired_task("t1")
    control.set_desired(task)
    first = Running(tmp_path, runtime, control)
    await until(lambda: status(control, task) == "RUNNING", "RUNNING")
    await first.kill()
    control.set_desired()
    second = Running(tmp_path, runtime, control)
    try:
        await until(
            lambda: runtime.count() == 0,
            "the orphaned container to be removed",
        )
    finally:
        await second.kill()


async def test_a_finished_task_is_never_started_again(
    tmp_path: Path, runtime: CountingRuntime
) -> None:
    control = FakeControlPlane()
    task = desired_task("t1")
    control.set_desired(task)
    agent = Running(tmp_path, runtime, control, cleanup_delay=1.0)
    try:
        await until(lambda: status(control, task) == "RUNNING", "RUNNING")
        runtime.exit(runtime.creates[0], 0)
        await until(lambda: status(control, task) == "STOPPED", "STOPPED")
        agent.clock.advance(2)  # past the cleanup delay: its containers go
        await until(lambda: runtime.count() == 0, "the clean-up")
        # The control plane took in none of its reports and lists the task as before.
        control.set_desired({**task, "lastStatus": "PENDING"})
        polls = control.polls
        await until(lambda: control.polls >= polls + 2, "two more polls")
        assert len(runtime.creates) == 1
    finally:
        await agent.kill()


async def test_a_deregistered_agent_stops_its_tasks_reports_and_returns(
    tmp_path: Path, runtime: CountingRuntime
) -> None:
    control = FakeControlPlane()
    task = desired_task("t1")
    control.set_desired(task)
    agent = Running(tmp_path, runtime, control)
    await until(lambda: status(control, task) == "RUNNING", "RUNNING")
    control.instance_status = "INACTIVE"
    control.set_desired({**task, "desiredStatus": "STOPPED", "stopCode": "TerminationNotice"})
    async with asyncio.timeout(10):
        await agent.task  # run() returns by itself
    assert agent.agent.deregistered
    assert status(control, task) == "STOPPED"
    assert control.reports[task["taskArn"]]["stopCode"] == "TerminationNotice"
    await agent.agent.metadata.stop()


@pytest.mark.parametrize(
    ("task", "td", "cpu", "memory"),
    [
        ({}, {"cpu": "1024", "memory": "2048"}, 1024, 2048),
        ({}, {"cpu": "1 vCPU", "memory": "2 GB"}, 1024, 2048),
        (
            {"overrides": {"cpu": "512", "memory": "1024"}},
            {"cpu": "256", "memory": "512"},
            512,
            1024,
        ),
        # Without a task size there is no task limit (the task's own cpu/memory are sums).
        ({"cpu": "512", "memory": "256"}, {}, 0, 0),
        ({}, {"cpu": "lots", "memory": "-1"}, 0, 0),
    ],
)
def test_the_task_size_comes_from_the_definition_and_overrides(
    task: dict[str, Any], td: dict[str, Any], cpu: int, memory: int
) -> None:
    assert (_task_size(task, td, "cpu"), _task_size(task, td, "memory")) == (cpu, memory)
