"""One task's life on this host: pull, network, start in dependency order,
supervise, stop, clean up — reporting every change as it happens.

The runner is a small state machine driven by two inputs: the control
plane's desired status (`request_stop`) and the runtime's container events
(`on_event`). Every transition is reported as the task's whole state, so a
lost or repeated report is harmless.

    PROVISIONING → PENDING (pull) → ACTIVATING (cgroup, network, containers
    in dependsOn order) → RUNNING → DEACTIVATING → STOPPING (containers, in
    reverse dependency waves) → DEPROVISIONING (network, cgroup) → STOPPED

Containers are named after the task and the container, so a runner that
starts again (the agent restarted) finds what exists instead of creating a
second copy. A container never goes back from STOPPED: a late inspect that
still saw it running does not undo its exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from openecs.agent import labels as L
from openecs.agent.container_runtime import (
    Conflict,
    ContainerEvent,
    ContainerRuntime,
    ContainerSpec,
    ContainerState,
    DockerError,
    EventAction,
    HealthStatus,
    ImagePullError,
    NotFound,
    PortMapping,
)
from openecs.agent.container_specs import TaskContext, container_spec, pause_spec, port_mappings
from openecs.agent.log_shipper import (
    AwslogsOptions,
    LogDriverError,
    LogsClientPool,
    LogShipper,
    LogSource,
)
from openecs.agent.task_cgroups import TaskLimits
from openecs.platform.clock import Clock

__all__ = ["PAUSE_CONTAINER_NAME", "LogShipping", "TaskFailedToStart", "TaskRunner", "Track"]

log = logging.getLogger("openecs.agent.task")

# The container-name label of an awsvpc task's pause container.
PAUSE_CONTAINER_NAME = "~internal~ecs~pause"
# Statuses in which the control plane has not yet seen the task run.
_NOT_YET_RUNNING = ("PROVISIONING", "PENDING", "ACTIVATING")
_ESSENTIAL_EXITED = "Essential container in task exited"
_OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
_NETWORK_GONE = "The task's network namespace is gone: its pause container exited"
_NO_IMAGE = "No such image"
# How long to wait for the engine to let go of a stopped task's cgroup.
_CGROUP_RELEASE_ATTEMPTS = 50
_CGROUP_RELEASE_INTERVAL = 0.1
# A stopped container's output gets this long to be shipped before the STOPPED report,
# then `_SHIPPER_STOP_TIMEOUT` more to flush what is buffered.
_SHIPPER_DRAIN_TIMEOUT = 10.0
_SHIPPER_STOP_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class LogShipping:
    """What an agent gives its runners to ship awslogs containers' output."""

    source: LogSource
    pool: LogsClientPool
    data_dir: Path


class TaskFailedToStart(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Track:
    """What the runner knows of one container."""

    name: str
    definition: dict[str, Any]
    essential: bool
    runtime_id: str | None = None
    status: str = "PENDING"  # PENDING → RUNNING → STOPPED
    exit_code: int | None = None
    reason: str | None = None
    health: str = "UNKNOWN"
    bindings: list[dict[str, Any]] = field(default_factory=list)
    started: bool = False

    def to_report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "lastStatus": self.status,
            "runtimeId": self.runtime_id,
            "exitCode": self.exit_code,
            "reason": self.reason,
            "networkBindings": self.bindings,
            "healthStatus": self.health,
        }


_HEALTH = {
    HealthStatus.HEALTHY: "HEALTHY",
    HealthStatus.UNHEALTHY: "UNHEALTHY",
}


