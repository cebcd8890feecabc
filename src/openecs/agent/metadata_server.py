"""Task Metadata Endpoint v4, served by the agent to the containers it runs.

Each container gets `ECS_CONTAINER_METADATA_URI_V4=http://<host>:<port>/v4/<task-id>/<name>`
and may GET, in ECS's JSON shapes:

    {uri}              the container's metadata
    {uri}/task         the task's metadata with all its containers
    {uri}/stats        the container's Docker stats
    {uri}/task/stats   stats of every container of the task, by Docker id
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openecs.agent.container_runtime import ContainerRuntime, ContainerStats, DockerError
from openecs.agent.control_client import ControlPlaneError
from openecs.agent.task_runner import TaskRunner, Track

__all__ = ["MetadataServer"]


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")


def _stats_json(s: ContainerStats, name: str, cid: str) -> dict[str, Any]:
    """Docker's stats shape (what ECS's endpoint returns)."""
    return {
        "read": s.read_at.isoformat(),
        "name": "/" + name,
        "id": cid,
        "pids_stats": {"current": s.pids},
        "cpu_stats": {
            "cpu_usage": {"total_usage": s.cpu_total_ns},
            "system_cpu_usage": s.system_cpu_ns,
            "online_cpus": s.online_cpus,
        },
        "memory_stats": {"usage": s.memory_usage_bytes, "limit": s.memory_limit_bytes},
        "networks": {"eth0": {"rx_bytes": s.network_rx_bytes, "tx_bytes": s.network_tx_bytes}},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"op": "read", "value": s.block_read_bytes},
                {"op": "write", "value": s.block_write_bytes},
            ]
        },
    }


class MetadataServer:
    def __init__(
        self,
        runners: Callable[[str], TaskRunner | None],
        runtime: ContainerRuntime,
        *,
        cluster_arn: Callable[[TaskRunner], str],
        availability_zone: str,
        launch_type: str,
        ecs_call: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None,
    ) -> None:
        # Calls the ECS API on a task's behalf (the task protection endpoint).
        self._ecs_call = ecs_call
        self._runner_for = runners
        self._runtime = runtime
        self._cluster_arn = cluster_arn
        self._az = availability_zone
        self._launch_type = launch_type
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # -- shapes ------------------------------------------------------------------

    def _container(self, runner: TaskRunner, track: Track) -> dict[str, Any]:
        d = track.definition
        networks = [{"NetworkMode": runner.ctx.network_mode}]
        if runner.ip_address:
            networks[0]["IPv4Addresses"] = [runner.ip_address]  # type: ignore[assignment]
        return {
            "DockerId": track.runtime_id,
            "Name": track.name,
            "DockerName": runner.ctx.container_name(track.name),
            "Image": d.get("image"),
            "Labels": runner.ctx.labels(track.name),
            "DesiredStatus": "STOPPED" if runner.stop_code else "RUNNING",
            "KnownStatus": track.status,
            "ExitCode": track.exit_code,
            "Limits": {"CPU": d.get("cpu", 0), "Memory": d.get("memory")},
            "Type": "NORMAL",
            "ContainerARN": runner.container_arns.get(track.name),
            "Health": {"status": track.health} if d.get("healthCheck") else None,
            "Ports": [
                {
                    "ContainerPort": b["containerPort"],
                    "Protocol": b["protocol"],
                    "HostPort": b["hostPort"],
                    "HostIp": b["bindIP"],
                }
                for b in track.bindings
            ],
            "Networks": networks,
            "LogDriver": (d.get("logConfiguration") or {}).get("logDriver", "json-file"),
        }

    def _task_doc(self, runner: TaskRunner) -> dict[str, Any]:
        td = runner.definition
        return {
            "Cluster": self._cluster_arn(runner),
            "TaskARN": runner.task_arn,
            "Family": runner.ctx.family,
            "Revision": runner.ctx.revision,
            "DesiredStatus": "STOPPED" if runner.stop_code else "RUNNING",
            "KnownStatus": runner.last_status,
            "Limits": {
                "CPU": _num(td.get("cpu")) / 1024 if td.get("cpu") else None,
                "Memory": int(_num(td.get("memory"))) or None,
            },
            "PullStartedAt": _iso(runner.pull_started_at),
            "PullStoppedAt": _iso(runner.pull_stopped_at),
            "AvailabilityZone": self._az,
            "LaunchType": self._launch_type,
            "Containers": [self._container(runner, t) for t in runner.tracks.values()],
        }

    # -- handlers ----------------------------------------------------------------

    def _find(self, request: Request) -> tuple[TaskRunner, Track] | None:
        runner = self._runner_for(request.path_params["task_id"])
        if runner is None:
            return None
        track = runner.tracks.get(request.path_params["name"])
        return (runner, track) if track is not None else None

    async def _container_meta(self, request: Request) -> Response:
        found = self._find(request)
        if found is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(self._container(*found))

    async def _task_meta(self, request: Request) -> Response:
        found = self._find(request)
        if found is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(self._task_doc(found[0]))

    async def _stats_of(self, runner: TaskRunner, track: Track) -> dict[str, Any] | None:
        if not track.runtime_id:
            return None
        with contextlib.suppress(DockerError):
            s = await self._runtime.stats(track.runtime_id)
            return _stats_json(s, runner.ctx.container_name(track.name), track.runtime_id)
        return None

    async def _container_stats(self, request: Request) -> Response:
        found = self._find(request)
        if found is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse(await self._stats_of(*found))

    async def _task_stats(self, request: Request) -> Response:
        found = self._find(request)
        if found is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        runner = found[0]
        tracks = [t for t in runner.tracks.values() if t.runtime_id]
        stats = await asyncio.gather(*(self._stats_of(runner, t) for t in tracks))
        return JSONResponse({t.runtime_id: s for t, s in zip(tracks, stats, strict=True)})

    async def _task_protection(self, request: Request) -> Response:
        """ECS agent API: `$ECS_AGENT_URI/task-protection/v1/state`, GET or PUT
        {"ProtectionEnabled": bool, "ExpiresInMinutes": n}."""
        runner = self._runner_for(request.path_params["task_id"])
        if runner is None or self._ecs_call is None:
            return _protection_error("", "ResourceNotFoundException", "Unknown task", 404)
        payload: dict[str, Any] = {"cluster": self._cluster_arn(runner), "tasks": [runner.task_arn]}
        operation = "GetTaskProtection"
        if request.method == "PUT":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("ProtectionEnabled"), bool):
                return _protection_error(
                    runner.task_arn,
                    "InvalidParameterException",
                    "Invalid request: ProtectionEnabled is required and must be a boolean.",
                    400,
                )
            operation = "UpdateTaskProtection"
            payload["protectionEnabled"] = body["ProtectionEnabled"]
            if body.get("ExpiresInMinutes") is not None:
                payload["expiresInMinutes"] = body["ExpiresInMinutes"]
        try:
            result = await self._ecs_call(operation, payload)
        except ControlPlaneError as err:
            return _protection_error(runner.task_arn, err.code, err.message, 400)
        except (httpx.HTTPError, OSError) as exc:
            return _protection_error(runner.task_arn, "ServerException", str(exc), 500)
        if result.get("failures"):
            failure = result["failures"][0]
            return _protection_error(
                runner.task_arn, str(failure.get("reason")), str(failure.get("detail") or ""), 400
            )
        found = (result.get("protectedTasks") or [{}])[0]
        expires = found.get("expirationDate")
        return JSONResponse(
            {
                "protection": {
                    "ExpirationDate": _iso(float(expires)) if expires is not None else None,
                    "ProtectionEnabled": bool(found.get("protectionEnabled")),
                    "TaskArn": runner.task_arn,
                }
            }
        )

    def app(self) -> Starlette:
        base = "/v4/{task_id}/{name}"
        return Starlette(
            routes=[
                Route(
                    "/api/{task_id}/task-protection/v1/state",
                    self._task_protection,
                    methods=["GET", "PUT"],
                ),
                Route(base, self._container_meta),
                Route(base + "/task", self._task_meta),
                Route(base + "/stats", self._container_stats),
                Route(base + "/task/stats", self._task_stats),
            ]
        )

    # -- serving -----------------------------------------------------------------

    async def start(self, addresses: list[str], port: int = 0) -> int:
        """Listen on each address (one port for all); returns the port."""
        sockets = []
        for address in dict.fromkeys(addresses):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                sock.close()
                continue
            port = sock.getsockname()[1]
            sockets.append(sock)
        config = uvicorn.Config(self.app(), log_config=None, access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        self._server = server
        config.load()
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=sockets)

        async def serve() -> None:
            # The process owns signal handling; this server only stops when told to.
            await server.main_loop()
            await server.shutdown(sockets=sockets)

        self._task = asyncio.create_task(serve())
        self.port = port
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _protection_error(arn: str, code: str, message: str, status: int) -> Response:
    return JSONResponse(
        {"error": {"Arn": arn, "Code": code, "Message": message}}, status_code=status
    )
