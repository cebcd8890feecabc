"""DockerClient against scripted Engine answers (httpx.MockTransport), and the
Docker-to-typed translations of DockerRuntime."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from openecs.agent.container_runtime import (
    ContainerSpec,
    ContainerStatus,
    EventAction,
    HealthCheck,
    HealthStatus,
    Mount,
    PortMapping,
    Ulimit,
)
from openecs.agent.docker_api import (
    RECONNECTED,
    Conflict,
    DockerClient,
    DockerError,
    DockerUnavailable,
    ImagePullError,
    NotFound,
    split_image_reference,
)
from openecs.agent.docker_runtime import (
    container_config,
    parse_container_state,
    parse_event,
    parse_stats,
)

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler, **kwargs: Any) -> DockerClient:
    return DockerClient(transport=httpx.MockTransport(handler), **kwargs)


def version_answer(api_version: str) -> httpx.Response:
    return httpx.Response(200, json={"ApiVersion": api_version, "Version": "99.0"})


async def test_api_version_is_negotiated_once_and_capped() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/version":
            return version_answer("1.99")
        return httpx.Response(200, json={"ok": True})

    async with client_for(handler) as docker:
        await docker.info()
        await docker.info()
        assert await docker.api_version() == "1.43"
    assert paths == ["/version", "/v1.43/info", "/v1.43/info"]


async def test_server_api_below_the_cap_is_used_as_is() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return version_answer("1.41")

    async with client_for(handler) as docker:
        assert await docker.api_version() == "1.41"


async def test_too_old_engine_is_refused() -> None:
    async with client_for(lambda request: version_answer("1.24")) as docker:
        with pytest.raises(DockerError, match="too old"):
            await docker.info()


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, NotFound), (409, Conflict), (500, DockerError), (400, DockerError)],
)
async def test_error_answers_map_to_the_exception_tree_with_dockers_message(
    status: int, error: type[DockerError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"message": "what docker said"})

    async with client_for(handler, api_version="1.41") as docker:
        with pytest.raises(error) as raised:
            await docker.container_inspect("c1")
    assert raised.value.message == "what docker said"
    assert raised.value.status_code == status


async def test_network_states_docker_forbids_are_conflicts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "network n has active endpoints"})

    async with client_for(handler, api_version="1.41") as docker:
        with pytest.raises(Conflict, match="active endpoints"):
            await docker.network_remove("n")


async def test_unreachable_daemon_is_docker_unavailable() -> None:
    async with DockerClient(socket_path="/nonexistent/openecs-docker.sock") as docker:
        with pytest.raises(DockerUnavailable, match="did not answer"):
            await docker.ping()


async def test_already_started_and_already_stopped_are_success() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(304)

    async with client_for(handler, api_version="1.41") as docker:
        await docker.container_start("c1")
        await docker.container_stop("c1", timeout=1)


async def test_create_sends_name_and_config_and_returns_the_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"Id": "abc", "Warnings": []})

    async with client_for(handler, api_version="1.41") as docker:
        assert await docker.container_create({"Image": "x"}, name="web") == "abc"
    assert seen[0].url.params["name"] == "web"
    assert json.loads(seen[0].content) == {"Image": "x"}


async def test_list_combines_label_and_raw_filters() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    async with client_for(handler, api_version="1.41") as docker:
        await docker.container_list(all=True, labels={"a": "1", "b": None}, filters={"name": ["x"]})
    params = seen[0].url.params
    assert params["all"] == "true"
    assert json.loads(params["filters"]) == {"name": ["x"], "label": ["a=1", "b"]}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("busybox", ("busybox", "latest")),
        ("busybox:1.36", ("busybox", "1.36")),
        ("127.0.0.1:5000/team/app", ("127.0.0.1:5000/team/app", "latest")),
        ("127.0.0.1:5000/team/app:v2", ("127.0.0.1:5000/team/app", "v2")),
        ("app@sha256:abcd", ("app", "sha256:abcd")),
    ],
)
def test_image_references_split_into_name_and_tag(image: str, expected: tuple[str, str]) -> None:
    assert split_image_reference(image) == expected


def pull_stream(*messages: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(m).encode() + b"\r\n" for m in messages)


async def test_pull_reports_progress_and_sends_the_tag_and_auth() -> None:
    seen: list[httpx.Request] = []
    body = pull_stream({"status": "Pulling fs layer", "id": "l1"}, {"status": "Downloaded"})

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body)

    progress: list[dict[str, Any]] = []
    async with client_for(handler, api_version="1.41") as docker:
        await docker.image_pull("app", auth={"username": "u"}, on_progress=progress.append)
    assert seen[0].url.params["fromImage"] == "app"
    assert seen[0].url.params["tag"] == "latest"
    assert "X-Registry-Auth" in seen[0].headers
    assert [m["status"] for m in progress] == ["Pulling fs layer", "Downloaded"]


async def test_pull_error_inside_the_stream_is_image_pull_error() -> None:
    body = pull_stream(
        {"status": "Pulling"},
        {"error": "short", "errorDetail": {"message": "manifest for app:9 not found"}},
    )
    async with client_for(lambda r: httpx.Response(200, content=body), api_version="1.41") as d:
        with pytest.raises(ImagePullError) as raised:
            await d.image_pull("app:9")
    assert raised.value.image == "app:9"
    assert raised.value.reason == "manifest for app:9 not found"


async def test_pull_refused_up_front_is_image_pull_error_not_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"message": "pull access denied for app"})

    async with client_for(handler, api_version="1.41") as docker:
        with pytest.raises(ImagePullError, match="pull access denied") as raised:
            await docker.image_pull("app")
    assert raised.value.status_code == 404


async def test_image_exists_is_false_on_not_found() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "missing" in request.url.path:
            return httpx.Response(404, json={"message": "No such image"})
        return httpx.Response(200, json={"Id": "sha256:1"})

    async with client_for(handler, api_version="1.41") as docker:
        assert await docker.image_exists("present")
        assert not await docker.image_exists("missing")


async def test_logs_are_demultiplexed_into_stdout_and_stderr() -> None:
    def frame(stream: int, data: bytes) -> bytes:
        return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data

    body = frame(1, b"out1\n") + frame(2, b"err\n") + frame(1, b"out2\n")
    async with client_for(lambda r: httpx.Response(200, content=body), api_version="1.41") as d:
        logs = await d.container_logs("c1")
    assert logs.stdout == b"out1\nout2\n"
    assert logs.stderr == b"err\n"


def event(action: str, nanos: int, container: str = "c1") -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": container, "Attributes": {"name": "web"}},
        "time": nanos // 10**9,
        "timeNano": nanos,
    }


async def test_events_resume_after_a_cut_without_repeating_and_mark_the_reconnect() -> None:
    base = 1_700_000_000 * 10**9
    sinces: list[str] = []

    async def cut_stream() -> AsyncIterator[bytes]:
        yield (json.dumps(event("create", base + 1)) + "\n").encode()
        yield (json.dumps(event("start", base + 2)) + "\n").encode()
        raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        sinces.append(request.url.params["since"])
        if len(sinces) == 1:
            return httpx.Response(200, content=cut_stream())
        replay = [event("start", base + 2), event("die", base + 2), event("destroy", base + 3)]
        return httpx.Response(200, content="".join(json.dumps(e) + "\n" for e in replay))

    seen: list[str] = []
    async with client_for(handler, api_version="1.41") as docker:
        stream = docker.events(since=base / 10**9, reconnect=True, retry_delay=0.01)
        async for item in stream:
            seen.append(str(item.get("Action", item["Type"])))
            if len(seen) == 5:
                break
        await stream.aclose()
    assert seen == ["create", "start", RECONNECTED, "die", "destroy"]
    assert sinces[1] == "1700000000.000000002"


async def test_events_without_reconnect_raise_when_cut() -> None:
    async def cut_stream() -> AsyncIterator[bytes]:
        yield b""
        raise httpx.ReadError("connection reset")

    async with client_for(
        lambda r: httpx.Response(200, content=cut_stream()), api_version="1.41"
    ) as d:
        with pytest.raises(DockerUnavailable):
            async for _ in d.events():
                pass


# -- DockerRuntime's translations -------------------------------------------------


def test_container_config_translates_the_spec_into_dockers_create_body() -> None:
    spec = ContainerSpec(
        name="web",
        image="app:1",
        command=("httpd", "-f"),
        environment={"A": "1"},
        labels={"task": "t1"},
        ports=(PortMapping(80), PortMapping(53, 5353, "udp", "0.0.0.0")),
        mounts=(Mount("/data", "vol"), Mount("/tmp", kind="tmpfs")),
        network_mode="task-net",
        network_aliases=("web",),
        health_check=HealthCheck(("CMD-SHELL", "true"), interval=10, timeout=2, retries=4),
        memory_bytes=512 * 1024**2,
        cpu_shares=256,
        stop_timeout=7,
        init=True,
        ulimits=(Ulimit("nofile", 1024, 2048),),
        extra_hosts={"db": "10.0.0.2"},
    )
    config = container_config(spec, host_ip="127.0.0.1")
    assert config["Cmd"] == ["httpd", "-f"]
    assert "Entrypoint" not in config
    assert config["Env"] == ["A=1"]
    assert config["Labels"] == {"task": "t1"}
    assert config["StopTimeout"] == 7
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    host = config["HostConfig"]
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
    }
    assert host["Mounts"] == [
        {"Type": "volume", "Source": "vol", "Target": "/data", "ReadOnly": False},
        {"Type": "tmpfs", "Target": "/tmp", "ReadOnly": False},
    ]
    assert host["NetworkMode"] == "task-net"
    assert host["Memory"] == 512 * 1024**2 and host["CpuShares"] == 256 and host["Init"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["ExtraHosts"] == ["db:10.0.0.2"]
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 10 * 10**9,
        "Timeout": 2 * 10**9,
        "Retries": 4,
        "StartPeriod": 0,
    }
    assert config["NetworkingConfig"] == {"EndpointsConfig": {"task-net": {"Aliases": ["web"]}}}


def test_container_config_gives_no_aliases_outside_named_networks() -> None:
    spec = ContainerSpec(name="a", image="x", network_mode="container:p", network_aliases=("a",))
    assert "NetworkingConfig" not in container_config(spec)


def test_inspect_of_an_exited_container_parses_times_ports_and_health() -> None:
    raw = {
        "Id": "c1",
        "Name": "/web",
        "Config": {"Image": "app:1", "Labels": {"task": "t1"}},
        "State": {
            "Status": "exited",
            "ExitCode": 3,
            "OOMKilled": False,
            "Error": "",
            "Pid": 0,
            "StartedAt": "2025-01-02T03:04:05.123456789Z",
            "FinishedAt": "2025-01-02T03:04:06Z",
            "Health": {"Status": "unhealthy"},
        },
        "NetworkSettings": {
            "Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}], "81/tcp": None},
            "Networks": {"bridge": {"IPAddress": "172.17.0.2"}, "other": {"IPAddress": ""}},
        },
    }
    state = parse_container_state(raw)
    assert (state.name, state.status, state.exit_code) == ("web", ContainerStatus.EXITED, 3)
    assert state.started_at == datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert state.finished_at == datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC)
    assert state.health is HealthStatus.UNHEALTHY
    assert [(p.container_port, p.host_port) for p in state.ports] == [(80, 49153)]
    assert state.ip_addresses == {"bridge": "172.17.0.2"}
    assert state.pid is None


def test_inspect_of_a_created_container_has_no_exit_code_or_times() -> None:
    raw = {
        "Id": "c1",
        "Name": "/web",
        "State": {"Status": "created", "ExitCode": 0, "StartedAt": "0001-01-01T00:00:00Z"},
    }
    state = parse_container_state(raw)
    assert state.exit_code is None and state.started_at is None
    assert state.health is HealthStatus.NONE


def test_events_parse_exit_codes_signals_health_and_labels() -> None:
    die = parse_event(
        {
            "Type": "container",
            "Action": "die",
            "Actor": {"ID": "c1", "Attributes": {"name": "web", "exitCode": "3", "task": "t1"}},
            "timeNano": 1_700_000_000_500_000_000,
        }
    )
    assert die is not None
    assert (die.action, die.exit_code, die.labels, die.time) == (
        EventAction.DIE,
        3,
        {"task": "t1"},
        1_700_000_000.5,
    )
    kill = parse_event(
        {
            "Type": "container",
            "Action": "kill",
            "Actor": {"ID": "c1", "Attributes": {"signal": "15"}},
        }
    )
    assert kill is not None and kill.signal == "SIGTERM"
    health = parse_event({"Type": "container", "Action": "health_status: healthy", "Actor": {}})
    assert health is not None and health.health is HealthStatus.HEALTHY
    assert parse_event({"Type": "container", "Action": "exec_start: sh", "Actor": {}}) is None
    assert parse_event({"Type": "network", "Action": "create"}) is None
    resync = parse_event({"Type": RECONNECTED, "time": 5.0})
    assert resync is not None and resync.action is EventAction.RESYNC


@pytest.mark.parametrize(
    "memory_detail",
    [{"total_inactive_file": 100}, {"inactive_file": 100}],
    ids=["cgroup-v1", "cgroup-v2"],
)
def test_stats_subtract_page_cache_and_sum_networks_and_block_io(
    memory_detail: dict[str, int],
) -> None:
    raw = {
        "read": "2025-01-02T03:04:05.5Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 50}, "system_cpu_usage": 900, "online_cpus": 2},
        "memory_stats": {"usage": 1100, "limit": 4096, "stats": memory_detail},
        "networks": {
            "eth0": {"rx_bytes": 1, "tx_bytes": 2},
            "eth1": {"rx_bytes": 3, "tx_bytes": 4},
        },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"op": "Read", "value": 7},
                {"op": "write", "value": 9},
                {"op": "Total", "value": 16},
            ]
        },
        "pids_stats": {"current": 3},
    }
    stats = parse_stats(raw)
    assert stats.memory_usage_bytes == 1000
    assert (stats.network_rx_bytes, stats.network_tx_bytes) == (4, 6)
    assert (stats.block_read_bytes, stats.block_write_bytes) == (7, 9)
    assert (stats.cpu_total_ns, stats.system_cpu_ns, stats.online_cpus, stats.pids) == (
        50,
        900,
        2,
        3,
    )
