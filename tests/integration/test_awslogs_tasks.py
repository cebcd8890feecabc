"""awslogs end to end: boto3 → `openecs up` → a FARGATE task's busybox container →
the agent's log shipper → CloudWatch Logs, read back with GetLogEvents.

The container logs to Docker's json-file driver; the agent ships its output to
`awslogs-stream-prefix/container-name/task-id`. A group the task may not create
fails the start as ECS words it. An agent killed with SIGKILL while its task
prints, and restarted, loses and repeats no line: `aws logs get-log-events` and
`filter-log-events` (the real AWS CLI) return every line in order, including
those printed while no agent ran.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.integration.conftest import SESSION_LABEL
from tests.support.awscli import run_aws
from tests.support.server import REGION, AgentProcess, ServerProcess
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("awslogs-tasks")]

T = TypeVar("T")

SESSION = uuid.uuid4().hex[:12]
LABELS = {"openecs.test": "1", SESSION_LABEL: SESSION}
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}


@dataclass
class Stack:
    up: ServerProcess
    ecs: Any
    logs: Any
    cluster: str
    root: Path

    def run(self, container: dict[str, Any]) -> str:
        td = self.ecs.register_task_definition(
            family=f"awslogs-{uuid.uuid4().hex[:10]}",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            # As on ECS, FARGATE wants an execution role for awslogs (OpenECS needs none).
            executionRoleArn="arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
            containerDefinitions=[
                {"image": "openecs-test/busybox:latest", "dockerLabels": LABELS, **container}
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        result = self.ecs.run_task(
            cluster=self.cluster,
            taskDefinition=td,
            launchType="FARGATE",
            networkConfiguration=SUBNETS,
        )
        assert result["failures"] == []
        return str(result["tasks"][0]["taskArn"])

    def stopped(self, arn: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            [task] = self.ecs.describe_tasks(cluster=self.cluster, tasks=[arn])["tasks"]
            return dict(task) if task["lastStatus"] == "STOPPED" else None

        return until(check, f"{arn} STOPPED")


@pytest.fixture(scope="module")
def stack(busybox_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("awslogs")
    up = ServerProcess(root / "up", command="up")
    try:
        up.start(timeout=120)
        ecs = up.client("ecs")
        cluster = f"logs-{uuid.uuid4().hex[:10]}"
        ecs.create_cluster(clusterName=cluster)
        yield Stack(up=up, ecs=ecs, logs=up.client("logs"), cluster=cluster, root=root)
    finally:
        up.stop()
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={SESSION_LABEL}={SESSION}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)


def awslogs(group: str, **extra: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": group,
            "awslogs-region": REGION,
            "awslogs-stream-prefix": "web",
            **extra,
        },
    }


def test_a_tasks_output_reaches_its_log_stream_in_order(stack: Stack) -> None:
    group = f"/ecs/awslogs-{uuid.uuid4().hex[:8]}"
    lines = [f"line {i}" for i in range(1, 51)]
    arn = stack.run(
        {
            "name": "app",
            "command": ["sh", "-c", "for i in $(seq 1 50); do echo line $i; done"],
            "logConfiguration": awslogs(group, **{"awslogs-create-group": "true"}),
        }
    )
    task = stack.stopped(arn)
    assert task["stopCode"] == "EssentialContainerExited", task.get("stoppedReason")
    stream = f"web/app/{arn.rsplit('/', 1)[-1]}"
    # The STOPPED report waits for the shipper, so everything is there already.
    events = stack.logs.get_log_events(
        logGroupName=group, logStreamName=stream, startFromHead=True
    )["events"]
    assert [e["message"] for e in events] == lines
    times = [e["timestamp"] for e in events]
    assert times == sorted(times)


def test_a_missing_group_it_may_not_create_fails_the_start(stack: Stack) -> None:
    group = f"/ecs/missing-{uuid.uuid4().hex[:8]}"
    arn = stack.run(
        {"name": "app", "command": ["echo", "never"], "logConfiguration": awslogs(group)}
    )
    task = stack.stopped(arn)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("ResourceInitializationError"), task["stoppedReason"]
    assert group not in {g["logGroupName"] for g in stack.logs.describe_log_groups()["logGroups"]}


def test_lines_printed_across_an_agent_kill_and_restart_all_arrive_in_order(
    stack: Stack,
) -> None:
    """An EC2 agent of its own (so the module's `up` keeps running): SIGKILL while
    the container prints 300 lines over ~15 s, a few seconds without any agent,
    then the same agent (same data dir) again: it re-adopts the container and its
    shipper resumes from the checkpoint."""
    cluster = f"logs-ec2-{uuid.uuid4().hex[:8]}"
    stack.ecs.create_cluster(clusterName=cluster)
    agent = AgentProcess(
        endpoint=stack.up.endpoint,
        data_dir=stack.root / f"agent-{cluster}",
        cluster=cluster,
        extra_args=["--cpu-units", "1024", "--memory-mib", "512", "--poll-wait", "2"],
    ).start()
    try:

        def connected() -> bool:
            arns = stack.ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
            if not arns:
                return False
            found = stack.ecs.describe_container_instances(cluster=cluster, containerInstances=arns)
            return bool(found["containerInstances"][0]["agentConnected"])

        until(connected, "the agent registered", 120)
        group = f"/ecs/restart-{uuid.uuid4().hex[:8]}"
        td = stack.ecs.register_task_definition(
            family=f"awslogs-ec2-{uuid.uuid4().hex[:8]}",
            networkMode="bridge",
            requiresCompatibilities=["EC2"],
            containerDefinitions=[
                {
                    "name": "app",
                    "image": "openecs-test/busybox:latest",
                    "memory": 32,
                    "dockerLabels": LABELS,
                    "command": [
                        "sh",
                        "-c",
                        "for i in $(seq 1 300); do echo line $i; usleep 50000; done",
                    ],
                    "logConfiguration": awslogs(group, **{"awslogs-create-group": "true"}),
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        run = stack.ecs.run_task(cluster=cluster, taskDefinition=td, launchType="EC2")
        assert run["failures"] == []
        arn = run["tasks"][0]["taskArn"]
        stream = f"web/app/{arn.rsplit('/', 1)[-1]}"

        def shipped() -> int:
            try:
                found = stack.logs.get_log_events(
                    logGroupName=group, logStreamName=stream, startFromHead=True
                )
            except stack.logs.exceptions.ResourceNotFoundException:
                return 0
            return len(found["events"])

        until(lambda: shipped() >= 20, "the first lines shipped", 60)
        agent.kill9()
        down_from = time.time() * 1000
        time.sleep(3)
        down_until = time.time() * 1000
        agent.start()
        task = until(
            lambda: (
                t
                if (t := stack.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0])[
                    "lastStatus"
                ]
                == "STOPPED"
                else None
            ),
            "the task STOPPED",
            90,
        )
        assert task["containers"][0].get("exitCode") == 0, task
    finally:
        agent.stop()
    expected = [f"line {i}" for i in range(1, 301)]
    got = run_aws(
        stack.up,
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
        "--start-from-head",
    )
    assert got.returncode == 0, got.stderr
    events = got.json["events"]
    assert [e["message"] for e in events] == expected
    times = [e["timestamp"] for e in events]
    assert times == sorted(times)
    while_down = [t for t in times if down_from <= t <= down_until]
    assert len(while_down) >= 20, "lines printed while no agent ran"
    filtered = run_aws(
        stack.up,
        "logs",
        "filter-log-events",
        "--log-group-name",
        group,
        "--log-stream-names",
        stream,
        "--filter-pattern",
        '"line"',
    )
    assert filtered.returncode == 0, filtered.stderr
    assert [e["message"] for e in filtered.json["events"]] == expected
    last_two = run_aws(
        stack.up,
        "logs",
        "filter-log-events",
        "--log-group-name",
        group,
        "--filter-pattern",
        '?"line 299" ?"line 300"',
    )
    assert last_two.returncode == 0, last_two.stderr
    assert [e["message"] for e in last_two.json["events"]] == ["line 299", "line 300"]
