"""ECS container definitions → runtime ContainerSpecs (pure translation).

Network modes: `bridge` publishes mapped ports (hostPort 0 or absent: a
dynamic port), `host` shares the host's network, `awsvpc` joins the task's
own namespace (held by its pause container, which publishes the ports),
`none` has no network.

Task-level `cpu` and `memory` are the limits of the task's cgroup when it has
one (`TaskContext.cgroup_parent`, see `task_cgroups`): every container goes
inside it and keeps only its own limits. Without one, each container gets the
task's memory as its hard limit (unless it sets its own) and the task's CPU as
a CPU limit: no container can exceed the task, though together they may.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openecs.agent import labels as L
from openecs.agent.container_runtime import (
    ContainerSpec,
    HealthCheck,
    Mount,
    PortMapping,
    Ulimit,
)

__all__ = ["TaskContext", "container_spec", "pause_spec", "port_mappings"]

_MIB = 1024 * 1024
# ECS counts 1024 CPU units per CPU; Docker's NanoCpus 1e9.
_CPU_UNITS = 1024
_NANO_CPUS = 1_000_000_000
DEFAULT_STOP_TIMEOUT = 30


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What every container of a task shares."""

    task_arn: str
    task_id: str
    cluster: str
    family: str
    revision: str
    agent_id: str
    network_mode: str
    host_ip: str
    metadata_uri: str = ""
    agent_uri: str = ""
    pause_container: str | None = None
    volumes: Mapping[str, str] | None = None
    task_cpu: int = 0
    task_memory: int = 0
    allow_privileged: bool = False
    # The task's cgroup (holding the task-level limits); None: limit each container.
    cgroup_parent: str | None = None

    def labels(self, container_name: str) -> dict[str, str]:
        return {
            L.TASK_ARN: self.task_arn,
            L.CONTAINER_NAME: container_name,
            L.CLUSTER: self.cluster,
            L.TASK_FAMILY: self.family,
            L.TASK_REVISION: self.revision,
            L.AGENT: self.agent_id,
        }

    def container_name(self, name: str) -> str:
        # Docker names must be unique per engine: task id + container name.
        return f"ecs-{self.family}-{self.revision}-{name}-{self.task_id}"[:250]


def port_mappings(definition: Mapping[str, Any], ctx: TaskContext) -> tuple[PortMapping, ...]:
    out = []
    for pm in definition.get("portMappings") or ():
        container_port = pm.get("containerPort")
        if not container_port:
            continue
        host_port = pm.get("hostPort") or 0
        if ctx.network_mode == "awsvpc":
            # Each task has its own namespace; on the shared host its ports go on dynamic ports.
            host_port = 0
        out.append(
            PortMapping(
                int(container_port),
                int(host_port),
                pm.get("protocol", "tcp"),
                ctx.host_ip,
            )
        )
    return tuple(out)


def _health(definition: Mapping[str, Any]) -> HealthCheck | None:
    hc = definition.get("healthCheck")
    if not hc or not hc.get("command"):
        return None
    return HealthCheck(
        command=tuple(hc["command"]),
        interval=float(hc.get("interval", 30)),
        timeout=float(hc.get("timeout", 5)),
        retries=int(hc.get("retries", 3)),
        start_period=float(hc.get("startPeriod", 0)),
    )


def _environment(
    definition: Mapping[str, Any], override: Mapping[str, Any], ctx: TaskContext
) -> dict[str, str]:
    name = definition["name"]
    env = {
        e["name"]: str(e.get("value", ""))
        for e in definition.get("environment") or ()
        if "name" in e
    }
    env.update(
        {
            e["name"]: str(e.get("value", ""))
            for e in override.get("environment") or ()
            if "name" in e
        }
    )
    if ctx.metadata_uri:
        # One path per container: the endpoint knows who is asking by the path.
        env.setdefault("ECS_CONTAINER_METADATA_URI_V4", f"{ctx.metadata_uri}/{name}")
        env.setdefault("ECS_CONTAINER_METADATA_URI", f"{ctx.metadata_uri}/{name}")
    if ctx.agent_uri:
        env.setdefault("ECS_AGENT_URI", ctx.agent_uri)
    return env


def _mounts(definition: Mapping[str, Any], ctx: TaskContext) -> tuple[Mount, ...]:
    volumes = ctx.volumes or {}
    out = []
    for mp in definition.get("mountPoints") or ():
        source = volumes.get(mp.get("sourceVolume", ""))
        if source is None or not mp.get("containerPath"):
            continue
        kind = "bind" if source.startswith("/") else "volume"
        out.append(Mount(mp["containerPath"], source, kind, bool(mp.get("readOnly", False))))
    return tuple(out)


