"""`ContainerRuntime` on the Docker Engine: a thin translation over `docker_api`.

Specs become Docker's create bodies (`container_config`); Docker's inspect,
list, stats and event objects become the typed values of `container_runtime`.
Each operation is one Engine call (create, start, stop...), so task start
latency stays that of Docker itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from openecs.agent.container_runtime import (
    ContainerEvent,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    ContainerSummary,
    EventAction,
    HealthStatus,
    HostInfo,
    NetworkInfo,
    PortBinding,
    RegistryAuth,
    signal_name,
)
from openecs.agent.docker_api import RECONNECTED, DockerClient

__all__ = [
    "DockerRuntime",
    "container_config",
    "parse_container_state",
    "parse_event",
    "parse_stats",
]

_NANOS = 1_000_000_000
_BUILTIN_NETWORK_MODES = {"bridge", "host", "none", "default"}
_EVENT_ACTIONS = ["create", "start", "kill", "die", "oom", "stop", "destroy", "health_status"]
# Event attributes Docker adds beside the container's labels.
_EVENT_ATTRIBUTES = {"name", "image", "exitCode", "signal"}


class DockerRuntime:
    """The Docker Engine as a ContainerRuntime.

    `host_ip` is where ports are published unless a mapping names its own.
    The runtime owns `client` (closed by `aclose`) unless one is passed in.

    At most `max_concurrent_starts` container creates and starts are in flight
    at once; the others queue here, in order. The daemon does that work on the
    host's CPUs, so more at once only makes each one slower: in a burst of 100
    awsvpc tasks on 2 CPUs, 200 unbounded starts queued in the daemon for over
    a minute and some hit the client's timeout, failing their tasks. A start
    that does not wait for others is not delayed at all.
    """

    def __init__(
        self,
        client: DockerClient | None = None,
        *,
        host_ip: str = "127.0.0.1",
        max_concurrent_starts: int = 4,
    ) -> None:
        self._owns_client = client is None
        self.client = client or DockerClient()
        self.host_ip = host_ip
        self._starts = asyncio.Semaphore(max_concurrent_starts)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def host_info(self) -> HostInfo:
        info = await self.client.info()
        return HostInfo(
            cpus=int(info.get("NCPU") or 0),
            memory_bytes=int(info.get("MemTotal") or 0),
            engine_version=str(info.get("ServerVersion") or ""),
            operating_system=str(info.get("OperatingSystem") or ""),
            architecture=str(info.get("Architecture") or ""),
            cgroup_driver=str(info.get("CgroupDriver") or ""),
        )

    async def image_exists(self, image: str) -> bool:
        return await self.client.image_exists(image)

    async def pull(self, image: str, *, auth: RegistryAuth | None = None) -> None:
        credentials = None
        if auth is not None:
            credentials = {"username": auth.username, "password": auth.password}
            if auth.server_address:
                credentials["serveraddress"] = auth.server_address
        await self.client.image_pull(image, auth=credentials)

    async def build_image(self, tag: str, context: bytes) -> str:
        return await self.client.image_build(context, tag=tag)

    async def create(self, spec: ContainerSpec) -> str:
        config = container_config(spec, host_ip=self.host_ip)
        async with self._starts:
            return await self.client.container_create(config, name=spec.name)

    async def start(self, container: str) -> None:
        async with self._starts:
            await self.client.container_start(container)

    async def stop(self, container: str, *, timeout: int | None = None) -> None:
        await self.client.container_stop(container, timeout=timeout)

    async def kill(self, container: str, signal: str = "SIGKILL") -> None:
        await self.client.container_kill(container, signal=signal)

    async def wait(self, container: str) -> int:
        return await self.client.container_wait(container)

    async def remove(self, container: str, *, force: bool = False) -> None:
        await self.client.container_remove(container, force=force, volumes=True)

    async def inspect(self, container: str) -> ContainerState:
        return parse_container_state(await self.client.container_inspect(container))

    async def list_by_labels(
        self, labels: Mapping[str, str], *, include_stopped: bool = True
    ) -> list[ContainerSummary]:
        items = await self.client.container_list(all=include_stopped, labels=dict(labels))
        return [_parse_summary(item) for item in items]

    def events(
        self, *, labels: Mapping[str, str] | None = None, since: float | None = None
    ) -> AsyncGenerator[ContainerEvent, None]:
        filters = {"type": ["container"], "event": _EVENT_ACTIONS}
        if labels:
            filters["label"] = [f"{key}={value}" for key, value in labels.items()]
        return self._events(self.client.events(since=since, filters=filters, reconnect=True))

    async def _events(
        self, raw_events: AsyncIterator[dict[str, Any]]
    ) -> AsyncGenerator[ContainerEvent, None]:
        async for raw in raw_events:
            event = parse_event(raw)
            if event is not None:
                yield event

    async def stats(self, container: str) -> ContainerStats:
        return parse_stats(await self.client.container_stats(container))

    async def create_network(
        self, name: str, *, labels: Mapping[str, str] | None = None, internal: bool = False
    ) -> str:
        return await self.client.network_create(name, labels=labels, internal=internal)

    async def inspect_network(self, network: str) -> NetworkInfo:
        raw = await self.client.network_inspect(network)
        ipam = (raw.get("IPAM") or {}).get("Config") or []
        containers = {
            container_id: str(endpoint.get("IPv4Address") or "").split("/")[0]
            for container_id, endpoint in (raw.get("Containers") or {}).items()
        }
        return NetworkInfo(
            id=str(raw["Id"]),
            name=str(raw["Name"]),
            driver=str(raw.get("Driver") or ""),
            labels=dict(raw.get("Labels") or {}),
            internal=bool(raw.get("Internal")),
            subnets=tuple(str(c["Subnet"]) for c in ipam if c.get("Subnet")),
            gateways=tuple(str(c["Gateway"]) for c in ipam if c.get("Gateway")),
            containers=containers,
        )

    async def connect_network(
        self, network: str, container: str, *, aliases: tuple[str, ...] = ()
    ) -> None:
        await self.client.network_connect(network, container, aliases=aliases)

    async def disconnect_network(self, network: str, container: str) -> None:
        await self.client.network_disconnect(network, container)

    async def remove_network(self, network: str) -> None:
        await self.client.network_remove(network)

    async def create_volume(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        driver: str = "local",
        driver_options: Mapping[str, str] | None = None,
    ) -> str:
        volume = await self.client.volume_create(
            name, driver=driver, labels=labels, driver_options=driver_options
        )
        return str(volume["Name"])

    async def remove_volume(self, name: str, *, force: bool = False) -> None:
        await self.client.volume_remove(name, force=force)


# -- spec -> Docker ------------------------------------------------------------


def container_config(spec: ContainerSpec, *, host_ip: str = "127.0.0.1") -> dict[str, Any]:
    """The body of `POST /containers/create` for `spec`."""
    host: dict[str, Any] = {"NetworkMode": spec.network_mode}
    config: dict[str, Any] = {
        "Image": spec.image,
        "Labels": dict(spec.labels),
        "Env": [f"{key}={value}" for key, value in spec.environment.items()],
        "Tty": spec.tty,
        "OpenStdin": spec.interactive,
        "HostConfig": host,
    }
    if spec.command is not None:
        config["Cmd"] = list(spec.command)
    if spec.entrypoint is not None:
        config["Entrypoint"] = list(spec.entrypoint)
    optional = {
        "WorkingDir": spec.working_dir,
        "User": spec.user,
        "Hostname": spec.hostname,
        "StopSignal": spec.stop_signal,
        "StopTimeout": spec.stop_timeout,
    }
    config.update({key: value for key, value in optional.items() if value is not None})
    if spec.health_check is not None:
        check = spec.health_check
        config["Healthcheck"] = {
            "Test": list(check.command),
            "Interval": int(check.interval * _NANOS),
            "Timeout": int(check.timeout * _NANOS),
            "Retries": check.retries,
            "StartPeriod": int(check.start_period * _NANOS),
        }
    if spec.ports:
        exposed: dict[str, dict[str, Any]] = {}
        bindings: dict[str, list[dict[str, str]]] = {}
        for port in spec.ports:
            key = f"{port.container_port}/{port.protocol}"
            exposed[key] = {}
            bindings.setdefault(key, []).append(
                {
                    "HostIp": port.host_ip or host_ip,
                    "HostPort": str(port.host_port) if port.host_port else "",
                }
            )
        config["ExposedPorts"] = exposed
        host["PortBindings"] = bindings
    if spec.mounts:
        host["Mounts"] = [
            {"Type": m.kind, "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
            if m.kind != "tmpfs"
            else {"Type": "tmpfs", "Target": m.target, "ReadOnly": m.read_only}
            for m in spec.mounts
        ]
    resources = {
        "Memory": spec.memory_bytes,
        "MemoryReservation": spec.memory_reservation_bytes,
        "CpuShares": spec.cpu_shares,
        "NanoCpus": spec.nano_cpus,
        "CgroupParent": spec.cgroup_parent,
    }
    host.update({key: value for key, value in resources.items() if value is not None})
    flags = {
        "Init": spec.init,
        "Privileged": spec.privileged,
        "ReadonlyRootfs": spec.read_only_root_filesystem,
    }
    host.update({key: True for key, value in flags.items() if value})
    if spec.ulimits:
        host["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in spec.ulimits]
    lists = {
        "ExtraHosts": [f"{name}:{ip}" for name, ip in spec.extra_hosts.items()],
        "Dns": list(spec.dns_servers),
        "DnsSearch": list(spec.dns_search_domains),
        "CapAdd": list(spec.cap_add),
        "CapDrop": list(spec.cap_drop),
    }
    host.update({key: value for key, value in lists.items() if value})
    if spec.log_driver:
        host["LogConfig"] = {"Type": spec.log_driver, "Config": dict(spec.log_options)}
    if spec.network_aliases and _is_named_network(spec.network_mode):
        endpoint = {"Aliases": list(spec.network_aliases)}
        config["NetworkingConfig"] = {"EndpointsConfig": {spec.network_mode: endpoint}}
    return config


def _is_named_network(mode: str) -> bool:
    return mode not in _BUILTIN_NETWORK_MODES and not mode.startswith("container:")


# -- Docker -> typed values ------------------------------------------------------


def _parse_time(value: object) -> datetime | None:
    """Docker's RFC 3339 times (nanoseconds, `Z`); its zero time means never."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:
        # Python keeps microseconds: cut Docker's nanoseconds to six digits.
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_ports(raw: Mapping[str, Any] | None) -> tuple[PortBinding, ...]:
    bindings: list[PortBinding] = []
    for key, published in (raw or {}).items():
        if not published:
            continue
        port, _, protocol = key.partition("/")
        for entry in published:
            bindings.append(
                PortBinding(
                    container_port=int(port),
                    protocol=protocol or "tcp",
                    host_ip=str(entry.get("HostIp") or ""),
                    host_port=int(entry.get("HostPort") or 0),
                )
            )
    return tuple(bindings)


