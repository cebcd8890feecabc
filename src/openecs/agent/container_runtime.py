"""The container runtime the agent's task runner drives, and the values it trades in.

`ContainerRuntime` is the whole interface: images, container lifecycle, state,
events, stats, networks and volumes. Two implementations exist:
`docker_runtime.DockerRuntime` (the Docker Engine) and `fake_runtime.FakeRuntime`
(in memory, for unit tests). Both raise the same errors, re-exported here from
`docker_api`:

    DockerError                 any refusal or failure
    ├── DockerUnavailable       the engine cannot be reached
    ├── NotFound                no such container / image / network / volume
    ├── Conflict                name in use, not running, still in use
    └── ImagePullError          a pull failed (`image`, Docker's `reason`)

Containers are addressed by id or name. Everything the runner needs to find its
containers again after a restart travels in labels (`ContainerSpec.labels`,
`list_by_labels`, the `labels` filter of `events`).
"""

from __future__ import annotations

import enum
import signal as signals
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from openecs.agent.docker_api import (
    Conflict,
    DockerError,
    DockerUnavailable,
    ImagePullError,
    NotFound,
)

__all__ = [
    "Conflict",
    "ContainerEvent",
    "ContainerRuntime",
    "ContainerSpec",
    "ContainerState",
    "ContainerStats",
    "ContainerStatus",
    "ContainerSummary",
    "DockerError",
    "DockerUnavailable",
    "EventAction",
    "HealthCheck",
    "HealthStatus",
    "HostInfo",
    "ImagePullError",
    "Mount",
    "NetworkInfo",
    "NotFound",
    "PortBinding",
    "PortMapping",
    "RegistryAuth",
    "Ulimit",
    "signal_name",
]


class ContainerStatus(enum.StrEnum):
    """Docker's `State.Status` values."""

    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


class HealthStatus(enum.StrEnum):
    """A container's health check result; NONE when it has no health check."""

    NONE = "none"
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class EventAction(enum.StrEnum):
    """The container events the runtime reports.

    RESYNC is not Docker's: the event stream was cut and resumed, so events may
    have been lost; whoever tracks containers re-lists them.
    """

    CREATE = "create"
    START = "start"
    KILL = "kill"
    DIE = "die"
    OOM = "oom"
    STOP = "stop"
    DESTROY = "destroy"
    HEALTH_STATUS = "health_status"
    RESYNC = "resync"


def signal_name(value: str | int) -> str:
    """`SIGTERM` for `SIGTERM`, `TERM`, `15` or 15; unknown values come back as given."""
    text = str(value).strip().upper()
    try:
        if text.isdigit():
            return signals.Signals(int(text)).name
        return signals.Signals[text if text.startswith("SIG") else f"SIG{text}"].name
    except (KeyError, ValueError):
        return str(value)


# -- what to run -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortMapping:
    """Publish `container_port`; `host_port` 0 takes a free port, `host_ip` None
    the runtime's configured host address."""

    container_port: int
    host_port: int = 0
    protocol: str = "tcp"
    host_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Mount:
    """`kind` is `volume` (source = volume name), `bind` (source = host path) or `tmpfs`."""

    target: str
    source: str = ""
    kind: str = "volume"
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """ECS's healthCheck: `command` is `["CMD-SHELL", "..."]` or `["CMD", ...]`."""

    command: tuple[str, ...]
    interval: float = 30.0
    timeout: float = 5.0
    retries: int = 3
    start_period: float = 0.0


