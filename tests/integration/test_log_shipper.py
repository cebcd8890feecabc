"""The awslogs shipper between a real busybox container and a real server: what the
container writes is what GetLogEvents returns, in order, across an agent restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from openecs.agent.docker_api import DockerClient
from openecs.agent.log_shipper import (
    AwslogsOptions,
    DockerLogSource,
    LogDriverError,
    LogsClient,
    LogShipper,
)
from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TASK_ARN = f"arn:aws:ecs:{REGION}:000000000000:task/default/{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, given time to start on a busy machine."""
    proc = ServerProcess(tmp_path_factory.mktemp("logs-server")).start(timeout=120)
    yield proc
    proc.stop()


@pytest.fixture
async def docker(docker_labels: dict[str, str]) -> AsyncIterator[DockerClient]:
    async with DockerClient() as client:
        yield client


async def start_container(
    docker: DockerClient, image: str, labels: dict[str, str], script: str
) -> str:
    container = await docker.container_create(
        {
            "Image": image,
            "Cmd": ["sh", "-c", script],
            "Labels": labels,
            "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}},
        },
        name=f"openecs-test-logs-{uuid.uuid4().hex[:10]}",
    )
    await docker.container_start(container)
    return container


def shipper_for(
    server: ServerProcess,
    docker: DockerClient,
    container: str,
    group: str,
    data_dir: Path,
    **options: str,
) -> LogShipper:
    return LogShipper(
        source=DockerLogSource(docker),
        client=LogsClient(server.endpoint, ACCESS_KEY, SECRET_KEY, REGION),
        options=AwslogsOptions.parse(
            {
                "awslogs-group": group,
                "awslogs-region": REGION,
                "awslogs-stream-prefix": "it",
                "mode": "blocking",
                **options,
            }
        ),
        container_id=container,
        task_arn=TASK_ARN,
        container_name="app",
        data_dir=data_dir,
        flush_interval=0.2,
    )


def all_messages(logs: Any, group: str, stream: str) -> list[str]:
    messages: list[str] = []
    token: str | None = None
    while True:
        args: dict[str, Any] = {"logGroupName": group, "logStreamName": stream}
        if token:
            args["nextToken"] = token
        page = logs.get_log_events(startFromHead=True, **args)
        messages += [event["message"] for event in page["events"]]
        if page["nextForwardToken"] == token:
            return messages
        token = page["nextForwardToken"]


async def test_container_output_reaches_get_log_events_in_order(
    server: ServerProcess,
    docker: DockerClient,
    busybox_image: str,
    docker_labels: dict[str, str],
    tmp_path: Path,
) -> None:
    logs = server.client("logs")
    group = f"/it/{uuid.uuid4().hex[:12]}"
    logs.create_log_group(logGroupName=group)
    script = 'for i in $(seq 1 500); do echo "out $i"; done; echo "to stderr" >&2; echo; echo end'
    container = await start_container(docker, busybox_image, docker_labels, script)
    shipper = shipper_for(server, docker, container, group, tmp_path)
    await shipper.prepare()
    shipper.start()
    await shipper.wait()
    shipped = all_messages(logs, group, shipper.stream)
    # stdout and stderr are two pipes: Docker orders them by when it read each line.
    assert shipped.count("to stderr") == 1
    assert [m for m in shipped if m != "to stderr"] == [f"out {i}" for i in range(1, 501)] + ["end"]
    assert shipper.stream == f"it/app/{TASK_ARN.rsplit('/', 1)[-1]}"


async def test_an_agent_restart_neither_loses_nor_repeats_lines(
    server: ServerProcess,
    docker: DockerClient,
    busybox_image: str,
    docker_labels: dict[str, str],
    tmp_path: Path,
) -> None:
    logs = server.client("logs")
    group = f"/it/{uuid.uuid4().hex[:12]}"
    script = 'i=0; while [ $i -lt 300 ]; do echo "n $i"; i=$((i+1)); usleep 5000; done'
    container = await start_container(docker, busybox_image, docker_labels, script)
    first = shipper_for(
        server, docker, container, group, tmp_path, **{"awslogs-create-group": "true"}
    )
    await first.prepare()
    first.start()
    while first.shipped_events < 50:
        await asyncio.sleep(0.02)
    await first.stop()
    shipped_before_restart = first.shipped_events
    second = shipper_for(server, docker, container, group, tmp_path)
    await second.prepare()
    second.start()
    await second.wait()
    assert all_messages(logs, group, second.stream) == [f"n {i}" for i in range(300)]
    assert 0 < shipped_before_restart < 300
    assert shipped_before_restart + second.shipped_events == 300


async def test_a_missing_group_fails_like_ecs_and_ships_nothing(
    server: ServerProcess,
    docker: DockerClient,
    busybox_image: str,
    docker_labels: dict[str, str],
    tmp_path: Path,
) -> None:
    container = await start_container(docker, busybox_image, docker_labels, "echo hi")
    shipper = shipper_for(server, docker, container, f"/missing/{uuid.uuid4().hex}", tmp_path)
    with pytest.raises(LogDriverError) as err:
        await shipper.prepare()
    assert str(err.value).startswith(
        "ResourceInitializationError: failed to validate logger args: "
    )
    assert "The specified log group does not exist." in str(err.value)
