"""DockerClient on the real Docker Engine, one test per operation family.

Containers run `openecs-test/busybox`; traffic goes only to 127.0.0.1 ports the
test published or between containers on networks the test created.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from openecs.agent.docker_api import (
    MAX_API_VERSION,
    Conflict,
    DockerClient,
    DockerError,
    ImagePullError,
    NotFound,
)

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def docker(docker_labels: dict[str, str]) -> AsyncIterator[DockerClient]:
    async with DockerClient() as client:
        yield client


def unique(prefix: str) -> str:
    return f"openecs-test-{prefix}-{uuid.uuid4().hex[:10]}"


def config(image: str, labels: dict[str, str], *cmd: str, **extra: Any) -> dict[str, Any]:
    return {"Image": image, "Cmd": list(cmd), "Labels": dict(labels), **extra}


async def run(docker: DockerClient, body: dict[str, Any], name: str | None = None) -> str:
    container = await docker.container_create(body, name=name or unique("c"))
    await docker.container_start(container)
    return container


async def http_get(url: str, deadline: float = 10.0) -> httpx.Response:
    """GET `url`, retrying while the server in the container is still starting."""
    async with httpx.AsyncClient(timeout=2.0) as client:
        give_up = time.monotonic() + deadline
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if time.monotonic() > give_up:
                    raise
                await asyncio.sleep(0.1)


HTTPD = (
    "mkdir -p /www && echo hello-from-busybox > /www/index.html && exec httpd -f -p 8080 -h /www"
)


async def test_ping_version_and_info_describe_the_engine(docker: DockerClient) -> None:
    await docker.ping()
    version = await docker.version()
    info = await docker.info()
    assert version["ApiVersion"]
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0
    negotiated = await docker.api_version()
    assert tuple(map(int, negotiated.split("."))) <= tuple(map(int, MAX_API_VERSION.split(".")))


async def test_image_inspect_and_exists(docker: DockerClient, busybox_image: str) -> None:
    image = await docker.image_inspect(busybox_image)
    assert image["Config"]["Cmd"] == ["sh"]
    assert not image["Config"].get("Entrypoint")
    assert await docker.image_exists(busybox_image)
    assert not await docker.image_exists("openecs-test/never-built:latest")
    with pytest.raises(NotFound):
        await docker.image_inspect("openecs-test/never-built:latest")


async def test_pull_from_an_unreachable_registry_fails_fast_with_dockers_reason(
    docker: DockerClient,
) -> None:
    # Port 1 on loopback refuses at once: no DNS, no traffic off the machine.
    image = "127.0.0.1:1/openecs-test/nothing:latest"
    started = time.monotonic()
    with pytest.raises(ImagePullError) as raised:
        await docker.image_pull(image, timeout=20)
    assert time.monotonic() - started < 10
    assert raised.value.image == image
    assert "connection refused" in raised.value.reason


async def test_image_build_from_a_tar_context_and_remove(
    docker: DockerClient, busybox_image: str
) -> None:
    tag = f"openecs-test/built:{uuid.uuid4().hex[:8]}"
    dockerfile = f'FROM {busybox_image}\nLABEL openecs.test="1"\nCMD ["echo", "built"]\n'.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    try:
        image_id = await docker.image_build(buffer.getvalue(), tag=tag)
        assert image_id.startswith("sha256:")
        assert (await docker.image_inspect(tag))["Config"]["Cmd"] == ["echo", "built"]
    finally:
        await docker.image_remove(tag, force=True)
    assert not await docker.image_exists(tag)
    with pytest.raises(DockerError, match="build of"):
        await docker.image_build(_context(b"FROM scratch\nRUN /no/such/binary\n"), tag=tag)


def _context(dockerfile: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    return buffer.getvalue()


async def test_create_start_wait_and_inspect_report_the_exit_code(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    name = unique("exit")
    container = await run(docker, config(busybox_image, docker_labels, "sh", "-c", "exit 42"), name)
    assert await docker.container_wait(container) == 42
    state = await docker.container_inspect(container)
    assert state["Name"] == f"/{name}"
    assert state["State"]["Status"] == "exited"
    assert state["State"]["ExitCode"] == 42
    assert state["Config"]["Labels"]["openecs.test"] == "1"


async def test_start_and_stop_are_idempotent(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    container = await run(docker, config(busybox_image, docker_labels, "sleep", "30"))
    await docker.container_start(container)
    await docker.container_kill(container)
    await docker.container_wait(container)
    await docker.container_stop(container, timeout=1)


async def test_stop_waits_out_the_timeout_for_a_sigterm_ignoring_process_then_kills(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    script = "trap '' TERM; while true; do sleep 0.1; done"
    container = await run(docker, config(busybox_image, docker_labels, "sh", "-c", script))
    started = time.monotonic()
    await docker.container_stop(container, timeout=2)
    elapsed = time.monotonic() - started
    state = (await docker.container_inspect(container))["State"]
    assert 2.0 <= elapsed < 10.0
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 137


async def test_stop_of_a_process_that_handles_sigterm_returns_at_once(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    script = "trap 'exit 7' TERM; while true; do sleep 0.1; done"
    container = await run(docker, config(busybox_image, docker_labels, "sh", "-c", script))
    await asyncio.sleep(0.3)  # let the shell install its trap
    started = time.monotonic()
    await docker.container_stop(container, timeout=10)
    assert time.monotonic() - started < 5
    assert (await docker.container_inspect(container))["State"]["ExitCode"] == 7


async def test_kill_sends_the_signal_and_conflicts_when_not_running(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    script = "trap 'exit 3' USR1; while true; do sleep 0.1; done"
    container = await run(docker, config(busybox_image, docker_labels, "sh", "-c", script))
    await asyncio.sleep(0.3)
    await docker.container_kill(container, signal="SIGUSR1")
    assert await docker.container_wait(container) == 3
    with pytest.raises(Conflict, match="is not running"):
        await docker.container_kill(container)


async def test_remove_needs_force_for_a_running_container(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    container = await run(docker, config(busybox_image, docker_labels, "sleep", "30"))
    with pytest.raises(Conflict, match="running container"):
        await docker.container_remove(container)
    await docker.container_remove(container, force=True, volumes=True)
    with pytest.raises(NotFound):
        await docker.container_inspect(container)


async def test_create_refuses_a_taken_name_and_a_missing_image(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    name = unique("dup")
    await docker.container_create(config(busybox_image, docker_labels, "true"), name=name)
    with pytest.raises(Conflict, match="already in use"):
        await docker.container_create(config(busybox_image, docker_labels, "true"), name=name)
    with pytest.raises(NotFound, match="No such image"):
        await docker.container_create(config("openecs-test/never-built:1", docker_labels))


async def test_list_filters_by_labels_and_includes_stopped_only_with_all(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    group = uuid.uuid4().hex
    mine = {**docker_labels, "openecs.test.group": group}
    running = await run(docker, config(busybox_image, {**mine, "role": "a"}, "sleep", "30"))
    created = await docker.container_create(config(busybox_image, {**mine, "role": "b"}, "true"))
    listed = await docker.container_list(all=True, labels={"openecs.test.group": group})
    assert {c["Id"] for c in listed} == {running, created}
    only_a = await docker.container_list(
        all=True, labels={"openecs.test.group": group, "role": "a"}
    )
    assert [c["Id"] for c in only_a] == [running]
    assert [c["Id"] for c in await docker.container_list(labels={"openecs.test.group": group})] == [
        running
    ]
    has_role = await docker.container_list(
        all=True, labels={"openecs.test.group": group, "role": None}
    )
    assert len(has_role) == 2


async def test_logs_keep_stdout_and_stderr_apart(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    script = "echo to-out; echo to-err >&2; echo more-out"
    container = await run(docker, config(busybox_image, docker_labels, "sh", "-c", script))
    await docker.container_wait(container)
    logs = await docker.container_logs(container)
    assert logs.stdout == b"to-out\nmore-out\n"
    assert logs.stderr == b"to-err\n"
    only_out = await docker.container_logs(container, stderr=False)
    assert (only_out.stdout, only_out.stderr) == (b"to-out\nmore-out\n", b"")
    # The two streams are separate pipes: which line is last is not fixed.
    last = await docker.container_logs(container, tail=1)
    assert (last.stdout + last.stderr).count(b"\n") == 1


async def test_stats_give_one_sample_of_a_running_container(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    limit = 64 * 1024 * 1024
    body = config(busybox_image, docker_labels, "sleep", "30", HostConfig={"Memory": limit})
    container = await run(docker, body)
    started = time.monotonic()
    stats = await docker.container_stats(container)
    assert time.monotonic() - started < 1.0
    assert stats["memory_stats"]["limit"] == limit
    assert stats["memory_stats"]["usage"] > 0
    assert stats["pids_stats"]["current"] >= 1
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0


async def test_events_stream_reports_start_and_die_with_the_exit_code(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    group = uuid.uuid4().hex
    labels = {**docker_labels, "openecs.test.group": group}
    events = docker.events(
        filters={"type": ["container"], "label": [f"openecs.test.group={group}"]}
    )
    container = await run(docker, config(busybox_image, labels, "sh", "-c", "exit 5"))
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(15):
        async for event in events:
            seen.append(event)
            if event["Action"] == "die":
                break
    await events.aclose()
    assert [e["Action"] for e in seen] == ["create", "start", "die"]
    assert {e["Actor"]["ID"] for e in seen} == {container}
    assert seen[-1]["Actor"]["Attributes"]["exitCode"] == "5"
    assert seen[-1]["Actor"]["Attributes"]["openecs.test.group"] == group


async def test_events_since_replays_what_happened_before_the_stream(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    group = uuid.uuid4().hex
    before = time.time()
    labels = {**docker_labels, "openecs.test.group": group}
    container = await docker.container_create(config(busybox_image, labels, "true"))
    filters = {"type": ["container"], "label": [f"openecs.test.group={group}"]}
    replayed = [
        e async for e in docker.events(since=before, until=time.time() + 1, filters=filters)
    ]
    assert [(e["Action"], e["Actor"]["ID"]) for e in replayed] == [("create", container)]


async def test_published_port_on_loopback_reaches_httpd_in_the_container(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    body = config(
        busybox_image,
        docker_labels,
        "sh",
        "-c",
        HTTPD,
        ExposedPorts={"8080/tcp": {}},
        HostConfig={"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}},
    )
    container = await run(docker, body)
    ports = (await docker.container_inspect(container))["NetworkSettings"]["Ports"]["8080/tcp"]
    assert ports[0]["HostIp"] == "127.0.0.1"
    response = await http_get(f"http://127.0.0.1:{ports[0]['HostPort']}/")
    assert response.status_code == 200
    assert response.text == "hello-from-busybox\n"


async def test_containers_on_a_created_network_reach_each_other_by_alias(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    name = unique("net")
    network = await docker.network_create(name, labels=docker_labels)
    with pytest.raises(Conflict):
        await docker.network_create(name, labels=docker_labels)
    # The server starts on the default bridge and joins the task network as a second one.
    server = await docker.container_create(config(busybox_image, docker_labels, "sh", "-c", HTTPD))
    await docker.network_connect(network, server, aliases=["web"])
    await docker.container_start(server)
    fetch = (
        "for i in $(seq 50); do wget -q -O - http://web:8080/ && exit 0; sleep 0.1; done; exit 1"
    )
    client = await run(
        docker,
        config(busybox_image, docker_labels, "sh", "-c", fetch, HostConfig={"NetworkMode": name}),
    )
    assert await docker.container_wait(client) == 0
    assert (await docker.container_logs(client)).stdout == b"hello-from-busybox\n"

    inspected = await docker.network_inspect(network)
    assert inspected["Name"] == name and inspected["Labels"] == docker_labels
    assert server in inspected["Containers"]
    assert [n["Name"] for n in await docker.network_list(labels=docker_labels)].count(name) == 1
    with pytest.raises(Conflict, match="active endpoints"):
        await docker.network_remove(network)
    await docker.network_disconnect(network, server, force=True)
    await docker.network_remove(network)
    with pytest.raises(NotFound):
        await docker.network_inspect(network)


async def test_a_volume_outlives_the_container_that_wrote_it(
    docker: DockerClient, busybox_image: str, docker_labels: dict[str, str]
) -> None:
    name = unique("vol")
    created = await docker.volume_create(name, labels=docker_labels)
    assert created["Name"] == name
    mounts = {"Mounts": [{"Type": "volume", "Source": name, "Target": "/data"}]}
    writer = await run(
        docker,
        config(busybox_image, docker_labels, "sh", "-c", "echo kept > /data/f", HostConfig=mounts),
    )
    assert await docker.container_wait(writer) == 0
    await docker.container_remove(writer)
    reader = await run(
        docker, config(busybox_image, docker_labels, "cat", "/data/f", HostConfig=mounts)
    )
    assert await docker.container_wait(reader) == 0
    assert (await docker.container_logs(reader)).stdout == b"kept\n"
    assert (await docker.volume_inspect(name))["Labels"] == docker_labels
    assert name in [v["Name"] for v in await docker.volume_list(labels=docker_labels)]
    with pytest.raises(Conflict, match="in use"):
        await docker.volume_remove(name)
    await docker.container_remove(reader)
    await docker.volume_remove(name)
    with pytest.raises(NotFound):
        await docker.volume_inspect(name)
