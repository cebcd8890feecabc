"""Services end to end: boto3 → a real `openecs up` (server + embedded FARGATE
agent) and two real `openecs agent --capacity ec2` processes → the real Docker
Engine, with the local busybox image.

A service keeps its tasks running (a killed container is replaced), rolls out
a new revision, trips the circuit breaker on a revision that cannot run and
rolls back, moves its tasks off a DRAINING instance, runs one DAEMON task per
instance, and stops its tasks when deleted. One `openecs up` and one EC2
cluster of two agents serve the module; each test has services of its own and
deletes them. Waits poll with deadlines; nothing sleeps to synchronise. Every
container an agent of the module started is removed when the module ends.
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.server import AgentProcess, ServerProcess
from tests.support.waiting import until as wait_until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("services-docker")]

T = TypeVar("T")

IMAGE = "openecs-test/busybox:latest"
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}
# PID 1 that exits at once on SIGTERM (a PID 1 without a handler ignores it).
IDLE = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
CRASH = ["sh", "-c", "exit 3"]
DEADLINE = 90.0


# Waits here may take longer than the shared default.
until = functools.partial(wait_until, timeout=DEADLINE)


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr}")
    return done.stdout


def _identity(data_dir: Path) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError, ValueError):
        data: dict[str, Any] = json.loads((data_dir / "agent.json").read_text())
        return data
    return {}


@dataclass
class Stack:
    up: ServerProcess
    tmp: Path
    ecs: Any = None
    cluster: str = ""  # for FARGATE services
    ec2_cluster: str = ""  # two EC2 agents
    agents: list[AgentProcess] = field(default_factory=list)

    # -- definitions and services -----------------------------------------------------

    def fargate_td(self, command: list[str], family: str | None = None) -> str:
        td = self.ecs.register_task_definition(
            family=family or f"svc-fg-{uuid.uuid4().hex[:8]}",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "app", "image": IMAGE, "command": command, "stopTimeout": 2}
            ],
        )
        return str(td["taskDefinition"]["taskDefinitionArn"])

    def ec2_td(self) -> str:
        td = self.ecs.register_task_definition(
            family=f"svc-ec2-{uuid.uuid4().hex[:8]}",
            networkMode="bridge",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[
                {
                    "name": "app",
                    "image": IMAGE,
                    "command": IDLE,
                    "cpu": 128,
                    "memory": 64,
                    "stopTimeout": 2,
                }
            ],
        )
        return str(td["taskDefinition"]["taskDefinitionArn"])

    def fargate_service(self, td: str, count: int, **params: Any) -> str:
        name = f"web-{uuid.uuid4().hex[:8]}"
        self.ecs.create_service(
            cluster=self.cluster,
            serviceName=name,
            taskDefinition=td,
            desiredCount=count,
            launchType="FARGATE",
            networkConfiguration=SUBNETS,
            **params,
        )
        return name

    def service(self, name: str, cluster: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs.describe_services(
            cluster=cluster or self.cluster, services=[name]
        )["services"][0]
        return found

    def tasks(
        self, name: str, cluster: str | None = None, desired: str = "RUNNING"
    ) -> list[dict[str, Any]]:
        cluster = cluster or self.cluster
        arns = self.ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=desired)[
            "taskArns"
        ]
        if not arns:
            return []
        found: list[dict[str, Any]] = self.ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
        return found

    def running(self, name: str, count: int, cluster: str | None = None) -> list[dict[str, Any]]:
        """Wait for exactly `count` RUNNING tasks and a COMPLETED PRIMARY deployment."""

        def check() -> list[dict[str, Any]] | None:
            service = self.service(name, cluster)
            primary = service["deployments"][0]
            if primary["rolloutState"] != "COMPLETED" or len(service["deployments"]) != 1:
                return None
            tasks = self.tasks(name, cluster)
            ok = len(tasks) == count and all(t["lastStatus"] == "RUNNING" for t in tasks)
            return tasks if ok else None

        return until(check, f"{count} RUNNING tasks of {name}")

    def delete(self, name: str, cluster: str | None = None) -> None:
        self.ecs.delete_service(cluster=cluster or self.cluster, service=name, force=True)

    # -- clean-up ---------------------------------------------------------------------

    def close(self) -> None:
        owners = [a.identity.get("agent_id") for a in self.agents]
        owners.append(_identity(self.up.data_dir / "fargate-agent").get("agent_id"))
        for agent in self.agents:
            agent.stop()
        self.up.stop()
        for owner in filter(None, owners):
            ids = docker("ps", "-aq", "--filter", f"label=openecs.agent={owner}").split()
            if ids:
                docker("rm", "-f", *ids)


@pytest.fixture(scope="module")
def stack(busybox_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("services-docker")
    up = ServerProcess(
        tmp / "up",
        command="up",
        extra_args=["--cleanup-delay", "2", "--log-level", "INFO"],
    )
    s = Stack(up=up, tmp=tmp)
    try:
        up.start(timeout=120)
        s.ecs = up.client("ecs")
        s.cluster = f"svc-fg-{uuid.uuid4().hex[:8]}"
        s.ecs.create_cluster(clusterName=s.cluster)
        s.ec2_cluster = f"svc-ec2-{uuid.uuid4().hex[:8]}"
        s.ecs.create_cluster(clusterName=s.ec2_cluster)
        for n in range(2):
            s.agents.append(
                AgentProcess(
                    endpoint=up.endpoint,
                    data_dir=tmp / f"agent-{n}",
                    cluster=s.ec2_cluster,
                    extra_args=[
                        "--cpu-units",
                        "1024",
                        "--memory-mib",
                        "1024",
                        "--availability-zone",
                        f"us-east-1{'ab'[n]}",
                        "--cleanup-delay",
                        "2",
                    ],
                ).start()
            )
        until(
            lambda: _identity(up.data_dir / "fargate-agent").get("container_instance_arn"),
            "the FARGATE agent of openecs up to register",
        )
        until(lambda: len(instances(s)) == 2, "two EC2 agents to register")
        yield s
    finally:
        s.close()


def instances(stack: Stack) -> list[dict[str, Any]]:
    arns = stack.ecs.list_container_instances(cluster=stack.ec2_cluster)["containerInstanceArns"]
    if not arns:
        return []
    found: list[dict[str, Any]] = stack.ecs.describe_container_instances(
        cluster=stack.ec2_cluster, containerInstances=arns
    )["containerInstances"]
    return [i for i in found if i["agentConnected"] and i["status"] == "ACTIVE"]


# -- REPLICA services on openecs up (FARGATE) ---------------------------------------------


def test_a_service_keeps_three_tasks_running_and_replaces_a_killed_container(
    stack: Stack,
) -> None:
    name = stack.fargate_service(stack.fargate_td(IDLE), 3)
    tasks = stack.running(name, 3)
    victim = tasks[0]
    docker("kill", victim["containers"][0]["runtimeId"])

    def replaced() -> list[dict[str, Any]] | None:
        now = stack.tasks(name)
        arns = {t["taskArn"] for t in now}
        running = [t for t in now if t["lastStatus"] == "RUNNING"]
        ok = victim["taskArn"] not in arns and len(running) == 3
        return running if ok else None

    running = until(replaced, "a replacement task to run")

    [killed] = stack.ecs.describe_tasks(cluster=stack.cluster, tasks=[victim["taskArn"]])["tasks"]
    assert killed["desiredStatus"] == "STOPPED"
    assert killed["stopCode"] == "EssentialContainerExited"
    assert len({t["taskArn"] for t in running} - {t["taskArn"] for t in tasks}) == 1
    service = stack.service(name)
    assert (service["runningCount"], service["desiredCount"]) == (3, 3)
    stack.delete(name)


def test_a_new_revision_rolls_out_and_completes(stack: Stack) -> None:
    family = f"svc-roll-{uuid.uuid4().hex[:8]}"
    first = stack.fargate_td(IDLE, family)
    name = stack.fargate_service(first, 2)
    old = stack.running(name, 2)
    second = stack.fargate_td(IDLE, family)

    updated = stack.ecs.update_service(cluster=stack.cluster, service=name, taskDefinition=family)
    new_id = updated["service"]["deployments"][0]["id"]
    tasks = stack.running(name, 2)

    assert {t["taskDefinitionArn"] for t in tasks} == {second}
    assert {t["startedBy"] for t in tasks} == {new_id}
    assert not {t["taskArn"] for t in tasks} & {t["taskArn"] for t in old}
    service = stack.service(name)
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    messages = [e["message"] for e in service["events"]]
    assert f"(service {name}) (deployment {new_id}) deployment completed." in messages
    until(
        lambda: all(
            t["lastStatus"] == "STOPPED"
            for t in stack.ecs.describe_tasks(
                cluster=stack.cluster, tasks=[t["taskArn"] for t in old]
            )["tasks"]
        ),
        "the old revision's tasks to stop",
    )
    [deployment] = stack.ecs.list_service_deployments(
        cluster=stack.cluster, service=name, status=["SUCCESSFUL"]
    )["serviceDeployments"][:1]
    assert deployment["serviceDeploymentArn"].endswith(new_id.split("/")[-1])
    stack.delete(name)


def test_a_revision_that_exits_at_once_trips_the_breaker_and_rolls_back(stack: Stack) -> None:
    family = f"svc-cb-{uuid.uuid4().hex[:8]}"
    good = stack.fargate_td(IDLE, family)
    name = stack.fargate_service(
        good,
        2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    stack.running(name, 2)
    bad = stack.fargate_td(CRASH, family)

    failed_id = stack.ecs.update_service(cluster=stack.cluster, service=name, taskDefinition=bad)[
        "service"
    ]["deployments"][0]["id"]
    tasks = stack.running(name, 2)

    assert {t["taskDefinitionArn"] for t in tasks} == {good}
    service = stack.service(name)
    [primary] = service["deployments"]
    assert primary["id"] != failed_id
    assert primary["taskDefinition"] == good
    messages = [e["message"] for e in service["events"]]
    assert (
        f"(service {name}) (deployment {failed_id}) deployment failed: tasks failed to start."
        in messages
    )
    history = stack.ecs.list_service_deployments(cluster=stack.cluster, service=name)
    statuses = [d["status"] for d in history["serviceDeployments"]]
    assert statuses[:2] == ["ROLLBACK_SUCCESSFUL", "ROLLBACK_SUCCESSFUL"]
    [failed] = stack.ecs.describe_service_deployments(
        serviceDeploymentArns=[history["serviceDeployments"][1]["serviceDeploymentArn"]]
    )["serviceDeployments"]
    assert failed["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert failed["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    stack.delete(name)


def test_deleting_a_service_drains_it_stops_its_containers_and_makes_it_inactive(
    stack: Stack,
) -> None:
    name = stack.fargate_service(stack.fargate_td(IDLE), 2)
    tasks = stack.running(name, 2)

    deleted = stack.ecs.delete_service(cluster=stack.cluster, service=name, force=True)

    assert deleted["service"]["status"] == "DRAINING"
    until(lambda: stack.service(name)["status"] == "INACTIVE", "the service to become INACTIVE")
    described = stack.ecs.describe_tasks(
        cluster=stack.cluster, tasks=[t["taskArn"] for t in tasks]
    )["tasks"]
    assert {t["lastStatus"] for t in described} == {"STOPPED"}
    for task in tasks:
        container = task["containers"][0]["runtimeId"]
        running = docker("ps", "-q", "--filter", f"id={container}").strip()
        assert running == ""
    listed = stack.ecs.list_services(cluster=stack.cluster)["serviceArns"]
    assert not [arn for arn in listed if arn.endswith(f"/{name}")]


# -- EC2: draining and DAEMON -------------------------------------------------------------


def test_tasks_move_off_a_draining_instance(stack: Stack) -> None:
    name = f"drain-{uuid.uuid4().hex[:8]}"
    stack.ecs.create_service(
        cluster=stack.ec2_cluster,
        serviceName=name,
        taskDefinition=stack.ec2_td(),
        desiredCount=2,
        launchType="EC2",
    )
    tasks = stack.running(name, 2, stack.ec2_cluster)
    drained = tasks[0]["containerInstanceArn"]
    other = next(
        i["containerInstanceArn"] for i in instances(stack) if i["containerInstanceArn"] != drained
    )

    stack.ecs.update_container_instances_state(
        cluster=stack.ec2_cluster, containerInstances=[drained], status="DRAINING"
    )
    try:

        def moved() -> list[dict[str, Any]] | None:
            now = stack.tasks(name, stack.ec2_cluster)
            ok = len(now) == 2 and all(
                t["lastStatus"] == "RUNNING" and t["containerInstanceArn"] == other for t in now
            )
            return now if ok else None

        until(moved, "both tasks to run on the other instance")
        left = stack.ecs.list_tasks(cluster=stack.ec2_cluster, containerInstance=drained)
        assert left["taskArns"] == []
        assert stack.service(name, stack.ec2_cluster)["runningCount"] == 2
    finally:
        stack.ecs.update_container_instances_state(
            cluster=stack.ec2_cluster, containerInstances=[drained], status="ACTIVE"
        )
        stack.delete(name, stack.ec2_cluster)
    until(
        lambda: not stack.tasks(name, stack.ec2_cluster, desired="RUNNING"),
        "the drain service's tasks to stop",
    )


def test_a_daemon_service_runs_one_task_on_each_agent(stack: Stack) -> None:
    name = f"daemon-{uuid.uuid4().hex[:8]}"
    stack.ecs.create_service(
        cluster=stack.ec2_cluster,
        serviceName=name,
        taskDefinition=stack.ec2_td(),
        schedulingStrategy="DAEMON",
    )

    tasks = stack.running(name, 2, stack.ec2_cluster)

    assert {t["containerInstanceArn"] for t in tasks} == {
        i["containerInstanceArn"] for i in instances(stack)
    }
    service = stack.service(name, stack.ec2_cluster)
    assert (service["desiredCount"], service["runningCount"]) == (2, 2)
    stack.delete(name, stack.ec2_cluster)
    until(
        lambda: stack.service(name, stack.ec2_cluster)["status"] == "INACTIVE",
        "the daemon service to become INACTIVE",
    )