def parse_container_state(raw: Mapping[str, Any]) -> ContainerState:
    """A ContainerState from Docker's inspect object."""
    state = raw.get("State") or {}
    config = raw.get("Config") or {}
    network = raw.get("NetworkSettings") or {}
    status = ContainerStatus(state.get("Status") or "created")
    exited = status in (ContainerStatus.EXITED, ContainerStatus.DEAD)
    health = (state.get("Health") or {}).get("Status") or "none"
    pid = int(state.get("Pid") or 0)
    return ContainerState(
        id=str(raw["Id"]),
        name=str(raw.get("Name") or "").lstrip("/"),
        image=str(config.get("Image") or ""),
        labels=dict(config.get("Labels") or {}),
        status=status,
        exit_code=int(state.get("ExitCode") or 0) if exited else None,
        started_at=_parse_time(state.get("StartedAt")),
        finished_at=_parse_time(state.get("FinishedAt")),
        health=_health(health),
        ports=_parse_ports(network.get("Ports")),
        ip_addresses={
            name: str(endpoint["IPAddress"])
            for name, endpoint in (network.get("Networks") or {}).items()
            if endpoint.get("IPAddress")
        },
        oom_killed=bool(state.get("OOMKilled")),
        error=str(state.get("Error") or ""),
        pid=pid or None,
    )


