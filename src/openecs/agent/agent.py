"""`openecs agent`: offers one host's Docker engine as capacity and runs the
tasks the control plane places on it.

    register ──► adopt what runs ──► ┌ poll loop: desired tasks → runners
                                     ├ event loop: Docker events → runners
                                     ├ reporter: runner states → control plane
                                     └ metadata endpoint for the containers

Nothing here is the source of truth: the control plane says what should
run, Docker says what does, and the agent reconciles the two. Killed and
restarted, it finds its containers by their labels and carries on. Once its
container instance is deregistered, it stops its tasks and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from openecs import __version__
from openecs.agent import labels as L
from openecs.agent.container_runtime import (
    Conflict,
    ContainerRuntime,
    DockerError,
    EventAction,
)
from openecs.agent.container_specs import TaskContext
from openecs.agent.control_client import ControlPlaneClient, ControlPlaneError
from openecs.agent.docker_runtime import DockerRuntime
from openecs.agent.identity import AgentIdentity, load_identity, save_identity
from openecs.agent.log_shipper import DockerLogSource, LogsClientPool
from openecs.agent.metadata_server import MetadataServer
from openecs.agent.reporter import Reporter
from openecs.agent.stats_sampler import StatsSampler, reservations_from_runners
from openecs.agent.task_cgroups import DEFAULT_CGROUP_ROOT, TaskCgroups
from openecs.agent.task_runner import LogShipping, TaskRunner
from openecs.domain.errors import AwsError
from openecs.domain.task_size import parse_task_cpu, parse_task_memory
from openecs.platform.clock import Clock, SystemClock

__all__ = ["Agent", "AgentConfig"]

log = logging.getLogger("openecs.agent")

AWSVPC_NETWORK = "openecs-awsvpc"
# Tasks this agent ran to the end, remembered so that a control plane still
# listing one (its STOPPED report not yet in) never gets it started again.
_FINISHED_MEMORY = 10_000


@dataclass
class AgentConfig:
    endpoint: str
    cluster: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    capacity: str = "EC2"
    host_address: str = "127.0.0.1"
    data_dir: Path = field(default_factory=lambda: Path(".openecs-agent"))
    availability_zone: str | None = None
    instance_type: str = "openecs.local"
    allow_privileged: bool = False
    cleanup_delay: float = 600.0
    # How often each container's state is read again, in case an event was missed.
    resync_interval: float = 15.0
    poll_wait: float = 20.0
    pause_image: str = "openecs/pause:1"
    # Capacity to offer instead of the host's (for trying many small instances).
    cpu_units: int | None = None
    memory_mib: int | None = None
    # Task-level cpu/memory as a cgroup per task (falls back to per-container limits).
    task_cgroups: bool = True
    cgroup_root: Path = DEFAULT_CGROUP_ROOT


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        runtime: ContainerRuntime,
        *,
        control: ControlPlaneClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.clock = clock or SystemClock()
        self.control = control or ControlPlaneClient(
            config.endpoint, config.access_key, config.secret_key, config.region
        )
        self.identity: AgentIdentity = load_identity(config.data_dir)
        self.instance_id: str | None = None
        self.runners: dict[str, TaskRunner] = {}
        # Images seen on the engine, shared by the runners (see TaskRunner.known_images).
        self.known_images: set[str] = set()
        self._runner_tasks: dict[str, asyncio.Task[None]] = {}
        self._finished_at: dict[str, float] = {}
        self._finished: dict[str, None] = {}
        self._adoptable: dict[str, dict[str, str]] = {}
        self.cgroups: TaskCgroups | None = None
        self.deregistered = False
        self.reporter = Reporter(self._send_reports)
        self.metadata = MetadataServer(
            self._runner_by_task_id,
            runtime,
            cluster_arn=lambda r: r.cluster_arn,
            availability_zone=self.availability_zone,
            launch_type="FARGATE" if self.is_fargate else "EC2",
            ecs_call=self._call_ecs,
        )
        self._gateways: dict[str, str] = {}
        self.ready = asyncio.Event()
        # awslogs containers' output, shipped by the agent (only with a Docker engine).
        self.log_pool: LogsClientPool | None = None
        self.log_shipping: LogShipping | None = None
        if isinstance(runtime, DockerRuntime):
            self.log_pool = LogsClientPool(config.endpoint, config.access_key, config.secret_key)
            self.log_shipping = LogShipping(
                source=DockerLogSource(runtime.client),
                pool=self.log_pool,
                data_dir=config.data_dir,
            )

    @property
    def is_fargate(self) -> bool:
        return self.config.capacity.upper() == "FARGATE"

    @property
    def availability_zone(self) -> str:
        return self.config.availability_zone or f"{self.config.region}a"

    # -- start-up ------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until the container instance is deregistered (or cancelled)."""
        await self._prepare_host()
        await self._register()
        await self._find_adoptable()
        sampler = StatsSampler(
            self.runtime,
            lambda: reservations_from_runners(self.runners.values()),
            self._send_metrics,
        )
        background = [
            asyncio.create_task(self.reporter.run(), name="reporter"),
            asyncio.create_task(self._event_loop(), name="events"),
            asyncio.create_task(self._poll_loop(), name="poll"),
            asyncio.create_task(self._cleanup_loop(), name="cleanup"),
            asyncio.create_task(self._resync_loop(), name="resync"),
            asyncio.create_task(sampler.run(), name="stats"),
        ]
        try:
            done, _ = await asyncio.wait(background, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a loop that failed takes the agent down with its error
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.metadata.stop()

    async def _prepare_host(self) -> None:
        from openecs.agent.pause_image import ensure_pause_image

        await ensure_pause_image(self.runtime, self.config.pause_image)
        with contextlib.suppress(Conflict):
            await self.runtime.create_network(AWSVPC_NETWORK, labels={"openecs.network": "awsvpc"})
        for network in ("bridge", AWSVPC_NETWORK):
            with contextlib.suppress(DockerError):
                info = await self.runtime.inspect_network(network)
                if info.gateways:
                    self._gateways[network] = info.gateways[0]
        addresses = ["127.0.0.1", *self._gateways.values()]
        await self.metadata.start(addresses)
        if self.config.task_cgroups:
            host = await self.runtime.host_info()
            cgroups = TaskCgroups(
                self.config.cgroup_root, parent=f"openecs/{self.identity.agent_id}"
            )
            # Under the systemd driver a cgroup parent must be a slice: not ours to make.
            if host.cgroup_driver == "cgroupfs" and cgroups.version is not None:
                self.cgroups = cgroups
                # Left by tasks whose containers went while this agent was down.
                swept = cgroups.sweep()
                if swept:
                    log.info("removed task cgroups no process used", extra={"tasks": swept})
            else:
                log.info(
                    "task cgroups off; limiting containers one by one",
                    extra={"cgroupDriver": host.cgroup_driver, "cgroups": cgroups.version},
                )

    async def _registration(self) -> dict[str, Any]:
        host = await self.runtime.host_info()
        cpu = self.config.cpu_units or host.cpus * 1024
        memory = self.config.memory_mib or host.memory_bytes // (1024 * 1024)
        arch = {"x86_64": "x86_64", "aarch64": "arm64"}.get(host.architecture, host.architecture)
        attributes = [
            {"name": "ecs.os-type", "value": "linux"},
            {"name": "ecs.os-family", "value": "LINUX"},
            {"name": "ecs.cpu-architecture", "value": arch},
            {"name": "ecs.availability-zone", "value": self.availability_zone},
            {"name": "ecs.instance-type", "value": self.config.instance_type},
            *({"name": name} for name in AGENT_CAPABILITIES),
        ]
        return {
            "cluster": self.config.cluster,
            "capacity": "FARGATE" if self.is_fargate else "EC2",
            "instanceId": self.identity.instance_id,
            "containerInstanceArn": self.identity.container_instance_arn,
            "hostAddress": self.config.host_address,
            "availabilityZone": self.availability_zone,
            "instanceType": self.config.instance_type,
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376"]},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
            ],
            "attributes": attributes,
            "versionInfo": {
                "agentVersion": __version__,
                "agentHash": "openecs",
                "dockerVersion": f"DockerVersion: {host.engine_version}",
            },
            "platform": platform.platform(),
        }

    async def _register(self) -> None:
        payload = await self._registration()
        backoff = 0.1
        while True:
            try:
                result = await self.control.call("/agent/v1/register", payload)
                break
            except ControlPlaneError:
                raise
            except (httpx.HTTPError, OSError) as exc:
                log.warning("control plane unreachable", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
        self.instance_id = str(result["instanceId"])
        self.identity.container_instance_arn = str(result["containerInstanceArn"])
        save_identity(self.config.data_dir, self.identity)
        log.info("registered", extra={"containerInstanceArn": result["containerInstanceArn"]})
        self.ready.set()

    async def _find_adoptable(self) -> None:
        """Group this agent's existing containers by task, to re-adopt them."""
        found = await self.runtime.list_by_labels({L.AGENT: self.identity.agent_id})
        for c in found:
            arn = c.labels.get(L.TASK_ARN)
            name = c.labels.get(L.CONTAINER_NAME)
            if arn and name:
                self._adoptable.setdefault(arn, {})[name] = c.id

    # -- the loops -----------------------------------------------------------------

    async def _send_reports(self, batch: list[dict[str, Any]]) -> None:
        await self.control.call(
            "/agent/v1/report", {"instanceId": self.instance_id, "tasks": batch}
        )

    async def _send_metrics(self, batch: list[dict[str, Any]]) -> None:
        await self.control.call(
            "/agent/v1/metrics", {"instanceId": self.instance_id, "tasks": batch}
        )

    async def _poll_loop(self) -> None:
        digest: str | None = None
        backoff = 0.1
        while True:
            try:
                result = await self.control.call(
                    "/agent/v1/poll",
                    {
                        "instanceId": self.instance_id,
                        "digest": digest,
                        "wait": self.config.poll_wait,
                    },
                )
                backoff = 0.1
            except ControlPlaneError as err:
                log.warning("poll refused; registering again", extra={"error": str(err)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                with contextlib.suppress(ControlPlaneError, httpx.HTTPError, OSError):
                    await self._register()
                    self._republish()
                continue
            except (httpx.HTTPError, OSError) as exc:
                log.warning("poll failed", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                if digest is not None:
                    digest = None
                    self._republish()  # the server may have restarted: catch it up
                continue
            digest = str(result.get("digest"))
            await self._reconcile(result.get("tasks") or [])
            if result.get("instanceStatus") == "INACTIVE":
                await self._wind_down()
                return

    async def _wind_down(self) -> None:
        """Deregistered: let the tasks stop (the control plane asked), report, then end."""
        log.warning("container instance deregistered; stopping")
        self.deregistered = True
        for runner in self.runners.values():
            runner.request_stop("TerminationNotice", "Container instance deregistered")
        await asyncio.gather(*self._runner_tasks.values(), return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reporter.flushed(), 10.0)

    def _republish(self) -> None:
        for runner in self.runners.values():
            runner.publish()

    async def _reconcile(self, desired: list[Mapping[str, Any]]) -> None:
        wanted = {str(t["taskArn"]): t for t in desired}
        for arn, task in wanted.items():
            runner = self.runners.get(arn)
            if runner is None:
                if arn not in self._finished:
                    self._launch(task)
            elif task.get("desiredStatus") == "STOPPED":
                runner.request_stop(
                    task.get("stopCode"),
                    task.get("stoppedReason"),
                    drain_seconds=float(task.get("drainSeconds") or 0.0),
                )
        for arn, runner in list(self.runners.items()):
            if arn not in wanted and arn not in self._finished_at:
                # The control plane no longer knows this task: it must not run.
                runner.request_stop("TaskFailedToStart", "Task is unknown to the control plane")
        for arn, containers in list(self._adoptable.items()):
            if arn not in wanted:
                self._adoptable.pop(arn)
                for cid in containers.values():
                    with contextlib.suppress(DockerError):
                        await self.runtime.remove(cid, force=True)

    def _launch(self, task: Mapping[str, Any]) -> None:
        arn = str(task["taskArn"])
        td = task.get("taskDefinition") or {}
        mode = str(task.get("networkMode") or td.get("networkMode") or "bridge")
        task_id = str(task.get("taskId") or arn.rsplit("/", 1)[-1])
        gateway = {
            "awsvpc": self._gateways.get(AWSVPC_NETWORK),
            "bridge": self._gateways.get("bridge"),
        }.get(mode) or "127.0.0.1"
        ctx = TaskContext(
            task_arn=arn,
            task_id=task_id,
            cluster=str(task.get("cluster") or self.config.cluster),
            family=str(task.get("family") or td.get("family") or "task"),
            revision=str(td.get("revision", "")),
            agent_id=self.identity.agent_id,
            network_mode=mode,
            host_ip=self.config.host_address,
            metadata_uri=f"http://{gateway}:{self.metadata.port}/v4/{task_id}",
            agent_uri=f"http://{gateway}:{self.metadata.port}/api/{task_id}",
            volumes=_volumes(td, task_id),
            task_cpu=_task_size(task, td, "cpu"),
            task_memory=_task_size(task, td, "memory"),
            allow_privileged=self.config.allow_privileged and not self.is_fargate,
        )
        runner = TaskRunner(
            task,
            ctx,
            self.runtime,
            self.reporter.submit,
            self.clock,
            pause_image=self.config.pause_image,
            awsvpc_network=AWSVPC_NETWORK,
            adopted=self._adoptable.pop(arn, None),
            cgroups=self.cgroups,
            log_shipping=self.log_shipping,
            known_images=self.known_images,
        )
        self.runners[arn] = runner
        self._runner_tasks[arn] = asyncio.create_task(self._run(runner), name=f"task {task_id}")

    async def _run(self, runner: TaskRunner) -> None:
        try:
            await _ensure_volumes(self.runtime, runner.definition, runner.ctx)
        except DockerError as err:
            runner.request_stop("TaskFailedToStart", f"CannotCreateVolumeError: {err}")
        await runner.run()
        self._finished_at[runner.task_arn] = self.clock.monotonic()
        self._finished[runner.task_arn] = None
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.pop(next(iter(self._finished)))

    async def _event_loop(self) -> None:
        async for event in self.runtime.events(labels={L.AGENT: self.identity.agent_id}):
            if event.action is EventAction.RESYNC:
                await self._resync()
                continue
            target = self.runners.get(event.labels.get(L.TASK_ARN, ""))
            if target is not None:
                await target.on_event(event)

    async def _resync(self) -> None:
        for runner in list(self.runners.values()):
            await runner.resync()

    async def _resync_loop(self) -> None:
        """Events are edges, and one can be lost (Docker under load, a stream cut):
        now and then every runner asks Docker for the truth about its containers."""
        while True:
            await asyncio.sleep(self.config.resync_interval)
            try:
                await self._resync()
            except DockerError as err:
                log.warning("resync failed", extra={"error": str(err)})

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(min(max(self.config.cleanup_delay / 4, 0.5), 30.0))
            now = self.clock.monotonic()
            for arn, finished in list(self._finished_at.items()):
                if now - finished < self.config.cleanup_delay:
                    continue
                runner = self.runners.pop(arn, None)
                self._finished_at.pop(arn, None)
                self._runner_tasks.pop(arn, None)
                if runner is not None:
                    await runner.remove_containers()

    async def _call_ecs(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """An ECS API call a task makes through the agent (task protection)."""
        return await self.control.ecs(operation, payload)

    def _runner_by_task_id(self, task_id: str) -> TaskRunner | None:
        for runner in self.runners.values():
            if runner.ctx.task_id == task_id:
                return runner
        return None

    async def aclose(self) -> None:
        await self.metadata.stop()
        await asyncio.gather(*(r.stop_shippers() for r in self.runners.values()))
        if self.log_pool is not None:
            await self.log_pool.aclose()
        await self.control.aclose()


AGENT_CAPABILITIES = (
    "com.amazonaws.ecs.capability.docker-remote-api.1.17",
    "com.amazonaws.ecs.capability.docker-remote-api.1.18",
    "com.amazonaws.ecs.capability.docker-remote-api.1.19",
    "com.amazonaws.ecs.capability.docker-remote-api.1.21",
    "com.amazonaws.ecs.capability.docker-remote-api.1.22",
    "com.amazonaws.ecs.capability.docker-remote-api.1.24",
    "com.amazonaws.ecs.capability.docker-remote-api.1.25",
    "com.amazonaws.ecs.capability.docker-remote-api.1.29",
    "com.amazonaws.ecs.capability.docker-remote-api.1.30",
    "com.amazonaws.ecs.capability.logging-driver.json-file",
    "com.amazonaws.ecs.capability.logging-driver.none",
    "com.amazonaws.ecs.capability.logging-driver.awslogs",
    "com.amazonaws.ecs.capability.task-iam-role",
    "ecs.capability.container-health-check",
    "ecs.capability.container-ordering",
    "ecs.capability.task-eni",
    "ecs.capability.docker-plugin.local",
    "ecs.capability.execution-role-awslogs",
    "ecs.capability.full-sync",
)


def _task_size(task: Mapping[str, Any], td: Mapping[str, Any], key: str) -> int:
    """The task-level cpu (units) or memory (MiB) the task asked for; 0 when it has none.

    Read from the task definition and overrides, not the task's `cpu`/`memory`:
    without a task size the control plane shows the sum of the containers' there.
    """
    value = (task.get("overrides") or {}).get(key) or td.get(key)
    if not value:
        return 0
    try:
        return parse_task_cpu(str(value)) if key == "cpu" else parse_task_memory(str(value))
    except AwsError:
        return 0


def _volumes(td: Mapping[str, Any], task_id: str) -> dict[str, str]:
    """Task volumes by name → a host path (bind) or a Docker volume name."""
    out: dict[str, str] = {}
    for vol in td.get("volumes") or ():
        name = vol.get("name")
        if not name:
            continue
        host = (vol.get("host") or {}).get("sourcePath")
        docker = vol.get("dockerVolumeConfiguration")
        if host:
            out[name] = host
        elif docker is not None and docker.get("scope") == "shared":
            out[name] = name
        else:
            out[name] = f"ecs-{task_id}-{name}"
    return out


async def _ensure_volumes(
    runtime: ContainerRuntime, td: Mapping[str, Any], ctx: TaskContext
) -> None:
    for vol in td.get("volumes") or ():
        source = (ctx.volumes or {}).get(vol.get("name", ""))
        if not source or source.startswith("/"):
            continue
        docker = vol.get("dockerVolumeConfiguration") or {}
        with contextlib.suppress(Conflict):
            await runtime.create_volume(
                source,
                labels={**(docker.get("labels") or {}), L.AGENT: ctx.agent_id},
                driver=docker.get("driver") or "local",
                driver_options=docker.get("driverOpts"),
            )
