"""ECS container definitions become the runtime specs ECS would run."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from openecs.agent import labels as L
from openecs.agent.container_runtime import HealthCheck, Mount, PortMapping, Ulimit
from openecs.agent.container_specs import TaskContext, container_spec, pause_spec, port_mappings
from openecs.agent.docker_runtime import container_config

MIB = 1024 * 1024
TASK_ID = "0123456789abcdef0123456789abcdef"
METADATA = f"http://172.17.0.1:40000/v4/{TASK_ID}"


def ctx(network_mode: str = "bridge", **fields: Any) -> TaskContext:
    return TaskContext(
        task_arn=f"arn:aws:ecs:us-east-1:000000000000:task/c1/{TASK_ID}",
        task_id=TASK_ID,
        cluster="c1",
        family="web",
        revision="3",
        agent_id="agent-1",
        network_mode=network_mode,
        host_ip="127.0.0.1",
        metadata_uri=METADATA,
        agent_uri="http://172.17.0.1:40000/agent",
        **fields,
    )


def web(**fields: Any) -> dict[str, Any]:
    return {"name": "web", "image": "app:1", "essential": True, **fields}


PORTS = [
    {"containerPort": 80},
    {"containerPort": 443, "hostPort": 8443},
    {"containerPort": 53, "hostPort": 0, "protocol": "udp"},
]


# -- networking --------------------------------------------------------------------


def test_bridge_publishes_mapped_ports_with_dynamic_host_ports_where_none_is_given() -> None:
    spec = container_spec(web(portMappings=PORTS), {}, ctx("bridge"))
    assert spec.network_mode == "bridge"
    assert spec.ports == (
        PortMapping(80, 0, "tcp", "127.0.0.1"),
        PortMapping(443, 8443, "tcp", "127.0.0.1"),
        PortMapping(53, 0, "udp", "127.0.0.1"),
    )


def test_host_mode_shares_the_hosts_network_and_publishes_nothing() -> None:
    spec = container_spec(web(portMappings=PORTS, hostname="h1"), {}, ctx("host"))
    assert (spec.network_mode, spec.ports, spec.hostname) == ("host", (), None)


def test_none_mode_has_no_network() -> None:
    spec = container_spec(web(portMappings=PORTS), {}, ctx("none"))
    assert (spec.network_mode, spec.ports) == ("none", ())


def test_awsvpc_containers_join_the_pause_container_and_publish_nothing_themselves() -> None:
    spec = container_spec(web(portMappings=PORTS), {}, ctx("awsvpc", pause_container="p1"))
    assert (spec.network_mode, spec.ports) == ("container:p1", ())


def test_awsvpc_ports_always_go_on_dynamic_host_ports() -> None:
    # Every awsvpc task has its own namespace; on a shared host its ports cannot be fixed.
    assert [p.host_port for p in port_mappings(web(portMappings=PORTS), ctx("awsvpc"))] == [
        0,
        0,
        0,
    ]


def test_the_pause_container_publishes_the_tasks_ports_on_the_task_network() -> None:
    ports = port_mappings(web(portMappings=PORTS), ctx("awsvpc"))
    spec = pause_spec(ctx("awsvpc"), "openecs/pause:1", ports, "openecs-awsvpc")
    assert spec.network_mode == "openecs-awsvpc"
    assert spec.ports == ports
    assert spec.labels[L.CONTAINER_NAME] == "~internal~ecs~pause"
    assert spec.labels[L.ROLE] == L.ROLE_PAUSE
    assert spec.name == f"ecs-web-3-internalecspause-{TASK_ID}"


def test_hostname_applies_in_bridge_mode_only() -> None:
    assert container_spec(web(hostname="h1"), {}, ctx("bridge")).hostname == "h1"
    assert (
        container_spec(web(hostname="h1"), {}, ctx("awsvpc", pause_container="p")).hostname is None
    )


# -- resources ---------------------------------------------------------------------


def test_memory_and_reservation_are_mib_and_cpu_units_are_shares() -> None:
    spec = container_spec(web(memory=256, memoryReservation=128, cpu=512), {}, ctx())
    assert spec.memory_bytes == 256 * MIB
    assert spec.memory_reservation_bytes == 128 * MIB
    assert spec.cpu_shares == 512
    assert spec.nano_cpus is None
    assert spec.cgroup_parent is None


def test_overrides_win_over_the_definition() -> None:
    override = {"name": "web", "memory": 300, "cpu": 100, "command": ["echo", "hi"]}
    spec = container_spec(web(memory=256, cpu=512, command=["sleep", "1"]), override, ctx())
    assert (spec.memory_bytes, spec.cpu_shares, spec.command) == (300 * MIB, 100, ("echo", "hi"))


def test_a_container_without_cpu_gets_the_minimum_two_shares() -> None:
    assert container_spec(web(), {}, ctx()).cpu_shares == 2
    assert container_spec(web(cpu=0), {}, ctx()).cpu_shares == 2


def test_without_a_task_cgroup_each_container_is_held_to_the_task_size() -> None:
    sized = ctx("awsvpc", task_cpu=512, task_memory=1024)
    spec = container_spec(web(), {}, sized)
    assert spec.memory_bytes == 1024 * MIB
    assert spec.nano_cpus == 500_000_000
    own = container_spec(web(memory=64, cpu=128), {}, sized)
    assert own.memory_bytes == 64 * MIB  # its own, lower limit stays
    assert own.cpu_shares == 128


def test_with_a_task_cgroup_containers_keep_only_their_own_limits() -> None:
    sized = ctx("awsvpc", task_cpu=512, task_memory=1024, cgroup_parent=f"/openecs/{TASK_ID}")
    spec = container_spec(web(), {}, sized)
    assert spec.cgroup_parent == f"/openecs/{TASK_ID}"
    assert (spec.memory_bytes, spec.nano_cpus, spec.cpu_shares) == (None, None, 2)
    own = container_spec(web(memory=64), {}, sized)
    assert own.memory_bytes == 64 * MIB
    pause = pause_spec(sized, "openecs/pause:1", (), "openecs-awsvpc")
    assert pause.cgroup_parent == f"/openecs/{TASK_ID}"


def test_ulimits_are_passed_through() -> None:
    ulimits = [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]
    assert container_spec(web(ulimits=ulimits), {}, ctx()).ulimits == (
        Ulimit("nofile", 1024, 4096),
    )


# -- environment, labels, identity -----------------------------------------------------


def test_environment_merges_overrides_and_adds_the_metadata_uris() -> None:
    definition = web(environment=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    override = {"name": "web", "environment": [{"name": "B", "value": "3"}]}
    env = container_spec(definition, override, ctx()).environment
    assert env["A"] == "1"
    assert env["B"] == "3"
    assert env["ECS_CONTAINER_METADATA_URI_V4"] == f"{METADATA}/web"
    assert env["ECS_CONTAINER_METADATA_URI"] == f"{METADATA}/web"
    assert env["ECS_AGENT_URI"] == "http://172.17.0.1:40000/agent"


def test_a_container_may_set_its_own_metadata_uri() -> None:
    own = [{"name": "ECS_CONTAINER_METADATA_URI_V4", "value": "http://elsewhere"}]
    env = container_spec(web(environment=own), {}, ctx()).environment
    assert env["ECS_CONTAINER_METADATA_URI_V4"] == "http://elsewhere"


def test_task_labels_win_over_docker_labels() -> None:
    labels = {"team": "a", L.TASK_ARN: "forged"}
    spec = container_spec(web(dockerLabels=labels), {}, ctx())
    assert spec.labels["team"] == "a"
    assert spec.labels[L.TASK_ARN] == ctx().task_arn
    assert spec.labels[L.CONTAINER_NAME] == "web"
    assert spec.labels[L.AGENT] == "agent-1"


def test_container_names_are_deterministic_per_task() -> None:
    assert container_spec(web(), {}, ctx()).name == f"ecs-web-3-web-{TASK_ID}"


@pytest.mark.parametrize(("allowed", "expected"), [(True, True), (False, False)])
def test_privileged_only_where_the_agent_allows_it(allowed: bool, expected: bool) -> None:
    spec = container_spec(web(privileged=True), {}, ctx(allow_privileged=allowed))
    assert spec.privileged is expected


def test_unprivileged_stays_unprivileged_where_allowed() -> None:
    assert container_spec(web(), {}, ctx(allow_privileged=True)).privileged is False


def test_health_check_and_stop_timeout() -> None:
    check = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1}
    spec = container_spec(web(healthCheck=check, stopTimeout=7), {}, ctx())
    assert spec.health_check == HealthCheck(("CMD-SHELL", "true"), 5.0, 2.0, 1, 0.0)
    assert spec.stop_timeout == 7
    assert container_spec(web(), {}, ctx()).stop_timeout == 30


def test_linux_parameters_and_flags() -> None:
    definition = web(
        linuxParameters={"initProcessEnabled": True, "capabilities": {"add": ["NET_ADMIN"]}},
        readonlyRootFilesystem=True,
        entryPoint=["sh", "-c"],
        user="nobody",
        workingDirectory="/srv",
    )
    spec = container_spec(definition, {}, ctx())
    assert spec.init and spec.read_only_root_filesystem
    assert spec.cap_add == ("NET_ADMIN",)
    assert (spec.entrypoint, spec.user, spec.working_dir) == (("sh", "-c"), "nobody", "/srv")


def test_mount_points_resolve_task_volumes() -> None:
    volumes = {"data": "ecs-t-data", "host": "/srv/host"}
    mounts = [
        {"sourceVolume": "data", "containerPath": "/data"},
        {"sourceVolume": "host", "containerPath": "/host", "readOnly": True},
        {"sourceVolume": "unknown", "containerPath": "/nowhere"},
    ]
    spec = container_spec(web(mountPoints=mounts), {}, replace(ctx(), volumes=volumes))
    assert spec.mounts == (
        Mount("/data", "ecs-t-data", "volume", False),
        Mount("/host", "/srv/host", "bind", True),
    )


def test_only_local_log_drivers_are_configured() -> None:
    local = web(logConfiguration={"logDriver": "json-file", "options": {"max-size": "1m"}})
    spec = container_spec(local, {}, ctx())
    assert (spec.log_driver, dict(spec.log_options)) == ("json-file", {"max-size": "1m"})
    remote = web(logConfiguration={"logDriver": "splunk", "options": {"splunk-url": "u"}})
    spec = container_spec(remote, {}, ctx())
    assert (spec.log_driver, dict(spec.log_options)) == (None, {})


def test_awslogs_containers_log_to_bounded_json_files_the_agent_ships() -> None:
    awslogs = web(logConfiguration={"logDriver": "awslogs", "options": {"awslogs-group": "g"}})
    spec = container_spec(awslogs, {}, ctx())
    assert (spec.log_driver, dict(spec.log_options)) == (
        "json-file",
        {"max-size": "10m", "max-file": "3"},
    )


def test_task_cgroup_and_cpu_limit_reach_dockers_host_config() -> None:
    sized = ctx("awsvpc", task_cpu=512, task_memory=1024, cgroup_parent=f"/openecs/{TASK_ID}")
    host = container_config(container_spec(web(), {}, sized))["HostConfig"]
    assert host["CgroupParent"] == f"/openecs/{TASK_ID}"
    assert "NanoCpus" not in host and "Memory" not in host
    fallback = container_config(container_spec(web(), {}, ctx("awsvpc", task_cpu=512)))
    assert fallback["HostConfig"]["NanoCpus"] == 500_000_000
    assert "CgroupParent" not in fallback["HostConfig"]