def _health(value: str) -> HealthStatus:
    try:
        return HealthStatus(value)
    except ValueError:
        return HealthStatus.NONE


def _parse_summary(raw: Mapping[str, Any]) -> ContainerSummary:
    names = raw.get("Names") or [""]
    return ContainerSummary(
        id=str(raw["Id"]),
        name=str(names[0]).lstrip("/"),
        image=str(raw.get("Image") or ""),
        labels=dict(raw.get("Labels") or {}),
        status=ContainerStatus(raw.get("State") or "created"),
        created_at=datetime.fromtimestamp(int(raw.get("Created") or 0), tz=UTC),
    )


def parse_event(raw: Mapping[str, Any]) -> ContainerEvent | None:
    """A ContainerEvent from one of Docker's event objects; None for other kinds."""
    if raw.get("Type") == RECONNECTED:
        return ContainerEvent(
            action=EventAction.RESYNC, container_id="", name="", labels={}, time=raw["time"]
        )
    if raw.get("Type") != "container":
        return None
    action_text = str(raw.get("Action") or "")
    name, _, detail = action_text.partition(":")
    try:
        action = EventAction(name)
    except ValueError:
        return None
    actor = raw.get("Actor") or {}
    attributes: Mapping[str, str] = actor.get("Attributes") or {}
    nanos = raw.get("timeNano")
    exit_code = attributes.get("exitCode")
    return ContainerEvent(
        action=action,
        container_id=str(actor.get("ID") or raw.get("id") or ""),
        name=str(attributes.get("name") or ""),
        labels={k: v for k, v in attributes.items() if k not in _EVENT_ATTRIBUTES},
        time=int(nanos) / _NANOS if nanos else float(raw.get("time") or 0),
        exit_code=int(exit_code) if action is EventAction.DIE and exit_code else None,
        health=_health(detail.strip()) if action is EventAction.HEALTH_STATUS else None,
        signal=signal_name(attributes.get("signal") or "") if action is EventAction.KILL else None,
    )