@dataclass(frozen=True, slots=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    username: str
    password: str
    server_address: str = ""


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """One container to create, in ECS's vocabulary rather than Docker's.

    `network_mode` is `bridge`, `host`, `none`, a network name or
    `container:<id>` (share another container's namespace, as awsvpc tasks do);
    `network_aliases` apply on a named network. Memory is in bytes; `cpu_shares`
    is Docker's relative weight (ECS `cpu` units map 1:1); `nano_cpus` is a hard
    CPU limit in billionths of a CPU. `cgroup_parent` places the container's
    cgroup under an existing one (a task's, carrying the task-level limits).
    `stop_timeout` is the seconds between SIGTERM and SIGKILL when the container
    is stopped.
    """

    name: str
    image: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    user: str | None = None
    hostname: str | None = None
    ports: tuple[PortMapping, ...] = ()
    mounts: tuple[Mount, ...] = ()
    network_mode: str = "bridge"
    network_aliases: tuple[str, ...] = ()
    health_check: HealthCheck | None = None
    memory_bytes: int | None = None
    memory_reservation_bytes: int | None = None
    cpu_shares: int | None = None
    nano_cpus: int | None = None
    cgroup_parent: str | None = None
    stop_signal: str | None = None
    stop_timeout: int | None = None
    init: bool = False
    privileged: bool = False
    read_only_root_filesystem: bool = False
    ulimits: tuple[Ulimit, ...] = ()
    extra_hosts: Mapping[str, str] = field(default_factory=dict)
    dns_servers: tuple[str, ...] = ()
    dns_search_domains: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    log_driver: str | None = None
    log_options: Mapping[str, str] = field(default_factory=dict)
    tty: bool = False
    interactive: bool = False


# -- what the runtime reports ------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortBinding:
    """A published port: `host_ip:host_port` on the host reaches `container_port`."""

    container_port: int
    protocol: str
    host_ip: str
    host_port: int


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    """A container as a listing shows it: enough to decide whether to inspect."""

    id: str
    name: str
    image: str
    labels: Mapping[str, str]
    status: ContainerStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ContainerState:
    """A container as inspect shows it.

    `exit_code` is set once the container has exited. `ip_addresses` maps each
    network the container is on to its address there. `error` is the engine's
    reason a start failed, empty otherwise.
    """

    id: str
    name: str
    image: str
    labels: Mapping[str, str]
    status: ContainerStatus
    exit_code: int | None
    started_at: datetime | None
    finished_at: datetime | None
    health: HealthStatus
    ports: tuple[PortBinding, ...]
    ip_addresses: Mapping[str, str]
    oom_killed: bool
    error: str
    pid: int | None

    @property
    def running(self) -> bool:
        return self.status is ContainerStatus.RUNNING


@dataclass(frozen=True, slots=True)
class ContainerEvent:
    """Something happened to a container. `exit_code` comes with DIE, `health`
    with HEALTH_STATUS, `signal` with KILL. `time` is epoch seconds."""

    action: EventAction
    container_id: str
    name: str
    labels: Mapping[str, str]
    time: float
    exit_code: int | None = None
    health: HealthStatus | None = None
    signal: str | None = None


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """One resource sample. CPU counters are cumulative nanoseconds: a rate
    needs two samples. Memory usage excludes reclaimable page cache, as
    `docker stats` shows it."""

    read_at: datetime
    cpu_total_ns: int
    system_cpu_ns: int
    online_cpus: int
    memory_usage_bytes: int
    memory_limit_bytes: int
    network_rx_bytes: int
    network_tx_bytes: int
    block_read_bytes: int
    block_write_bytes: int
    pids: int


@dataclass(frozen=True, slots=True)
class NetworkInfo:
    """A network; `containers` maps attached container ids to their IPv4 address."""

    id: str
    name: str
    driver: str
    labels: Mapping[str, str]
    internal: bool
    subnets: tuple[str, ...]
    gateways: tuple[str, ...]
    containers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HostInfo:
    """What the host offers, for registering it as capacity. `cgroup_driver` is
    the engine's (`cgroupfs`, `systemd`; empty when unknown)."""

    cpus: int
    memory_bytes: int
    engine_version: str
    operating_system: str
    architecture: str
    cgroup_driver: str = ""


# -- the interface -----------------------------------------------------------


class ContainerRuntime(Protocol):
    """Runs containers. Every method may raise DockerUnavailable."""

    async def host_info(self) -> HostInfo: ...

    async def image_exists(self, image: str) -> bool: ...

    async def pull(self, image: str, *, auth: RegistryAuth | None = None) -> None:
        """Fetch `image`; ImagePullError with the registry's reason on failure."""
        ...

    async def build_image(self, tag: str, context: bytes) -> str:
        """Build `tag` from a tar build context (Dockerfile at its root); the
        image id. For images made on the host, since registries may be out of reach."""
        ...

    async def create(self, spec: ContainerSpec) -> str:
        """Create (not start) a container; its id. NotFound for a missing image,
        Conflict for a name in use."""
        ...

    async def start(self, container: str) -> None:
        """Start; no-op when running. A failed start raises DockerError and
        leaves the reason in `ContainerState.error`."""
        ...

    async def stop(self, container: str, *, timeout: int | None = None) -> None:
        """Stop signal, then SIGKILL after `timeout` s (default: the spec's
        `stop_timeout`, else 10); returns once exited. No-op when not running."""
        ...

    async def kill(self, container: str, signal: str = "SIGKILL") -> None:
        """Send a signal; Conflict when not running."""
        ...

    async def wait(self, container: str) -> int:
        """Block until the container is not running; its exit code."""
        ...

    async def remove(self, container: str, *, force: bool = False) -> None:
        """Remove with its anonymous volumes; Conflict when running unless `force`."""
        ...

    async def inspect(self, container: str) -> ContainerState: ...

    async def list_by_labels(
        self, labels: Mapping[str, str], *, include_stopped: bool = True
    ) -> list[ContainerSummary]:
        """Containers that carry all of `labels`."""
        ...

    def events(
        self, *, labels: Mapping[str, str] | None = None, since: float | None = None
    ) -> AsyncGenerator[ContainerEvent, None]:
        """Container events from the moment of this call (or from `since`,
        epoch seconds), for containers carrying all of `labels`. Reconnects by itself and yields
        RESYNC when it did. Ends when the runtime is closed."""
        ...

    async def stats(self, container: str) -> ContainerStats: ...

    async def create_network(
        self, name: str, *, labels: Mapping[str, str] | None = None, internal: bool = False
    ) -> str:
        """A bridge network; its id. Conflict for a name in use."""
        ...

    async def inspect_network(self, network: str) -> NetworkInfo: ...

    async def connect_network(
        self, network: str, container: str, *, aliases: tuple[str, ...] = ()
    ) -> None: ...

    async def disconnect_network(self, network: str, container: str) -> None: ...

    async def remove_network(self, network: str) -> None:
        """Conflict while running containers are attached."""
        ...

    async def create_volume(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        driver: str = "local",
        driver_options: Mapping[str, str] | None = None,
    ) -> str:
        """Create a volume (an existing name is reused); its name."""
        ...

    async def remove_volume(self, name: str, *, force: bool = False) -> None:
        """Conflict while a container uses it."""
        ...

    async def aclose(self) -> None:
        """Release connections; running event iterators end."""
        ...
