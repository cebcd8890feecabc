"""The agent channel: how `openecs agent` registers, learns its desired tasks and
reports what Docker did. Private to OpenECS, SigV4-signed like the public APIs.

    POST /agent/v1/register  → the container instance (new, or the agent's old one)
    POST /agent/v1/poll      → the instance's desired tasks; a long poll that
                               returns at once when they change (push, not poll)
    POST /agent/v1/report    → task and container state changes, batched
    POST /agent/v1/metrics   → tasks' CPU and memory utilization, every 10 s

A simulated fleet (`openecs fleet`) speaks for many instances at once:

    POST /agent/v1/fleet/register → register them all
    POST /agent/v1/fleet/poll     → the tasks that wait for the fleet (new ones
                                    to report running, stopping ones to report
                                    stopped); a long poll like /poll, whose
                                    digest is "" when nothing waits
    POST /agent/v1/fleet/report   → reports of tasks on any of its instances
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openecs.api.auth import Authenticator
from openecs.api.signed_requests import json_error, signed_json
from openecs.domain.container_instance import CapacityKind
from openecs.domain.errors import AwsError, InvalidParameterException
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.domain.task import Task
from openecs.usecases import agent_channel, container_instances, task_metrics
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import Registration

__all__ = ["agent_routes"]

log = logging.getLogger("openecs.agent_channel")

_MAX_WAIT = 25.0


def _present_task(task: Task, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "taskArn": task.arn,
        "taskId": task.task_id,
        "cluster": task.cluster,
        "clusterArn": task.cluster_arn,
        "family": task.family,
        "taskDefinitionArn": task.task_definition_arn,
        "taskDefinition": body,
        "desiredStatus": task.desired_status,
        "lastStatus": task.last_status,
        "launchType": task.launch_type,
        "networkMode": task.network_mode,
        "cpu": task.cpu,
        "memory": task.memory,
        "overrides": task.overrides,
        "containers": [{"name": c.name, "containerArn": c.container_arn} for c in task.containers],
        "createdAt": task.created_at,
        "availabilityZone": task.availability_zone,
        "stopCode": task.stop_code,
        # Seconds to keep serving while the task's load balancer targets drain.
        "drainSeconds": max((task.deactivate_until or 0) - time.time(), 0.0),
        "stoppedReason": task.stopped_reason,
    }


def agent_routes(
    backend: Backend, authenticator: Authenticator, *, agent_timeout: float = 45.0
) -> list[Route]:
    # Each poll is a heartbeat: hold none longer than a third of the liveness
    # timeout, so a live agent is never taken for a lost one mid-poll.
    max_wait = max(min(_MAX_WAIT, agent_timeout / 3), 0.5)
    # An agent (or a fleet) polls after every change it sees; its heartbeat is written
    # at most this often, which keeps it well within the timeout.
    heartbeat_interval = agent_timeout / 10
    fleet_beats: dict[str, float] = {}  # digest of a fleet's instance ids → last written

    async def authenticated(request: Request) -> tuple[Scope, dict[str, Any]]:
        return await signed_json(authenticator, request)

    error = json_error

    async def register(request: Request) -> Response:
        try:
            scope, p = await authenticated(request)
            reg = _registration(p, CapacityKind.EC2)
            view = await run_in_threadpool(
                container_instances.register_container_instance,
                backend,
                scope,
                p.get("cluster"),
                reg,
                existing_ref=p.get("containerInstanceArn"),
            )
        except AwsError as err:
            return error(err)
        except (KeyError, TypeError, ValueError) as exc:
            return error(InvalidParameterException(f"Invalid registration: {exc}"))
        inst = view.instance
        return JSONResponse(
            {
                "containerInstanceArn": inst.arn,
                "instanceId": inst.instance_id,
                "status": inst.status,
            }
        )

    async def poll(request: Request) -> Response:
        try:
            scope, p = await authenticated(request)
            instance_id = str(p.get("instanceId", ""))
            known = p.get("digest")
            wait = min(float(p.get("wait", max_wait)), max_wait)
            await run_in_threadpool(
                functools.partial(
                    container_instances.record_heartbeat,
                    backend,
                    scope,
                    instance_id,
                    min_interval=heartbeat_interval,
                )
            )
            deadline = time.monotonic() + wait
            while True:
                with backend.instance_signals.listen(instance_id) as changed:
                    state = await run_in_threadpool(
                        agent_channel.desired_state, backend, scope, instance_id
                    )
                    remaining = deadline - time.monotonic()
                    if state.digest != known or remaining <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), remaining)
        except AwsError as err:
            return error(err)
        except (TypeError, ValueError) as exc:
            return error(InvalidParameterException(f"Invalid poll: {exc}"))
        return JSONResponse(
            {
                "digest": state.digest,
                "instanceStatus": state.instance.status,
                "tasks": [
                    _present_task(t, state.task_definitions.get(t.task_definition_arn, {}))
                    for t in state.tasks
                ],
            }
        )

    async def report(request: Request) -> Response:
        try:
            scope, p = await authenticated(request)
            reports = p.get("tasks") or []
            if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
                raise InvalidParameterException("tasks must be a list of task reports.")
            changed = await run_in_threadpool(
                agent_channel.apply_reports, backend, scope, str(p.get("instanceId", "")), reports
            )
        except AwsError as err:
            return error(err)
        return JSONResponse({"changed": changed})

    async def metrics(request: Request) -> Response:
        try:
            scope, p = await authenticated(request)
            reports = p.get("tasks") or []
            if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
                raise InvalidParameterException("tasks must be a list of task utilizations.")
            recorded = await run_in_threadpool(
                task_metrics.record_task_utilization, backend, scope, reports
            )
        except AwsError as err:
            return error(err)
        return JSONResponse({"recorded": recorded})

    async def fleet_register(request: Request) -> Response:
        """Register many simulated hosts at once (`openecs agent --simulate N`)."""
        try:
            scope, p = await authenticated(request)
            regs = [_registration(item, CapacityKind.EC2) for item in p.get("instances") or []]
            if not regs:
                raise InvalidParameterException("instances must not be empty.")
            found = await run_in_threadpool(
                container_instances.register_many, backend, scope, p.get("cluster"), regs
            )
        except AwsError as err:
            return error(err)
        except (KeyError, TypeError, ValueError) as exc:
            return error(InvalidParameterException(f"Invalid registration: {exc}"))
        return JSONResponse(
            {
                "instances": [
                    {
                        "ec2InstanceId": i.ec2_instance_id,
                        "instanceId": i.instance_id,
                        "containerInstanceArn": i.arn,
                    }
                    for i in found
                ]
            }
        )

    async def fleet_poll(request: Request) -> Response:
        """One long poll for a whole simulated fleet: returns when the tasks waiting
        for any of its instances change."""
        try:
            scope, p = await authenticated(request)
            cluster = p.get("cluster")
            if not isinstance(cluster, str):
                raise InvalidParameterException("cluster must be the fleet's cluster.")
            ids = [str(i) for i in p.get("instanceIds") or []]
            known = p.get("digest")
            wait = min(float(p.get("wait", max_wait)), max_wait)
            fleet = hashlib.sha256("\n".join(ids).encode()).hexdigest()
            if time.monotonic() - fleet_beats.get(fleet, -math.inf) >= heartbeat_interval:
                await run_in_threadpool(container_instances.record_heartbeats, backend, ids)
                fleet_beats.pop(fleet, None)
                fleet_beats[fleet] = time.monotonic()
                while len(fleet_beats) > 64:
                    del fleet_beats[next(iter(fleet_beats))]
            members = frozenset(ids)
            deadline = time.monotonic() + wait
            while True:
                with backend.instance_signals.listen(*ids) as changed:
                    waiting = await run_in_threadpool(
                        agent_channel.awaiting_fleet, backend, scope, cluster, members
                    )
                    digest = _fleet_digest(waiting)
                    remaining = deadline - time.monotonic()
                    if digest != known or remaining <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), remaining)
        except AwsError as err:
            return error(err)
        except (TypeError, ValueError) as exc:
            return error(InvalidParameterException(f"Invalid poll: {exc}"))
        tasks = []
        for t in waiting:
            item = _present_task(t, {})
            item["instanceId"] = t.container_instance_id
            tasks.append(item)
        return JSONResponse({"digest": digest, "tasks": tasks})

    async def fleet_report(request: Request) -> Response:
        try:
            scope, p = await authenticated(request)
            reports = p.get("tasks") or []
            if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
                raise InvalidParameterException("tasks must be a list of task reports.")
            changed = await run_in_threadpool(
                agent_channel.apply_reports, backend, scope, None, reports
            )
        except AwsError as err:
            return error(err)
        return JSONResponse({"changed": changed})

    return [
        Route("/agent/v1/register", register, methods=["POST"]),
        Route("/agent/v1/poll", poll, methods=["POST"]),
        Route("/agent/v1/report", report, methods=["POST"]),
        Route("/agent/v1/metrics", metrics, methods=["POST"]),
        Route("/agent/v1/fleet/register", fleet_register, methods=["POST"]),
        Route("/agent/v1/fleet/poll", fleet_poll, methods=["POST"]),
        Route("/agent/v1/fleet/report", fleet_report, methods=["POST"]),
    ]


def _registration(p: dict[str, Any], default_kind: str) -> Registration:
    kind = str(p.get("capacity", default_kind)).upper()
    if kind not in (CapacityKind.EC2, CapacityKind.FARGATE):
        raise InvalidParameterException("capacity must be EC2 or FARGATE.")
    return Registration(
        ec2_instance_id=str(p["instanceId"]),
        capacity=Capacity.from_api(p.get("totalResources") or []),
        kind=kind,
        host_address=str(p.get("hostAddress") or "127.0.0.1"),
        availability_zone=p.get("availabilityZone"),
        instance_type=p.get("instanceType"),
        attributes=list(p.get("attributes") or []),
        version_info=dict(p.get("versionInfo") or {}),
    )


def _fleet_digest(waiting: list[Task]) -> str:
    """ "" when nothing waits: a fleet that has just reported every task it was given
    polls with "" and waits, instead of first fetching the empty set."""
    if not waiting:
        return ""
    h = hashlib.sha256()
    for task in sorted(waiting, key=lambda t: t.task_id):
        h.update(f"{task.task_id}:{task.desired_status}:{task.last_status};".encode())
    return h.hexdigest()[:32]