def _ulimits(definition: Mapping[str, Any]) -> tuple[Ulimit, ...]:
    return tuple(
        Ulimit(u["name"], int(u["softLimit"]), int(u["hardLimit"]))
        for u in definition.get("ulimits") or ()
        if "name" in u
    )


def container_spec(
    definition: Mapping[str, Any], override: Mapping[str, Any], ctx: TaskContext
) -> ContainerSpec:
    """The runtime spec of one container of a task."""
    name = definition["name"]
    if ctx.network_mode == "awsvpc" and ctx.pause_container:
        network_mode = f"container:{ctx.pause_container}"
        ports: tuple[PortMapping, ...] = ()
    else:
        network_mode = {"host": "host", "none": "none"}.get(ctx.network_mode, "bridge")
        ports = port_mappings(definition, ctx) if network_mode == "bridge" else ()
    memory = override.get("memory", definition.get("memory"))
    soft = override.get("memoryReservation", definition.get("memoryReservation"))
    cpu = int(override.get("cpu", definition.get("cpu")) or 0)
    nano_cpus = None
    if ctx.cgroup_parent is None:
        # No task cgroup: each container is held to the task's size on its own.
        if memory is None and ctx.task_memory:
            memory = ctx.task_memory
        if ctx.task_cpu:
            nano_cpus = ctx.task_cpu * _NANO_CPUS // _CPU_UNITS
    linux = definition.get("linuxParameters") or {}
    caps = linux.get("capabilities") or {}
    log = definition.get("logConfiguration") or {}
    log_driver = log.get("logDriver")
    command = override.get("command", definition.get("command"))
    return ContainerSpec(
        name=ctx.container_name(name),
        image=definition.get("image", ""),
        command=tuple(command) if command else None,
        entrypoint=tuple(definition["entryPoint"]) if definition.get("entryPoint") else None,
        environment=_environment(definition, override, ctx),
        labels={**(definition.get("dockerLabels") or {}), **ctx.labels(name)},
        working_dir=definition.get("workingDirectory"),
        user=definition.get("user"),
        hostname=definition.get("hostname") if ctx.network_mode == "bridge" else None,
        ports=ports,
        mounts=_mounts(definition, ctx),
        network_mode=network_mode,
        health_check=_health(definition),
        memory_bytes=int(memory) * _MIB if memory else None,
        memory_reservation_bytes=int(soft) * _MIB if soft else None,
        # Docker wants at least 2 shares; ECS gives containers without cpu 2 as well.
        cpu_shares=max(cpu, 2),
        nano_cpus=nano_cpus,
        cgroup_parent=ctx.cgroup_parent,
        stop_timeout=int(definition.get("stopTimeout") or DEFAULT_STOP_TIMEOUT),
        init=bool(linux.get("initProcessEnabled", False)),
        privileged=bool(definition.get("privileged", False)) and ctx.allow_privileged,
        read_only_root_filesystem=bool(definition.get("readonlyRootFilesystem", False)),
        ulimits=_ulimits(definition),
        extra_hosts={h["hostname"]: h["ipAddress"] for h in definition.get("extraHosts") or ()},
        dns_servers=tuple(definition.get("dnsServers") or ()),
        dns_search_domains=tuple(definition.get("dnsSearchDomains") or ()),
        cap_add=tuple(caps.get("add") or ()),
        cap_drop=tuple(caps.get("drop") or ()),
        **_log_settings(log_driver, log.get("options") or {}),
        tty=bool(definition.get("pseudoTerminal", False)),
        interactive=bool(definition.get("interactive", False)),
    )


# awslogs: Docker keeps the output in json-file (bounded); the agent's LogShipper reads
# it back through the Engine API and ships it. Docker's own awslogs driver is never used.
AWSLOGS_LOCAL_OPTIONS = {"max-size": "10m", "max-file": "3"}


def _log_settings(driver: str | None, options: Mapping[str, str]) -> dict[str, Any]:
    if driver == "awslogs":
        return {"log_driver": "json-file", "log_options": dict(AWSLOGS_LOCAL_OPTIONS)}
    return {
        "log_driver": driver if driver in ("json-file", "none", "local") else None,
        "log_options": dict(options) if driver in ("json-file", "local") else {},
    }


def pause_spec(
    ctx: TaskContext, image: str, ports: tuple[PortMapping, ...], network: str
) -> ContainerSpec:
    """The container that holds an awsvpc task's network namespace and its published ports."""
    return ContainerSpec(
        name=ctx.container_name("internalecspause"),
        image=image,
        command=("sleep", "2147483647"),  # with the image's busybox entrypoint
        labels={**ctx.labels("~internal~ecs~pause"), L.ROLE: L.ROLE_PAUSE},
        ports=ports,
        network_mode=network,
        memory_bytes=16 * _MIB,
        cpu_shares=2,
        cgroup_parent=ctx.cgroup_parent,
        stop_timeout=1,
        init=False,
    )