def parse_stats(raw: Mapping[str, Any]) -> ContainerStats:
    """A ContainerStats from Docker's stats object (cgroup v1 or v2)."""
    cpu = raw.get("cpu_stats") or {}
    memory = raw.get("memory_stats") or {}
    memory_detail = memory.get("stats") or {}
    cache = memory_detail.get("total_inactive_file", memory_detail.get("inactive_file", 0))
    usage = int(memory.get("usage") or 0)
    networks = (raw.get("networks") or {}).values()
    blkio = (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [])
    return ContainerStats(
        read_at=_parse_time(raw.get("read")) or datetime.fromtimestamp(0, tz=UTC),
        cpu_total_ns=int((cpu.get("cpu_usage") or {}).get("total_usage") or 0),
        system_cpu_ns=int(cpu.get("system_cpu_usage") or 0),
        online_cpus=int(online),
        memory_usage_bytes=max(usage - int(cache or 0), 0) if usage else 0,
        memory_limit_bytes=int(memory.get("limit") or 0),
        network_rx_bytes=sum(int(n.get("rx_bytes") or 0) for n in networks),
        network_tx_bytes=sum(int(n.get("tx_bytes") or 0) for n in networks),
        block_read_bytes=sum(int(e.get("value") or 0) for e in blkio if _op(e) == "read"),
        block_write_bytes=sum(int(e.get("value") or 0) for e in blkio if _op(e) == "write"),
        pids=int((raw.get("pids_stats") or {}).get("current") or 0),
    )


def _op(entry: Mapping[str, Any]) -> str:
    return str(entry.get("op") or "").lower()


if TYPE_CHECKING:
    _conforms: ContainerRuntime = DockerRuntime()
