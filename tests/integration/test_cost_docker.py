"""A real task's cost is its recorded runtime at the configured price, and stays so
after the task is forgotten.

A real `openecs up` (server + FARGATE agent on the local Docker engine) runs a
busybox task that exits after a few seconds. The server's price table
(--price-table) drops FARGATE's one-minute minimum and uses round prices, so
the bill shows the runtime itself: ceil(stoppedAt - pullStartedAt) seconds,
as DescribeTasks recorded them. A short task retention then makes the server
forget the task; the bill must not change.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.integration.conftest import SESSION_LABEL
from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess
from tests.support.waiting import until as wait_until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("cost-docker")]

T = TypeVar("T")

SESSION = uuid.uuid4().hex[:12]
LABELS = {"openecs.test": "1", SESSION_LABEL: SESSION}
# $3.60 per vCPU-hour: a 0.25 vCPU task costs $0.00025 a second (memory is free).
PRICES = {
    "fargate": {"vcpuHour": 3.6, "gbHour": 0},
    "fargateMinimumSeconds": 0,
}
PER_SECOND = 0.25 * 3.6 / 3600


# Waits here may take longer than the shared default.
until = functools.partial(wait_until, timeout=90.0)


def signed_get(server: ServerProcess, path: str, **params: Any) -> dict[str, Any]:
    url = f"{server.endpoint}{path}?{urlencode(params)}"
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ecs", REGION).add_auth(request)
    answer = httpx.get(url, headers=dict(request.headers.items()), timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def up(busybox_image: str, tmp_path: Path) -> Iterator[ServerProcess]:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    server = ServerProcess(
        tmp_path / "up",
        command="up",
        extra_args=["--price-table", str(prices), "--task-retention", "3"],
    )
    try:
        server.start(timeout=120)
        yield server
    finally:
        server.stop()
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={SESSION_LABEL}={SESSION}"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=60)


def test_a_real_task_costs_its_recorded_runtime_even_after_it_is_forgotten(
    up: ServerProcess, busybox_image: str
) -> None:
    ecs = up.client("ecs")
    cluster = f"cost-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    td = ecs.register_task_definition(
        family=cluster,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "app",
                "image": busybox_image,
                "command": ["sh", "-c", "sleep 3"],
                "dockerLabels": LABELS,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]

    def launched() -> str | None:
        # The FARGATE agent of `openecs up` may still be registering.
        answer = ecs.run_task(
            cluster=cluster,
            taskDefinition=td,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}},
        )
        return str(answer["tasks"][0]["taskArn"]) if answer["tasks"] else None

    arn = until(launched, "FARGATE capacity to run the task", timeout=60)

    def stopped() -> dict[str, Any] | None:
        [task] = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"]
        return dict(task) if task["lastStatus"] == "STOPPED" else None

    task = until(stopped, "the task to run and exit")
    began = task.get("pullStartedAt") or task["startedAt"]
    runtime = (task["stoppedAt"] - began).total_seconds()
    seconds = math.ceil(round(runtime, 6))
    assert 3 <= seconds < 60, task

    def billed() -> dict[str, Any]:
        report = signed_get(up, "/cost", cluster=cluster, groupBy="task")
        [line] = report["lines"]
        assert line["key"] == arn
        return dict(line)

    line = billed()
    assert line["taskSeconds"] == seconds
    assert line["cost"] == pytest.approx(seconds * PER_SECOND, rel=1e-9)
    assert line["details"]["stoppedAt"] == pytest.approx(task["stoppedAt"].timestamp(), abs=1e-3)

    until(
        lambda: ecs.describe_tasks(cluster=cluster, tasks=[arn])["failures"],
        "the server to forget the stopped task (3 s retention)",
        timeout=30,
    )
    assert billed() == line
