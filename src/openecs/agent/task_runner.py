"""One task's life on this host: pull, network, start in dependency order,
supervise, stop, clean up — reporting every change as it happens.

The runner is a small state machine driven by two inputs: the control
plane's desired status (`request_stop`) and the runtime's container events
(`on_event`). Every transition is reported as the task's whole state, so a
lost or repeated report is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from openecs.agent.container_runtime import (
    Conflict,
    ContainerEvent,
    ContainerRuntime,
    ContainerState,
    DockerError,
    EventAction,
    HealthStatus,
    ImagePullError,
    NotFound,
    PortMapping,
)
from openecs.agent.container_specs import TaskContext, container_spec, pause_spec, port_mappings
from openecs.platform.clock import Clock

__all__ = ["TaskFailedToStart", "TaskRunner", "Track"]

log = logging.getLogger("openecs.agent.task")


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
    ) -> None:
        self.task_arn = str(desired["taskArn"])
        self.cluster_arn = str(desired.get("clusterArn") or "")
        self.ctx = ctx
        self.runtime = runtime
        self._report = report
        self.clock = clock
        self.pause_image = pause_image
        self.awsvpc_network = awsvpc_network
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
        self.execution_stopped_at: float | None = None
        self.stop_code: str | None = None
        self.stopped_reason: str | None = None
        self.ip_address: str | None = None
        self.pause_id: str | None = None
        self.adopted = dict(adopted or {})
        self._pause_state: ContainerState | None = None
        self._changed = asyncio.Condition()
        self._poke = asyncio.Event()
        self._stop = asyncio.Event()
        if desired.get("desiredStatus") == "STOPPED":
            self.request_stop(desired.get("stopCode"), desired.get("stoppedReason"))

    # -- inputs ----------------------------------------------------------------

    def request_stop(self, code: str | None, reason: str | None) -> None:
        if not self._stop.is_set():
            self.stop_code = self.stop_code or code or "UserInitiated"
            self.stopped_reason = self.stopped_reason or reason or "Task stopped"
            self._stop.set()
            self._poke.set()

    async def on_event(self, event: ContainerEvent) -> None:
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
            track.reason = "OutOfMemoryError: Container killed due to memory usage"
            changed = True
        if changed:
            async with self._changed:
                self._changed.notify_all()
            self._poke.set()
            self.publish()

    def _track_for(self, container_id: str, labels: Mapping[str, str]) -> Track | None:
        for track in self.tracks.values():
            if track.runtime_id == container_id:
                return track
        name = labels.get("com.amazonaws.ecs.container-name")
        return self.tracks.get(name or "")

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
        if self._stop.is_set():
            report["stopCode"] = self.stop_code
            report["stoppedReason"] = self.stopped_reason
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
            if not self._stop.is_set():
                if self.adopted:
                    await self._adopt()
                else:
                    await self._start()
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
        self.pull_started_at = self.clock.now()
        self._advance("PENDING")
        images = sorted({t.definition.get("image", "") for t in self.tracks.values()})
        present = await asyncio.gather(*(self.runtime.image_exists(i) for i in images))
        for image, here in zip(images, present, strict=True):
            if not here:
                try:
                    await self.runtime.pull(image)
                except ImagePullError as err:
                    self.pull_stopped_at = self.clock.now()
                    raise TaskFailedToStart(
                        f"CannotPullContainerError: pull image manifest has been retried "
                        f"1 time(s): {err}"
                    ) from err
        self.pull_stopped_at = self.clock.now()
        if self.ctx.network_mode == "awsvpc":
            await self._start_pause()
        self._advance("ACTIVATING")
        await asyncio.gather(*(self._start_container(t) for t in self.tracks.values()))
        if self._stop.is_set():
            return
        self._advance("RUNNING")

    async def _start_pause(self) -> None:
        ports: list[PortMapping] = []
        for track in self.tracks.values():
            ports.extend(port_mappings(track.definition, self.ctx))
        spec = pause_spec(self.ctx, self.pause_image, tuple(ports), self.awsvpc_network)
        self.pause_id = await self._create(spec)
        await self.runtime.start(self.pause_id)
        state = await self.runtime.inspect(self.pause_id)
        self.ip_address = state.ip_addresses.get(self.awsvpc_network) or next(
            iter(state.ip_addresses.values()), None
        )
        self._pause_state = state
        self.ctx = _with_pause(self.ctx, self.pause_id)

    async def _create(self, spec: Any) -> str:
        try:
            return await self.runtime.create(spec)
        except Conflict:
            # Same deterministic name: this task's container exists already (never duplicate).
            existing = await self.runtime.inspect(spec.name)
            return existing.id

    async def _wait_dependencies(self, track: Track) -> None:
        deps = track.definition.get("dependsOn") or ()

        def ready() -> bool:
            if self._stop.is_set():
                return True
            for dep in deps:
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
                        raise TaskFailedToStart(
                            f"dependency {other.name} is {other.health.lower()}; "
                            f"condition HEALTHY of {track.name} cannot be met"
                        )
                    if other.health != "HEALTHY":
                        return False
            return True

        async with self._changed:
            await self._changed.wait_for(ready)

    async def _start_container(self, track: Track) -> None:
        await self._wait_dependencies(track)
        if self._stop.is_set():
            return
        spec = container_spec(track.definition, self.overrides.get(track.name, {}), self.ctx)
        try:
            track.runtime_id = await self._create(spec)
            await self.runtime.start(track.runtime_id)
        except NotFound as err:
            raise TaskFailedToStart(f"CannotCreateContainerError: {err}") from err
        except DockerError as err:
            raise TaskFailedToStart(f"CannotStartContainerError: {err}") from err
        state = await self.runtime.inspect(track.runtime_id)
        self._apply_state(track, state)
        track.started = True
        async with self._changed:
            self._changed.notify_all()
        self.publish()

    def _apply_state(self, track: Track, state: ContainerState) -> None:
        track.runtime_id = state.id
        if state.running:
            track.status = "RUNNING"
        elif state.exit_code is not None and state.finished_at is not None:
            track.status = "STOPPED"
            track.exit_code = state.exit_code
            if state.oom_killed:
                track.reason = "OutOfMemoryError: Container killed due to memory usage"
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
        """Take back containers that ran on while the agent was away."""
        if self.pull_started_at is None:
            self.pull_started_at = self.clock.now()
        if self.ctx.network_mode == "awsvpc":
            pause = self.adopted.get("~internal~ecs~pause")
            if pause:
                with contextlib.suppress(NotFound):
                    state = await self.runtime.inspect(pause)
                    self.pause_id = state.id
                    self._pause_state = state
                    self.ip_address = next(iter(state.ip_addresses.values()), None)
                    self.ctx = _with_pause(self.ctx, state.id)
        missing = []
        for name, track in self.tracks.items():
            container = self.adopted.get(name)
            if container is None:
                missing.append(name)
                continue
            try:
                state = await self.runtime.inspect(container)
            except NotFound:
                missing.append(name)
                continue
            self._apply_state(track, state)
            track.started = True
        if (
            missing
            and len(missing) == len(self.tracks)
            and self.server_status
            in (
                "PROVISIONING",
                "PENDING",
            )
        ):
            # Placed but never started: start it now, once.
            self.adopted = {}
            await self._start()
            return
        for name in missing:
            track = self.tracks[name]
            track.status = "STOPPED"
            track.reason = "Container was removed while the agent was not running"
            if track.essential:
                self.request_stop(
                    "EssentialContainerExited",
                    f"Essential container {name} was removed while the agent was not running",
                )
        self.pull_stopped_at = self.pull_stopped_at or self.clock.now()
        self.last_status = "RUNNING" if not self._stop.is_set() else self.last_status
        self.publish()

    def _essential_exit(self) -> Track | None:
        for track in self.tracks.values():
            if track.essential and track.status == "STOPPED":
                return track
        return None

    async def _supervise(self) -> None:
        """Run until asked to stop or an essential container exits."""
        while not self._stop.is_set():
            if self._essential_exit() is not None:
                self.request_stop("EssentialContainerExited", "Essential container in task exited")
                return
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
        self._advance("STOPPING")
        for wave in self._stop_order():
            await asyncio.gather(*(self._stop_container(t) for t in wave))
        self._advance("DEPROVISIONING")
        if self.pause_id:
            with contextlib.suppress(DockerError):
                await self.runtime.stop(self.pause_id, timeout=1)
        self.execution_stopped_at = self.clock.now()
        self._advance("STOPPED")

    async def _stop_container(self, track: Track) -> None:
        if track.runtime_id is None:
            track.status = "STOPPED"
            return
        if track.status != "STOPPED":
            timeout = int(track.definition.get("stopTimeout") or 30)
            with contextlib.suppress(NotFound):
                await self.runtime.stop(track.runtime_id, timeout=timeout)
        with contextlib.suppress(NotFound):
            state = await self.runtime.inspect(track.runtime_id)
            track.status = "STOPPED"
            track.exit_code = state.exit_code
        track.status = "STOPPED"

    async def remove_containers(self) -> None:
        """Remove the task's containers (after the cleanup delay)."""
        ids = [t.runtime_id for t in self.tracks.values() if t.runtime_id]
        if self.pause_id:
            ids.append(self.pause_id)
        for cid in ids:
            with contextlib.suppress(NotFound, Conflict):
                await self.runtime.remove(cid, force=True)


def _with_pause(ctx: TaskContext, pause_id: str) -> TaskContext:
    return replace(ctx, pause_container=pause_id)