class TaskRunner:
    def __init__(
        self,
        desired: Mapping[str, Any],
        ctx: TaskContext,
        runtime: ContainerRuntime,
        report: Callable[[dict[str, Any]], None],
        clock: Clock,
        *,
        pause_image: str,
        awsvpc_network: str,
        adopted: Mapping[str, str] | None = None,
        cgroups: TaskLimits | None = None,
        log_shipping: LogShipping | None = None,
        known_images: set[str] | None = None,
    ) -> None:
        self.task_arn = str(desired["taskArn"])
        self.cluster_arn = str(desired.get("clusterArn") or "")
        self.ctx = ctx
        self.runtime = runtime
        self._report = report
        self.clock = clock
        self.pause_image = pause_image
        self.awsvpc_network = awsvpc_network
        self.cgroups = cgroups
        self.log_shipping = log_shipping
        # Images this agent has seen on the engine (shared by its runners): a hint that
        # skips the presence check; a create that finds the image gone pulls it then.
        self.known_images = known_images if known_images is not None else set()
        # Container name → the shipper of its awslogs output.
        self.shippers: dict[str, LogShipper] = {}
        self.definition: dict[str, Any] = dict(desired.get("taskDefinition") or {})
        overrides = desired.get("overrides") or {}
        self.overrides = {o.get("name"): o for o in overrides.get("containerOverrides") or ()}
        self.tracks = {
            c["name"]: Track(c["name"], c, bool(c.get("essential", True)))
            for c in self.definition.get("containerDefinitions") or ()
        }
        self.container_arns = {
            str(c["name"]): str(c["containerArn"]) for c in desired.get("containers") or ()
        }
        self.server_status = str(desired.get("lastStatus") or "PROVISIONING")
        self.last_status = "PROVISIONING"
        self.pull_started_at: float | None = None
        self.pull_stopped_at: float | None = None
        self.started_at: float | None = None
        self.stopping_at: float | None = None
        self.execution_stopped_at: float | None = None
        self.stop_code: str | None = None
        self.stopped_reason: str | None = None
        self.ip_address: str | None = None
        self.pause_id: str | None = None
        self.adopted = dict(adopted or {})
        self._pause_state: ContainerState | None = None
        # Replaced on every change: waiters hold the one current when they started waiting.
        self._changed = asyncio.Event()
        self._poke = asyncio.Event()
        self._drain_until = 0.0
        self._stop = asyncio.Event()
        self._starting = False  # inside _start's gather of container starts
        if desired.get("desiredStatus") == "STOPPED":
            self.request_stop(desired.get("stopCode"), desired.get("stoppedReason"))

    # -- inputs ----------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def request_stop(
        self, code: str | None, reason: str | None, *, drain_seconds: float = 0.0
    ) -> None:
        """Stop the task (the first reason given stays). `drain_seconds`: how long it
        keeps serving first, while its load balancer targets drain."""
        if not self._stop.is_set():
            self._drain_until = self.clock.monotonic() + max(drain_seconds, 0.0)
            self.stopping_at = self.clock.now()
            self.stop_code = self.stop_code or code or "UserInitiated"
            self.stopped_reason = self.stopped_reason or reason or "Task stopped"
            self._stop.set()
            self._notify()

    async def on_event(self, event: ContainerEvent) -> None:
        if self.pause_id and event.container_id == self.pause_id:
            # The pause container holds an awsvpc task's network: without it, no task.
            if event.action is EventAction.DIE:
                self.request_stop("EssentialContainerExited", _NETWORK_GONE)
            return
        track = self._track_for(event.container_id, event.labels)
        if track is None:
            return
        changed = False
        if event.action is EventAction.DIE and track.status != "STOPPED":
            track.status = "STOPPED"
            track.exit_code = event.exit_code
            changed = True
        elif event.action is EventAction.HEALTH_STATUS and event.health is not None:
            health = _HEALTH.get(event.health, "UNKNOWN")
            if health != track.health:
                track.health = health
                changed = True
        elif event.action is EventAction.OOM:
            track.reason = _OOM_REASON
            changed = True
        if changed:
            self._check_essential(track)
            self._notify()
            self.publish()

    async def resync(self) -> None:
        """After missed events (or now and then): ask the runtime for the truth about
        each started container, and act on what changed as on its event."""
        for track in list(self.tracks.values()):
            if not track.runtime_id or track.status == "STOPPED" or not track.started:
                continue
            try:
                state: ContainerState | None = await self.runtime.inspect(track.runtime_id)
            except NotFound:
                state = None
            labels = {L.CONTAINER_NAME: track.name}
            if state is None or not state.running:
                exit_code = state.exit_code if state else None
                event = ContainerEvent(
                    EventAction.DIE, track.runtime_id, track.name, labels, 0.0, exit_code=exit_code
                )
            elif _HEALTH.get(state.health, track.health) != track.health:
                event = ContainerEvent(
                    EventAction.HEALTH_STATUS,
                    track.runtime_id,
                    track.name,
                    labels,
                    0.0,
                    health=state.health,
                )
            else:
                continue
            await self.on_event(event)

    def _track_for(self, container_id: str, labels: Mapping[str, str]) -> Track | None:
        for track in self.tracks.values():
            if track.runtime_id == container_id:
                return track
        name = labels.get("com.amazonaws.ecs.container-name")
        return self.tracks.get(name or "")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        self._poke.set()

    def _check_essential(self, track: Track) -> None:
        if track.essential and track.status == "STOPPED":
            self.request_stop("EssentialContainerExited", _ESSENTIAL_EXITED)

    # -- reporting ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "taskArn": self.task_arn,
            "lastStatus": self.last_status,
            "pullStartedAt": self.pull_started_at,
            "pullStoppedAt": self.pull_stopped_at,
            "executionStoppedAt": self.execution_stopped_at,
            "containers": [t.to_report() for t in self.tracks.values()],
        }
        if self.started_at is not None:
            report["startedAt"] = self.started_at
        if self._stop.is_set():
            report["stopCode"] = self.stop_code
            report["stoppedReason"] = self.stopped_reason
            report["stoppingAt"] = self.stopping_at
        if self.ctx.network_mode == "awsvpc" and self.ip_address:
            report["eni"] = {"privateIPv4Address": self.ip_address}
            for t in report["containers"]:
                t["networkInterfaces"] = [
                    {"attachmentId": self.ctx.task_id, "privateIpv4Address": self.ip_address}
                ]
        return report

    def publish(self) -> None:
        self._report(self.state())

    def _advance(self, status: str) -> None:
        self.last_status = status
        self.publish()

    # -- the life of the task ------------------------------------------------------

    async def run(self) -> None:
        try:
            if self.server_status in _NOT_YET_RUNNING and not self._stop.is_set():
                # New, or never seen running by the control plane: (finish) starting it.
                # Containers that exist are found by name and reused, so nothing runs twice.
                await self._start()
            elif self.adopted or self.server_status not in _NOT_YET_RUNNING:
                await self._adopt()
            if not self._stop.is_set():
                await self._supervise()
        except TaskFailedToStart as failure:
            self.request_stop("TaskFailedToStart", failure.reason)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the runtime failed us: stop cleanly, say why
            log.exception("task runner failed", extra={"task": self.task_arn})
            self.request_stop("TaskFailedToStart", f"Agent error: {exc}")
        await self._stop_all()

    async def _start(self) -> None:
        self.pull_started_at = self.pull_started_at or self.clock.now()
        self._advance("PENDING")
        self._enter_cgroup()
        if self.ctx.network_mode == "awsvpc":
            # The task's network (its pause container) is set up while its images are
            # checked and pulled, as Fargate attaches a task's ENI before the pull.
            network = asyncio.create_task(self._start_pause())
            try:
                await self._pull_images()
            except BaseException:
                # The pull's failure is the task's reason; the network is waited for
                # only so that whatever it set up is known and removed on the way out.
                with contextlib.suppress(Exception):
                    await network
                raise
            self.pull_stopped_at = self.clock.now()
            await network
        else:
            await self._pull_images()
            self.pull_stopped_at = self.clock.now()
        self._advance("ACTIVATING")
        self._starting = True
        try:
            await asyncio.gather(*(self._start_container(t) for t in self.tracks.values()))
        finally:
            self._starting = False
        if self._stop.is_set():
            return
        self.started_at = self.clock.now()
        self._advance("RUNNING")

    async def _pull_images(self) -> None:
        """Pull what the engine lacks (ECS's prefer-cached); known images are not asked for."""
        images = sorted({t.definition.get("image", "") for t in self.tracks.values()})
        unknown = [i for i in images if i not in self.known_images]
        present = await asyncio.gather(*(self.runtime.image_exists(i) for i in unknown))
        for image, here in zip(unknown, present, strict=True):
            if not here:
                await self._pull(image)
            self.known_images.add(image)

    async def _pull(self, image: str) -> None:
        try:
            await self.runtime.pull(image)
        except ImagePullError as err:
            self.pull_stopped_at = self.clock.now()
            reason = (
                f"CannotPullContainerError: pull image manifest has been retried 1 time(s): {err}"
            )
            for track in self.tracks.values():
                if track.definition.get("image", "") == image:
                    track.reason = reason
            raise TaskFailedToStart(reason) from err

    def _enter_cgroup(self) -> None:
        if self.cgroups is None or not (self.ctx.task_cpu or self.ctx.task_memory):
            return
        parent = self.cgroups.create(
            self.ctx.task_id, cpu_units=self.ctx.task_cpu, memory_mib=self.ctx.task_memory
        )
        if parent is not None:
            self.ctx = replace(self.ctx, cgroup_parent=parent)

    async def _start_pause(self) -> None:
        ports: list[PortMapping] = []
        for track in self.tracks.values():
            ports.extend(port_mappings(track.definition, self.ctx))
        spec = pause_spec(self.ctx, self.pause_image, tuple(ports), self.awsvpc_network)
        try:
            self.pause_id, _ = await self._create(spec)
            await self.runtime.start(self.pause_id)
            state = await self.runtime.inspect(self.pause_id)
        except DockerError as err:
            raise TaskFailedToStart(
                f"ResourceInitializationError: failed to set up the task network: {err}"
            ) from err
        self._take_pause(state)

    def _take_pause(self, state: ContainerState) -> None:
        self.pause_id = state.id
        self._pause_state = state
        self.ip_address = state.ip_addresses.get(self.awsvpc_network) or next(
            iter(state.ip_addresses.values()), None
        )
        self.ctx = replace(self.ctx, pause_container=state.id)

    async def _create(self, spec: ContainerSpec) -> tuple[str, bool]:
        """(container id, whether it existed already)."""
        try:
            return await self.runtime.create(spec), False
        except Conflict:
            # Same deterministic name: this task's container exists already (never duplicate).
            existing = await self.runtime.inspect(spec.name)
            return existing.id, True
        except NotFound as err:
            if spec.image not in self.known_images or not err.message.startswith(_NO_IMAGE):
                raise
        # The image was removed from the engine since this agent last saw it.
        self.known_images.discard(spec.image)
        await self._pull(spec.image)
        self.known_images.add(spec.image)
        return await self.runtime.create(spec), False

    def _dependencies_met(self, track: Track) -> bool:
        """Whether `track` may start; TaskFailedToStart when it never will."""
        for dep in track.definition.get("dependsOn") or ():
            other = self.tracks.get(dep.get("containerName", ""))
            if other is None:
                continue
            condition = dep.get("condition", "START")
            if condition == "START" and not other.started:
                return False
            if condition in ("COMPLETE", "SUCCESS") and other.status != "STOPPED":
                return False
            if condition == "SUCCESS" and other.exit_code not in (0, None):
                raise TaskFailedToStart(
                    f"dependency {other.name} exited with code {other.exit_code}; "
                    f"condition SUCCESS of {track.name} cannot be met"
                )
            if condition == "HEALTHY":
                if other.health == "UNHEALTHY" or other.status == "STOPPED":
                    state = "unhealthy" if other.health == "UNHEALTHY" else "stopped"
                    raise TaskFailedToStart(
                        f"dependency {other.name} is {state}; "
                        f"condition HEALTHY of {track.name} cannot be met"
                    )
                if other.health != "HEALTHY":
                    return False
        return True

    async def _wait_dependencies(self, track: Track) -> None:
        while not self._stop.is_set():
            changed = self._changed
            if self._dependencies_met(track):
                return
            await changed.wait()

    async def _start_container(self, track: Track) -> None:
        try:
            await self._wait_dependencies(track)
        except TaskFailedToStart as failure:
            # Stop rather than raise: the task's other starters finish what they began.
            track.reason = failure.reason
            self.request_stop("TaskFailedToStart", failure.reason)
            return
        if self._stop.is_set():
            return
        spec = container_spec(track.definition, self.overrides.get(track.name, {}), self.ctx)
        try:
            state = await self._run_container(track, spec)
        except TaskFailedToStart as failure:
            self.request_stop("TaskFailedToStart", failure.reason)
            return
        except DockerError as err:
            kind = "CannotCreateContainerError" if track.runtime_id is None else None
            reason = f"{kind or 'CannotStartContainerError'}: {err}"
            track.reason = reason
            self.request_stop("TaskFailedToStart", reason)
            return
        if state is None:
            return
        self._apply_state(track, state)
        track.started = True
        self._check_essential(track)
        self._notify()
        if not self._starting or not all(t.started for t in self.tracks.values()):
            # The last container of a start is reported with the task's RUNNING, one
            # report later: one round trip and one commit fewer before RUNNING shows.
            self.publish()

    async def _run_container(self, track: Track, spec: ContainerSpec) -> ContainerState | None:
        """Create and start; None when the task began stopping in between."""
        track.runtime_id, existed = await self._create(spec)
        if existed:
            state = await self.runtime.inspect(track.runtime_id)
            if state.finished_at is not None and not state.running:
                self._resume_shipper(track, state.id)  # what it wrote still gets shipped
                return state  # it ran already and keeps its exit: never run it twice
        if self._stop.is_set():
            return None
        shipper = await self._prepare_shipper(track, track.runtime_id)
        if self._stop.is_set():
            return None
        await self.runtime.start(track.runtime_id)
        if shipper is not None:
            shipper.start()
        return await self.runtime.inspect(track.runtime_id)

    def _shipper(self, track: Track, container_id: str) -> LogShipper | None:
        """The awslogs shipper for this container; None when it logs otherwise (or the
        agent ships no logs). LogDriverError when its options are wrong."""
        config = track.definition.get("logConfiguration") or {}
        if self.log_shipping is None or config.get("logDriver") != "awslogs":
            return None
        options = AwslogsOptions.parse(config.get("options") or {}, default_mode="non-blocking")
        shipper = LogShipper(
            source=self.log_shipping.source,
            client=self.log_shipping.pool.for_region(options.region),
            options=options,
            container_id=container_id,
            task_arn=self.task_arn,
            container_name=track.name,
            data_dir=self.log_shipping.data_dir,
        )
        self.shippers[track.name] = shipper
        return shipper

    async def _prepare_shipper(self, track: Track, container_id: str) -> LogShipper | None:
        try:
            shipper = self._shipper(track, container_id)
            if shipper is not None:
                await shipper.prepare()
        except LogDriverError as err:
            self.shippers.pop(track.name, None)
            track.reason = str(err)
            raise TaskFailedToStart(str(err)) from err
        return shipper

    def _apply_state(self, track: Track, state: ContainerState) -> None:
        track.runtime_id = state.id
        if state.running:
            if track.status != "STOPPED":
                track.status = "RUNNING"
        elif state.exit_code is not None and state.finished_at is not None:
            track.status = "STOPPED"
            track.exit_code = state.exit_code
            if state.oom_killed:
                track.reason = _OOM_REASON
        health = _HEALTH.get(state.health)
        if health:
            track.health = health
        ports = state.ports
        if not ports and self.ctx.network_mode == "awsvpc":
            mappings = port_mappings(track.definition, self.ctx)
            mine = {(p.container_port, p.protocol) for p in mappings}
            published = self._pause_state.ports if self._pause_state else ()
            ports = tuple(p for p in published if (p.container_port, p.protocol) in mine)
        track.bindings = [
            {
                "bindIP": p.host_ip,
                "containerPort": p.container_port,
                "hostPort": p.host_port,
                "protocol": p.protocol,
            }
            for p in ports
        ]
        if self.ctx.network_mode == "host":
            track.bindings = [
                {
                    "bindIP": self.ctx.host_ip,
                    "containerPort": pm.container_port,
                    "hostPort": pm.container_port,
                    "protocol": pm.protocol,
                }
                for pm in port_mappings(track.definition, self.ctx)
            ]

    async def _adopt(self) -> None:
        """Take back containers that ran on while the agent was away; those missing
        were removed meanwhile and end the task if essential."""
        pause = self.adopted.get(PAUSE_CONTAINER_NAME)
        if self.ctx.network_mode == "awsvpc":
            state = None
            if pause:
                with contextlib.suppress(NotFound):
                    state = await self.runtime.inspect(pause)
            if state is not None:
                self._take_pause(state)
            if state is None or not state.running:
                self.request_stop("EssentialContainerExited", _NETWORK_GONE)
        for name, track in self.tracks.items():
            container = self.adopted.get(name)
            state = None
            if container is not None:
                with contextlib.suppress(NotFound):
                    state = await self.runtime.inspect(container)
            if state is None:
                track.status = "STOPPED"
                track.reason = "Container was removed while the agent was not running"
                if track.essential:
                    self.request_stop(
                        "EssentialContainerExited",
                        f"Essential container {name} was removed while the agent was not running",
                    )
                continue
            self._apply_state(track, state)
            track.started = True
            self._check_essential(track)
            self._resume_shipper(track, state.id)
        self.pull_started_at = self.pull_started_at or self.clock.now()
        self.pull_stopped_at = self.pull_stopped_at or self.clock.now()
        if not self._stop.is_set():
            self.last_status = "RUNNING"
        self.publish()

    def _resume_shipper(self, track: Track, container_id: str) -> None:
        """An adopted container's shipper carries on from its checkpoint."""
        try:
            shipper = self._shipper(track, container_id)
        except LogDriverError as err:
            log.warning(
                "awslogs output of an adopted container not shipped",
                extra={"task": self.task_arn, "container": track.name, "error": str(err)},
            )
            return
        if shipper is not None:
            shipper.start()

    async def _supervise(self) -> None:
        """Run until asked to stop (an essential container's exit asks too)."""
        while not self._stop.is_set():
            await self._poke.wait()
            self._poke.clear()

    def _stop_order(self) -> list[list[Track]]:
        """Waves to stop in: a container goes before those it depends on."""
        remaining = dict(self.tracks)
        waves: list[list[Track]] = []
        while remaining:
            needed = {
                dep.get("containerName")
                for t in remaining.values()
                for dep in t.definition.get("dependsOn") or ()
            }
            wave = [t for n, t in remaining.items() if n not in needed] or list(remaining.values())
            waves.append(wave)
            for t in wave:
                remaining.pop(t.name)
        return waves

    async def _stop_all(self) -> None:
        self._advance("DEACTIVATING")
        # Keep serving in-flight requests while the load balancer drains this task;
        # a task whose essential container already exited has nothing to serve.
        remaining = self._drain_until - self.clock.monotonic()
        serving = not any(t.essential and t.status == "STOPPED" for t in self.tracks.values())
        if remaining > 0 and serving:
            await asyncio.sleep(remaining)
        self._advance("STOPPING")
        for wave in self._stop_order():
            await asyncio.gather(*(self._stop_container(t) for t in wave))
        self.execution_stopped_at = self.clock.now()
        await self._drain_shippers()
        self._advance("DEPROVISIONING")
        if self.pause_id:
            with contextlib.suppress(DockerError):
                await self.runtime.stop(self.pause_id, timeout=1)
        await self._release_cgroup()
        self._advance("STOPPED")

    async def _drain_shippers(self) -> None:
        """Ship what the stopped containers wrote (bounded: the STOPPED report waits)."""
        await asyncio.gather(*(_drain(s) for s in self.shippers.values()))

    async def stop_shippers(self) -> None:
        """The agent is shutting down: stop shipping; the checkpoints keep the place."""
        await asyncio.gather(
            *(s.stop(timeout=_SHIPPER_STOP_TIMEOUT) for s in self.shippers.values())
        )

    async def _stop_container(self, track: Track) -> None:
        if track.runtime_id is not None:
            if track.status != "STOPPED":
                timeout = int(track.definition.get("stopTimeout") or 30)
                with contextlib.suppress(NotFound):
                    await self.runtime.stop(track.runtime_id, timeout=timeout)
            with contextlib.suppress(NotFound):
                state = await self.runtime.inspect(track.runtime_id)
                if state.exit_code is not None:
                    track.exit_code = state.exit_code
                if state.oom_killed:
                    track.reason = _OOM_REASON
        track.status = "STOPPED"

    async def _release_cgroup(self) -> None:
        if self.cgroups is None:
            return
        # The engine removes each container's cgroup a moment after it exits.
        for _ in range(_CGROUP_RELEASE_ATTEMPTS):
            if self.cgroups.remove(self.ctx.task_id):
                return
            await asyncio.sleep(_CGROUP_RELEASE_INTERVAL)
        log.warning("task cgroup still busy", extra={"task": self.task_arn})

    async def remove_containers(self) -> None:
        """Remove the task's containers (after the cleanup delay)."""
        ids = [t.runtime_id for t in self.tracks.values() if t.runtime_id]
        if self.pause_id:
            ids.append(self.pause_id)
        for cid in ids:
            with contextlib.suppress(NotFound, Conflict):
                await self.runtime.remove(cid, force=True)
        if self.cgroups is not None:
            self.cgroups.remove(self.ctx.task_id)
        for shipper in self.shippers.values():
            shipper.discard_checkpoint()
        self.shippers.clear()


async def _drain(shipper: LogShipper) -> None:
    try:
        await asyncio.wait_for(shipper.wait(), _SHIPPER_DRAIN_TIMEOUT)
    except TimeoutError:
        await shipper.stop(timeout=_SHIPPER_STOP_TIMEOUT)
