"""DockerRuntime on the real Docker Engine: specs in, typed states and events out."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from openecs.agent.container_runtime import (
    Conflict,
    ContainerEvent,
    ContainerSpec,
    ContainerStatus,
    DockerError,
    EventAction,
    HealthCheck,
    HealthStatus,
    ImagePullError,
    Mount,
    NotFound,
    PortMapping,
)
from openecs.agent.docker_runtime import DockerRuntime

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

HTTPD = (
    "mkdir -p /www && echo hello-from-busybox > /www/index.html && exec httpd -f -p 8080 -h /www"
)


def name(prefix: str) -> str:
    return f"openecs-test-{prefix}-{uuid.uuid4().hex[:10]}"


async def get(url: str, deadline: float = 10.0) -> httpx.Response:
    async with httpx.AsyncClient(timeout=2.0) as client:
        give_up = time.monotonic() + deadline
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if time.monotonic() > give_up:
                    raise
                await asyncio.sleep(0.1)


async def until(
    events: AsyncIterator[ContainerEvent], action: EventAction, seen: list[ContainerEvent]
) -> ContainerEvent:
    async with asyncio.timeout(20):
        async for event in events:
            seen.append(event)
            if event.action is action:
                return event
    raise AssertionError(f"the event stream ended before {action}")


async def test_a_healthy_container_publishes_its_port_then_stops_with_sigkill_after_timeout(
    docker_runtime: DockerRuntime, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    group = {"openecs.test.group": uuid.uuid4().hex}
    spec = ContainerSpec(
        name=name("web"),
        image=busybox_image,
        command=("sh", "-c", HTTPD),
        labels={**docker_labels, **group},
        ports=(PortMapping(8080),),
        health_check=HealthCheck(
            ("CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8080/"), interval=0.5, timeout=2
        ),
        memory_bytes=64 * 1024**2,
        stop_timeout=1,
    )
    events = docker_runtime.events(labels=group)
    seen: list[ContainerEvent] = []
    container = await docker_runtime.create(spec)
    await docker_runtime.start(container)
    healthy = await until(events, EventAction.HEALTH_STATUS, seen)
    assert healthy.health is HealthStatus.HEALTHY
    assert [e.action for e in seen] == [
        EventAction.CREATE,
        EventAction.START,
        EventAction.HEALTH_STATUS,
    ]
    assert {e.container_id for e in seen} == {container}
    assert seen[0].name == spec.name
    assert seen[0].labels["openecs.test.group"] == group["openecs.test.group"]

    state = await docker_runtime.inspect(container)
    assert state.running and state.health is HealthStatus.HEALTHY
    assert state.name == spec.name and state.image == busybox_image
    assert state.started_at is not None and state.finished_at is None and state.pid
    assert "bridge" in state.ip_addresses
    [port] = state.ports
    assert (port.container_port, port.protocol, port.host_ip) == (8080, "tcp", "127.0.0.1")
    response = await get(f"http://127.0.0.1:{port.host_port}/")
    assert response.text == "hello-from-busybox\n"

    # httpd runs as PID 1 without a SIGTERM handler: only SIGKILL ends it.
    started = time.monotonic()
    await docker_runtime.stop(container)
    assert time.monotonic() - started >= 1.0
    die = await until(events, EventAction.DIE, seen)
    assert die.exit_code == 137
    kills = [e.signal for e in seen if e.action is EventAction.KILL]
    assert kills == ["SIGTERM", "SIGKILL"]
    await events.aclose()
    stopped = await docker_runtime.inspect(container)
    assert stopped.status is ContainerStatus.EXITED and stopped.exit_code == 137
    assert stopped.ports == () and stopped.finished_at is not None


async def test_a_start_that_cannot_exec_raises_and_leaves_the_reason(
    docker_runtime: DockerRuntime, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    spec = ContainerSpec(
        name=name("noexec"), image=busybox_image, command=("/no/such/binary",), labels=docker_labels
    )
    container = await docker_runtime.create(spec)
    with pytest.raises(DockerError, match="no such file"):
        await docker_runtime.start(container)
    state = await docker_runtime.inspect(container)
    assert not state.running
    assert "no such file" in state.error


async def test_pull_failure_is_an_image_pull_error(docker_runtime: DockerRuntime) -> None:
    with pytest.raises(ImagePullError, match="connection refused"):
        await docker_runtime.pull("127.0.0.1:1/openecs-test/absent:1")


async def test_list_by_labels_wait_and_remove(
    docker_runtime: DockerRuntime, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    group = {"openecs.test.group": uuid.uuid4().hex}
    spec = ContainerSpec(
        name=name("ls"),
        image=busybox_image,
        command=("sh", "-c", "exit 9"),
        labels={**docker_labels, **group},
    )
    container = await docker_runtime.create(spec)
    [summary] = await docker_runtime.list_by_labels(group)
    assert (summary.id, summary.name, summary.status) == (
        container,
        spec.name,
        ContainerStatus.CREATED,
    )
    assert await docker_runtime.list_by_labels(group, include_stopped=False) == []
    await docker_runtime.start(container)
    assert await docker_runtime.wait(container) == 9
    assert (await docker_runtime.inspect(container)).exit_code == 9
    await docker_runtime.remove(container)
    assert await docker_runtime.list_by_labels(group) == []
    with pytest.raises(NotFound):
        await docker_runtime.inspect(container)


async def test_kill_and_stats_and_host_info(
    docker_runtime: DockerRuntime, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    host = await docker_runtime.host_info()
    assert host.cpus >= 1 and host.memory_bytes > 0 and host.engine_version
    spec = ContainerSpec(
        name=name("stats"),
        image=busybox_image,
        command=("sleep", "30"),
        labels=docker_labels,
        memory_bytes=32 * 1024**2,
    )
    container = await docker_runtime.create(spec)
    await docker_runtime.start(container)
    stats = await docker_runtime.stats(container)
    assert stats.memory_limit_bytes == 32 * 1024**2
    assert stats.pids >= 1 and stats.cpu_total_ns > 0
    await docker_runtime.kill(container, "SIGKILL")
    assert await docker_runtime.wait(container) == 137
    with pytest.raises(Conflict):
        await docker_runtime.kill(container)


async def test_containers_sharing_a_namespace_on_a_task_network_serve_through_its_ports(
    docker_runtime: DockerRuntime, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    network_name = name("tasknet")
    network = await docker_runtime.create_network(network_name, labels=docker_labels)
    pause = await docker_runtime.create(
        ContainerSpec(
            name=name("pause"),
            image=busybox_image,
            command=("sleep", "3600"),
            labels=docker_labels,
            network_mode=network_name,
            network_aliases=("task",),
            ports=(PortMapping(8080),),
        )
    )
    await docker_runtime.start(pause)
    app = await docker_runtime.create(
        ContainerSpec(
            name=name("app"),
            image=busybox_image,
            command=("sh", "-c", HTTPD),
            labels=docker_labels,
            network_mode=f"container:{pause}",
        )
    )
    await docker_runtime.start(app)

    info = await docker_runtime.inspect_network(network)
    assert info.name == network_name and info.driver == "bridge" and info.subnets
    assert set(info.containers) == {pause}
    pause_state = await docker_runtime.inspect(pause)
    assert pause_state.ip_addresses[network_name] == info.containers[pause]
    assert (await docker_runtime.inspect(app)).ip_addresses == {}
    [port] = pause_state.ports
    assert (await get(f"http://127.0.0.1:{port.host_port}/")).text == "hello-from-busybox\n"

    sidecar = await docker_runtime.create(
        ContainerSpec(
            name=name("side"), image=busybox_image, command=("sleep", "30"), labels=docker_labels
        )
    )
    await docker_runtime.connect_network(network, sidecar, aliases=("side",))
    await docker_runtime.start(sidecar)
    assert network_name in (await docker_runtime.inspect(sidecar)).ip_addresses
    await docker_runtime.remove(sidecar, force=True)

    with pytest.raises(Conflict):
        await docker_runtime.remove_network(network)
    await docker_runtime.remove(app, force=True)
    await docker_runtime.remove(pause, force=True)
    await docker_runtime.remove_network(network)


async def test_volumes_are_created_mounted_and_refused_removal_while_used(
    docker_runtime: DockerRuntime, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    volume = await docker_runtime.create_volume(name("vol"), labels=docker_labels)
    spec = ContainerSpec(
        name=name("user"),
        image=busybox_image,
        command=("sh", "-c", "echo x > /data/f"),
        labels=docker_labels,
        mounts=(Mount("/data", volume),),
    )
    container = await docker_runtime.create(spec)
    await docker_runtime.start(container)
    assert await docker_runtime.wait(container) == 0
    with pytest.raises(Conflict):
        await docker_runtime.remove_volume(volume)
    await docker_runtime.remove(container)
    await docker_runtime.remove_volume(volume)


async def test_event_iterators_end_when_the_runtime_is_closed(
    docker_labels: dict[str, str],
) -> None:
    runtime = DockerRuntime()
    seen: list[ContainerEvent] = []

    async def consume() -> None:
        async for event in runtime.events(labels={"openecs.test.group": uuid.uuid4().hex}):
            seen.append(event)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    await runtime.aclose()
    await asyncio.wait_for(consumer, 5)
    assert seen == []
