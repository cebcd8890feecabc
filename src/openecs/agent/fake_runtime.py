"""An in-memory `ContainerRuntime` for unit tests, on an injected clock.

Containers move only when told to: by the runtime calls (create, start, stop,
kill, remove) or by the test (`exit`, `set_health`). Every change emits the
events Docker would emit, in Docker's order, into the same `events` iterator
the task runner consumes (stop: kill SIGTERM, [kill SIGKILL], die, stop).
Errors are the real ones (NotFound, Conflict, ImagePullError, DockerError).

Test controls:

* `add_image(image)`; `fail_pull(image, message)` makes pulls of it fail.
* `fail_start(container, message)`: the next start of that container (by name
  or id, before or after it exists) fails and leaves `error` set.
* `set_sigterm_exit(container, exit_code)`: what SIGTERM does (default 143;
  None ignores it, so `stop` ends in SIGKILL and 137).
* `exit(container, exit_code, oom_killed=False)`: the process ends by itself.
* `set_health(container, status)`; `set_stats(container, stats)`.
* `simulate_reconnect()`: every event iterator yields RESYNC.
* `spec_of(container)`: the ContainerSpec a container was created from.
* `pulls` and `builds` list the images pulled and built;
  `signals_received(container)` the signals sent.

LIMITATIONS: no time passes inside the fake (a SIGTERM-ignoring container is
killed at once, not after the stop timeout); IP addresses and host ports come
from simple counters; volumes hold no data.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from openecs.agent.container_runtime import (
    Conflict,
    ContainerEvent,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    ContainerSummary,
    DockerError,
    EventAction,
    HealthStatus,
    HostInfo,
    ImagePullError,
    NetworkInfo,
    NotFound,
    PortBinding,
    RegistryAuth,
    signal_name,
)
from openecs.agent.docker_api import split_image_reference
from openecs.platform.clock import Clock, FakeClock, to_datetime

__all__ = ["FakeRuntime"]

_TERMINATING_SIGNALS = {"SIGKILL": 137, "SIGINT": 130, "SIGQUIT": 131, "SIGTERM": 143}
_BUILTIN_NETWORKS = ("bridge", "host", "none")
_FIRST_HOST_PORT = 32768


def _image_key(image: str) -> str:
    name, tag = split_image_reference(image)
    separator = "@" if ":" in tag and tag.startswith("sha256") else ":"
    return f"{name}{separator}{tag}"


@dataclass
class _Container:
    id: str
    spec: ContainerSpec
    created_at: float
    status: ContainerStatus = ContainerStatus.CREATED
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    health: HealthStatus = HealthStatus.NONE
    ports: tuple[PortBinding, ...] = ()
    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ip_addresses: dict[str, str] = field(default_factory=dict)
    oom_killed: bool = False
    error: str = ""
    pid: int | None = None
    sigterm_exit: int | None = 143
    signals: list[str] = field(default_factory=list)
    stats: ContainerStats | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Network:
    id: str
    name: str
    driver: str
    labels: dict[str, str]
    internal: bool
    subnet: str
    gateway: str
    next_host: itertools.count[int] = field(default_factory=lambda: itertools.count(2))


@dataclass
class _Volume:
    name: str
    driver: str
    labels: dict[str, str]


class FakeRuntime:
    """A ContainerRuntime in memory. `images` are present from the start."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        images: Iterable[str] = (),
        host_ip: str = "127.0.0.1",
        cpus: int = 2,
        memory_bytes: int = 4 * 1024**3,
    ) -> None:
        self.clock: Clock = clock or FakeClock()
        self.host_ip = host_ip
        self.pulls: list[str] = []
        self.builds: list[str] = []
        self._host = HostInfo(
            cpus=cpus,
            memory_bytes=memory_bytes,
            engine_version="fake",
            operating_system="fake",
            architecture="x86_64",
        )
        self._images = {_image_key(image) for image in images}
        self._pull_failures: dict[str, str] = {}
        self.image_checks: list[str] = []
        self._start_failures: dict[str, str] = {}
        self._containers: dict[str, _Container] = {}
        self._networks: dict[str, _Network] = {}
        self._volumes: dict[str, _Volume] = {}
        self._history: list[ContainerEvent] = []
        self._subscribers: list[asyncio.Queue[ContainerEvent | None]] = []
        self._ids = itertools.count(1)
        self._host_ports = itertools.count(_FIRST_HOST_PORT)
        self._pids = itertools.count(1000)
        self._closed = False
        for index, name in enumerate(_BUILTIN_NETWORKS):
            driver = "null" if name == "none" else name
            self._add_network(name, driver, {}, False, f"172.{17 + index}.0")

    # -- test controls ----------------------------------------------------

    def add_image(self, image: str) -> None:
        self._images.add(_image_key(image))

    def remove_image(self, image: str) -> None:
        """`docker rmi` behind the agent's back."""
        self._images.discard(_image_key(image))

    def fail_pull(self, image: str, message: str = "manifest unknown") -> None:
        self._pull_failures[_image_key(image)] = message

    def fail_start(self, container: str, message: str) -> None:
        known = self._find(container)
        self._start_failures[known.spec.name if known else container] = message

    def set_sigterm_exit(self, container: str, exit_code: int | None) -> None:
        self._get(container).sigterm_exit = exit_code

    def exit(self, container: str, exit_code: int = 0, *, oom_killed: bool = False) -> None:
        record = self._get(container)
        if record.status is not ContainerStatus.RUNNING:
            raise Conflict(f"Container {record.id} is not running", status_code=409)
        if oom_killed:
            self._emit(record, EventAction.OOM)
        self._terminate(record, exit_code, oom_killed=oom_killed)

    def set_health(self, container: str, status: HealthStatus, *, announce: bool = True) -> None:
        """A health check's verdict; `announce=False` loses its event (inspect still
        tells), as a daemon under load or a cut event stream may."""
        record = self._get(container)
        if record.status is not ContainerStatus.RUNNING:
            raise Conflict(f"Container {record.id} is not running", status_code=409)
        record.health = status
        if announce:
            self._emit(record, EventAction.HEALTH_STATUS, health=status)

    def set_stats(self, container: str, stats: ContainerStats) -> None:
        self._get(container).stats = stats

    def simulate_reconnect(self) -> None:
        resync = ContainerEvent(
            action=EventAction.RESYNC, container_id="", name="", labels={}, time=self.clock.now()
        )
        for queue in self._subscribers:
            queue.put_nowait(resync)

    def signals_received(self, container: str) -> list[str]:
        return list(self._get(container).signals)

    def spec_of(self, container: str) -> ContainerSpec:
        return self._get(container).spec

    # -- ContainerRuntime -------------------------------------------------

    async def host_info(self) -> HostInfo:
        return self._host

    async def image_exists(self, image: str) -> bool:
        self.image_checks.append(image)
        return _image_key(image) in self._images

    async def pull(self, image: str, *, auth: RegistryAuth | None = None) -> None:
        self.pulls.append(image)
        key = _image_key(image)
        if key in self._pull_failures:
            raise ImagePullError(image, self._pull_failures[key], status_code=500)
        self._images.add(key)

    async def build_image(self, tag: str, context: bytes) -> str:
        self.builds.append(tag)
        self._images.add(_image_key(tag))
        return "sha256:" + hashlib.sha256(context).hexdigest()

    async def create(self, spec: ContainerSpec) -> str:
        if _image_key(spec.image) not in self._images:
            raise NotFound(f"No such image: {_image_key(spec.image)}", status_code=404)
        for other in self._containers.values():
            if other.spec.name == spec.name:
                raise Conflict(
                    f'Conflict. The container name "/{spec.name}" is already in use '
                    f'by container "{other.id}".',
                    status_code=409,
                )
        networks: dict[str, tuple[str, ...]] = {}
        mode = spec.network_mode
        if mode.startswith("container:"):
            self._get(mode.partition(":")[2])
        elif mode not in ("host", "none"):
            name = "bridge" if mode == "default" else mode
            networks[self._network(name).name] = spec.network_aliases
        for mount in spec.mounts:
            if mount.kind == "volume" and mount.source not in self._volumes:
                self._volumes[mount.source] = _Volume(mount.source, "local", {})
        container_id = hashlib.sha256(f"fake-container-{next(self._ids)}".encode()).hexdigest()
        record = _Container(
            id=container_id, spec=spec, created_at=self.clock.now(), networks=networks
        )
        self._containers[container_id] = record
        self._emit(record, EventAction.CREATE)
        return container_id

    async def start(self, container: str) -> None:
        record = self._get(container)
        if record.status is ContainerStatus.RUNNING:
            return
        failure = self._start_failures.pop(record.spec.name, None)
        if failure is not None:
            record.error = failure
            raise DockerError(failure, status_code=500)
        record.status = ContainerStatus.RUNNING
        record.exit_code = None
        record.error = ""
        record.oom_killed = False
        record.started_at = self.clock.now()
        record.pid = next(self._pids)
        record.health = (
            HealthStatus.STARTING if record.spec.health_check is not None else HealthStatus.NONE
        )
        record.exited = asyncio.Event()
        record.ports = self._publish(record.spec)
        record.ip_addresses = {name: self._next_ip(self._network(name)) for name in record.networks}
        self._emit(record, EventAction.START)

    async def stop(self, container: str, *, timeout: int | None = None) -> None:
        record = self._get(container)
        if record.status is not ContainerStatus.RUNNING:
            return
        stop_signal = signal_name(record.spec.stop_signal or "SIGTERM")
        self._signal(record, stop_signal)
        if record.status is ContainerStatus.RUNNING:
            self._signal(record, "SIGKILL")
        self._emit(record, EventAction.STOP)

    async def kill(self, container: str, signal: str = "SIGKILL") -> None:
        record = self._get(container)
        if record.status is not ContainerStatus.RUNNING:
            raise Conflict(
                f"Cannot kill container: {container}: Container {record.id} is not running",
                status_code=409,
            )
        self._signal(record, signal_name(signal))

    async def wait(self, container: str) -> int:
        record = self._get(container)
        if record.status is ContainerStatus.RUNNING:
            await record.exited.wait()
        return record.exit_code if record.exit_code is not None else 0

    async def remove(self, container: str, *, force: bool = False) -> None:
        record = self._get(container)
        if record.status is ContainerStatus.RUNNING:
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {record.id}. Stop the container "
                    "before attempting removal or force remove",
                    status_code=409,
                )
            self._signal(record, "SIGKILL")
        del self._containers[record.id]
        self._emit(record, EventAction.DESTROY)

    async def inspect(self, container: str) -> ContainerState:
        record = self._get(container)
        return ContainerState(
            id=record.id,
            name=record.spec.name,
            image=record.spec.image,
            labels=dict(record.spec.labels),
            status=record.status,
            exit_code=record.exit_code,
            started_at=to_datetime(record.started_at) if record.started_at else None,
            finished_at=to_datetime(record.finished_at) if record.finished_at else None,
            health=record.health,
            ports=record.ports,
            ip_addresses=dict(record.ip_addresses),
            oom_killed=record.oom_killed,
            error=record.error,
            pid=record.pid,
        )

    async def list_by_labels(
        self, labels: Mapping[str, str], *, include_stopped: bool = True
    ) -> list[ContainerSummary]:
        return [
            ContainerSummary(
                id=record.id,
                name=record.spec.name,
                image=record.spec.image,
                labels=dict(record.spec.labels),
                status=record.status,
                created_at=to_datetime(record.created_at),
            )
            for record in self._containers.values()
            if _has_labels(record.spec.labels, labels)
            and (include_stopped or record.status is ContainerStatus.RUNNING)
        ]

    def events(
        self, *, labels: Mapping[str, str] | None = None, since: float | None = None
    ) -> AsyncGenerator[ContainerEvent, None]:
        # Events count from this call, not from the first iteration, like Docker's.
        return self._events(labels or {}, since, len(self._history))

    async def _events(
        self, labels: Mapping[str, str], since: float | None, start: int
    ) -> AsyncGenerator[ContainerEvent, None]:
        if self._closed:
            return
        queue: asyncio.Queue[ContainerEvent | None] = asyncio.Queue()
        if since is None:
            backlog = self._history[start:]
        else:
            backlog = [event for event in self._history if event.time >= since]
        self._subscribers.append(queue)
        try:
            for event in backlog:
                if _has_labels(event.labels, labels):
                    yield event
            while (event_or_end := await queue.get()) is not None:
                resync = event_or_end.action is EventAction.RESYNC
                if resync or _has_labels(event_or_end.labels, labels):
                    yield event_or_end
        finally:
            self._subscribers.remove(queue)

    async def stats(self, container: str) -> ContainerStats:
        record = self._get(container)
        if record.stats is not None:
            return replace(record.stats, read_at=to_datetime(self.clock.now()))
        running = record.status is ContainerStatus.RUNNING
        return ContainerStats(
            read_at=to_datetime(self.clock.now()),
            cpu_total_ns=0,
            system_cpu_ns=0,
            online_cpus=self._host.cpus,
            memory_usage_bytes=0,
            memory_limit_bytes=record.spec.memory_bytes or self._host.memory_bytes,
            network_rx_bytes=0,
            network_tx_bytes=0,
            block_read_bytes=0,
            block_write_bytes=0,
            pids=1 if running else 0,
        )

    async def create_network(
        self, name: str, *, labels: Mapping[str, str] | None = None, internal: bool = False
    ) -> str:
        if any(network.name == name for network in self._networks.values()):
            raise Conflict(f"network with name {name} already exists", status_code=409)
        prefix = f"172.{17 + len(self._networks)}.0"
        return self._add_network(name, "bridge", dict(labels or {}), internal, prefix).id

    async def inspect_network(self, network: str) -> NetworkInfo:
        record = self._network(network)
        attached = {
            c.id: c.ip_addresses[record.name]
            for c in self._containers.values()
            if record.name in c.ip_addresses
        }
        return NetworkInfo(
            id=record.id,
            name=record.name,
            driver=record.driver,
            labels=dict(record.labels),
            internal=record.internal,
            subnets=(record.subnet,),
            gateways=(record.gateway,),
            containers=attached,
        )

    async def connect_network(
        self, network: str, container: str, *, aliases: tuple[str, ...] = ()
    ) -> None:
        target = self._network(network)
        record = self._get(container)
        if target.name in record.networks and record.status is ContainerStatus.RUNNING:
            raise Conflict(
                f"endpoint with name {record.spec.name} already exists in network {target.name}",
                status_code=403,
            )
        record.networks[target.name] = aliases
        if record.status is ContainerStatus.RUNNING:
            record.ip_addresses[target.name] = self._next_ip(target)

    async def disconnect_network(self, network: str, container: str) -> None:
        target = self._network(network)
        record = self._get(container)
        if target.name not in record.networks:
            raise DockerError(
                f"container {record.id} is not connected to network {target.name}",
                status_code=500,
            )
        del record.networks[target.name]
        record.ip_addresses.pop(target.name, None)

    async def remove_network(self, network: str) -> None:
        record = self._network(network)
        if record.name in _BUILTIN_NETWORKS:
            raise Conflict(
                f"{record.name} is a pre-defined network and cannot be removed", status_code=403
            )
        if any(record.name in c.ip_addresses for c in self._containers.values()):
            raise Conflict(
                f"error while removing network: network {record.name} id {record.id} "
                "has active endpoints",
                status_code=403,
            )
        for container in self._containers.values():
            container.networks.pop(record.name, None)
        del self._networks[record.id]

    async def create_volume(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        driver: str = "local",
        driver_options: Mapping[str, str] | None = None,
    ) -> str:
        if name not in self._volumes:
            self._volumes[name] = _Volume(name, driver, dict(labels or {}))
        return name

    async def remove_volume(self, name: str, *, force: bool = False) -> None:
        if name not in self._volumes:
            if force:
                return
            raise NotFound(f"get {name}: no such volume", status_code=404)
        users = [
            c.id
            for c in self._containers.values()
            if any(m.kind == "volume" and m.source == name for m in c.spec.mounts)
        ]
        if users:
            raise Conflict(f"remove {name}: volume is in use - {users}", status_code=409)
        del self._volumes[name]

    async def aclose(self) -> None:
        self._closed = True
        for queue in self._subscribers:
            queue.put_nowait(None)

    # -- internals --------------------------------------------------------

    def _find(self, ref: str) -> _Container | None:
        if ref in self._containers:
            return self._containers[ref]
        for record in self._containers.values():
            if record.spec.name == ref.lstrip("/"):
                return record
        matches = [r for r in self._containers.values() if ref and r.id.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def _get(self, ref: str) -> _Container:
        record = self._find(ref)
        if record is None:
            raise NotFound(f"No such container: {ref}", status_code=404)
        return record

    def _network(self, ref: str) -> _Network:
        for network in self._networks.values():
            if ref in (network.id, network.name):
                return network
        raise NotFound(f"network {ref} not found", status_code=404)

    def _add_network(
        self, name: str, driver: str, labels: dict[str, str], internal: bool, prefix: str
    ) -> _Network:
        network_id = hashlib.sha256(f"fake-network-{name}".encode()).hexdigest()
        network = _Network(
            id=network_id,
            name=name,
            driver=driver,
            labels=labels,
            internal=internal,
            subnet=f"{prefix}.0/16",
            gateway=f"{prefix}.1",
        )
        self._networks[network_id] = network
        return network

    def _next_ip(self, network: _Network) -> str:
        return f"{network.gateway.rsplit('.', 1)[0]}.{next(network.next_host)}"

    def _publish(self, spec: ContainerSpec) -> tuple[PortBinding, ...]:
        if spec.network_mode in ("host", "none") or spec.network_mode.startswith("container:"):
            return ()
        return tuple(
            PortBinding(
                container_port=port.container_port,
                protocol=port.protocol,
                host_ip=port.host_ip or self.host_ip,
                host_port=port.host_port or next(self._host_ports),
            )
            for port in spec.ports
        )

    def _signal(self, record: _Container, name: str) -> None:
        record.signals.append(name)
        self._emit(record, EventAction.KILL, signal=name)
        if name == "SIGTERM":
            if record.sigterm_exit is not None:
                self._terminate(record, record.sigterm_exit)
        elif name in _TERMINATING_SIGNALS:
            self._terminate(record, _TERMINATING_SIGNALS[name])

    def _terminate(self, record: _Container, exit_code: int, *, oom_killed: bool = False) -> None:
        record.status = ContainerStatus.EXITED
        record.exit_code = exit_code
        record.oom_killed = oom_killed
        record.finished_at = self.clock.now()
        record.pid = None
        record.ports = ()
        record.ip_addresses = {}
        record.exited.set()
        self._emit(record, EventAction.DIE, exit_code=exit_code)

    def _emit(
        self,
        record: _Container,
        action: EventAction,
        *,
        exit_code: int | None = None,
        health: HealthStatus | None = None,
        signal: str | None = None,
    ) -> None:
        event = ContainerEvent(
            action=action,
            container_id=record.id,
            name=record.spec.name,
            labels=dict(record.spec.labels),
            time=self.clock.now(),
            exit_code=exit_code,
            health=health,
            signal=signal,
        )
        self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)


def _has_labels(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in wanted.items())


if TYPE_CHECKING:
    _conforms: ContainerRuntime = FakeRuntime()
