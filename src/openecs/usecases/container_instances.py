"""Container instances: registration by agents, describe/list, draining, deregistration,
and the agents' heartbeats."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from openecs.domain.arns import container_instance_arn, parse_arn
from openecs.domain.container_instance import (
    FARGATE_POOL,
    CapacityKind,
    ContainerInstance,
    InstanceStatus,
)
from openecs.domain.errors import ClientException, InvalidParameterException
from openecs.domain.resources import Capacity, Reservation
from openecs.domain.scope import Scope
from openecs.domain.tags import tags_from_api
from openecs.domain.task import StopCode, TaskStatus
from openecs.platform.ids import new_task_id
from openecs.scheduler.query_language import compile_filter
from openecs.store import attributes as attribute_rows
from openecs.store import container_instances as instance_rows
from openecs.store import placement_epochs
from openecs.store import tags as tag_rows
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.pagination import decode_token, encode_token, page_limit
from openecs.usecases.usage_history import record_deregistered_instance

__all__ = [
    "InstanceDescription",
    "Registration",
    "deregister_container_instance",
    "describe_container_instances",
    "instance_id_from",
    "list_container_instances",
    "mark_silent_agents_disconnected",
    "record_heartbeat",
    "record_heartbeats",
    "register_container_instance",
    "register_many",
    "update_container_instances_state",
    "with_custom_attributes",
]


@dataclass(slots=True)
class Registration:
    """What an agent tells about its host when it registers."""

    ec2_instance_id: str
    capacity: Capacity
    kind: str = CapacityKind.EC2
    host_address: str = "127.0.0.1"
    availability_zone: str | None = None
    instance_type: str | None = None
    attributes: list[dict[str, Any]] = field(default_factory=list)
    version_info: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class InstanceDescription:
    instance: ContainerInstance
    remaining: Capacity
    running: int
    pending: int
    tags: dict[str, str] = field(default_factory=dict)


def instance_id_from(ref: str) -> str:
    """A container instance ARN or bare id, as the id."""
    arn = parse_arn(ref)
    if arn is None:
        return ref
    if arn.resource_type != "container-instance":
        raise InvalidParameterException(f"Invalid container instance identifier: {ref}")
    return arn.resource.rsplit("/", 1)[-1]


def with_custom_attributes(
    instances: list[ContainerInstance], custom: Mapping[str, Mapping[str, str | None]]
) -> list[ContainerInstance]:
    """The instances as placement constraints and filters see them: with their custom
    attributes (PutAttributes), which shadow registered ones of the same name.
    Instances without any are returned as they are (shared, read-only)."""
    out = []
    for inst in instances:
        mine = custom.get(inst.arn)
        if mine:
            registered = [a for a in inst.attributes if a.get("name") not in mine]
            added = [
                {"name": name} if value is None else {"name": name, "value": value}
                for name, value in mine.items()
            ]
            inst = dataclasses.replace(inst, attributes=registered + added)
        out.append(inst)
    return out


def _describe(conn: Connection, inst: ContainerInstance, with_tags: bool) -> InstanceDescription:
    tasks = task_rows.tasks_on_instance(conn, inst.instance_id)
    used = sum((t.reservation for t in tasks), Reservation())
    running = sum(1 for t in tasks if t.last_status == TaskStatus.RUNNING)
    pending = sum(
        1
        for t in tasks
        if t.last_status in (TaskStatus.PROVISIONING, TaskStatus.PENDING, TaskStatus.ACTIVATING)
    )
    return InstanceDescription(
        inst,
        inst.capacity.remaining(used),
        running,
        pending,
        tag_rows.get_tags(conn, inst.arn) if with_tags else {},
    )


def _standard_attributes(reg: Registration) -> list[dict[str, Any]]:
    attrs = {a["name"]: a for a in reg.attributes if a.get("name")}
    if reg.availability_zone:
        attrs.setdefault(
            "ecs.availability-zone",
            {"name": "ecs.availability-zone", "value": reg.availability_zone},
        )
    if reg.instance_type:
        attrs.setdefault(
            "ecs.instance-type", {"name": "ecs.instance-type", "value": reg.instance_type}
        )
    return sorted(attrs.values(), key=lambda a: str(a["name"]))


def register_container_instance(
    backend: Backend,
    scope: Scope,
    cluster_ref: str | None,
    reg: Registration,
    *,
    existing_ref: str | None = None,
) -> InstanceDescription:
    """Register (or re-register) a host. An agent that restarts with the same
    EC2 instance id gets its old registration back, so its tasks stay its own."""
    new_tags = tags_from_api(reg.tags)

    def work(conn: Connection) -> InstanceDescription:
        if reg.kind == CapacityKind.FARGATE:
            cluster_name = FARGATE_POOL
        else:
            cluster_name = require_active_cluster(conn, scope, cluster_ref).name
        inst = None
        if existing_ref:
            inst = instance_rows.get(conn, scope, instance_id_from(existing_ref))
            if inst is not None and (
                inst.cluster != cluster_name or inst.status == InstanceStatus.INACTIVE
            ):
                inst = None
        if inst is None:
            inst = instance_rows.get_by_ec2_id(conn, scope, cluster_name, reg.ec2_instance_id)
        now = backend.clock.now()
        if inst is not None:
            inst.capacity = reg.capacity
            inst.attributes = _standard_attributes(reg)
            inst.version_info = reg.version_info
            inst.host_address = reg.host_address
            inst.availability_zone = reg.availability_zone
            inst.instance_type = reg.instance_type
            inst.agent_connected = True
            inst.last_heartbeat = now
            inst.version += 1
            instance_rows.save(conn, inst)
        else:
            instance_id = new_task_id()
            inst = ContainerInstance(
                instance_id=instance_id,
                arn=container_instance_arn(scope, cluster_name or "fargate", instance_id),
                account_id=scope.account_id,
                region=scope.region,
                cluster=cluster_name,
                ec2_instance_id=reg.ec2_instance_id,
                capacity=reg.capacity,
                registered_at=now,
                kind=reg.kind,
                last_heartbeat=now,
                host_address=reg.host_address,
                attributes=_standard_attributes(reg),
                version_info=reg.version_info,
                availability_zone=reg.availability_zone,
                instance_type=reg.instance_type,
            )
            instance_rows.insert_instance(conn, inst)
        tag_rows.put_tags(conn, inst.arn, new_tags)
        return _describe(conn, inst, with_tags=True)

    result = backend.write(work)
    # Capacity changed: services (DAEMON, draining) react at once.
    backend.controller_signals.notify(["services"])
    return result


def describe_container_instances(
    backend: Backend, scope: Scope, cluster_ref: str | None, refs: list[str], include_tags: bool
) -> tuple[list[InstanceDescription], list[dict[str, str]]]:
    if not refs:
        raise InvalidParameterException("Container instances cannot be empty.")
    if len(refs) > 100:
        raise InvalidParameterException(
            "The containerInstances parameter can contain at most 100 items."
        )
    found: list[InstanceDescription] = []
    failures: list[dict[str, str]] = []
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        ids = [instance_id_from(r) for r in refs]
        rows = instance_rows.get_many(conn, scope, ids)
        for ref, iid in zip(refs, ids, strict=True):
            inst = rows.get(iid)
            if inst is None or inst.cluster != cluster.name:
                arn = (
                    ref
                    if ref.startswith("arn:")
                    else container_instance_arn(scope, cluster.name, iid)
                )
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(_describe(conn, inst, include_tags))
    return found, failures


def list_container_instances(
    backend: Backend,
    scope: Scope,
    cluster_ref: str | None,
    *,
    status: str | None,
    next_token: str | None,
    max_results: int | None,
    filter_expression: str | None = None,
) -> tuple[list[str], str | None]:
    """ARNs of a cluster's instances, narrowed by a cluster query language `filter`."""
    limit = page_limit(max_results)
    after = decode_token(next_token)
    accept = compile_filter(filter_expression) if filter_expression else None
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        statuses = [status] if status else None
        instances = instance_rows.list_instances(conn, scope, cluster.name, statuses=statuses)
        groups: dict[str, dict[str, int]] = {}
        if accept is not None:
            groups = task_rows.group_counts_by_instance(conn, [i.instance_id for i in instances])
            custom = attribute_rows.custom_in_cluster(conn, scope, cluster.name)
            instances = with_custom_attributes(instances, custom)
    if status is None:
        instances = [i for i in instances if i.status != InstanceStatus.INACTIVE]
    if accept is not None:
        instances = [i for i in instances if accept(i, groups.get(i.instance_id, {}))]
    if after is not None:
        instances = [i for i in instances if i.instance_id > after]
    page = instances[:limit]
    token = encode_token(page[-1].instance_id) if len(instances) > limit else None
    return [i.arn for i in page], token


def update_container_instances_state(
    backend: Backend, scope: Scope, cluster_ref: str | None, refs: list[str], status: str
) -> tuple[list[InstanceDescription], list[dict[str, str]]]:
    if status not in (InstanceStatus.ACTIVE, InstanceStatus.DRAINING):
        raise InvalidParameterException(
            f"Container instance status {status} is not valid; use ACTIVE or DRAINING."
        )
    if len(refs) > 10:
        raise InvalidParameterException(
            "The containerInstances parameter can contain at most 10 items."
        )

    def work(conn: Connection) -> tuple[list[InstanceDescription], list[dict[str, str]]]:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        found: list[InstanceDescription] = []
        failures: list[dict[str, str]] = []
        ids = [instance_id_from(r) for r in refs]
        rows = instance_rows.get_many(conn, scope, ids)
        for ref, iid in zip(refs, ids, strict=True):
            inst = rows.get(iid)
            arn = (
                ref if ref.startswith("arn:") else container_instance_arn(scope, cluster.name, iid)
            )
            if inst is None or inst.cluster != cluster.name:
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            if inst.status == InstanceStatus.INACTIVE:
                failures.append({"arn": arn, "reason": "INACTIVE"})
                continue
            if inst.status != status:
                inst.status = status
                inst.version += 1
                instance_rows.save(conn, inst)
            found.append(_describe(conn, inst, with_tags=False))
        return found, failures

    result = backend.write(work)
    # Capacity changed: services (DAEMON, draining) react at once.
    backend.controller_signals.notify(["services"])
    return result


def deregister_container_instance(
    backend: Backend, scope: Scope, cluster_ref: str | None, ref: str, force: bool
) -> InstanceDescription:
    def work(conn: Connection) -> InstanceDescription:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        inst = instance_rows.get(conn, scope, instance_id_from(ref))
        if inst is None or inst.cluster != cluster.name or inst.status == InstanceStatus.INACTIVE:
            raise ClientException("Referenced container instance " + ref + " not found.")
        running = task_rows.tasks_on_instance(conn, inst.instance_id)
        if running and not force:
            raise InvalidParameterException(
                "Found running tasks on the instance. "
                "Use the force parameter to deregister it anyway."
            )
        now = backend.clock.now()
        for task in running:
            if not task.wants_stop:
                task.desired_status = TaskStatus.STOPPED
                task.stopping_at = task.stopping_at or now
                task.stop_code = task.stop_code or StopCode.TERMINATION_NOTICE
                task.stopped_reason = task.stopped_reason or "Container instance deregistered"
                task.version += 1
                task_rows.save(conn, task)
        description = _describe(conn, inst, with_tags=False)
        record_deregistered_instance(conn, inst, now)
        inst.status = InstanceStatus.INACTIVE
        inst.agent_connected = False
        inst.version += 1
        instance_rows.save(conn, inst)
        return description

    result = backend.write(work)
    # Capacity changed: services (DAEMON, draining) react at once.
    backend.controller_signals.notify(["services"])
    return result


def record_heartbeat(
    backend: Backend, scope: Scope, instance_id: str, *, min_interval: float = 0.0
) -> ContainerInstance | None:
    """An agent is alive: note the time, and reconnect it if it was marked lost.

    A connected agent's heartbeat is written at most every `min_interval` seconds
    (well within the liveness timeout): an agent polls again after every change it
    is sent, and a durable write per poll would cost a commit (an fsync beside the
    container starts it was sent) on every task placed. The instance as written,
    or None when nothing needed writing.
    """
    if min_interval > 0:
        with backend.reading() as conn:
            seen = instance_rows.liveness(conn, scope, instance_id)
        if seen is not None:
            connected, last = seen
            if connected and last is not None and backend.clock.now() - last < min_interval:
                return None

    def work(conn: Connection) -> ContainerInstance:
        inst = instance_rows.get(conn, scope, instance_id)
        if inst is None:
            raise ClientException(f"Container instance {instance_id} is not registered.")
        now = backend.clock.now()
        if not inst.agent_connected and inst.status != InstanceStatus.INACTIVE:
            inst.agent_connected = True
            inst.last_heartbeat = now
            inst.version += 1
            instance_rows.save(conn, inst)
        else:
            instance_rows.heartbeat(conn, instance_id, now)
            inst.last_heartbeat = now
        return inst

    return backend.write(work)


def mark_silent_agents_disconnected(backend: Backend, timeout_seconds: float) -> list[str]:
    """Agents not heard from within the timeout are shown disconnected and get no tasks."""
    cutoff = backend.clock.now() - timeout_seconds

    def work(conn: Connection) -> list[str]:
        lost = instance_rows.stale_connected(conn, cutoff)
        for iid in lost:
            inst = instance_rows.get_any(conn, iid)
            if inst is not None and inst.agent_connected:
                inst.agent_connected = False
                inst.version += 1
                instance_rows.save(conn, inst)
        return lost

    lost = backend.write(work)
    if lost:
        backend.controller_signals.notify(["services"])
    return lost


def register_many(
    backend: Backend, scope: Scope, cluster_ref: str | None, registrations: list[Registration]
) -> list[ContainerInstance]:
    """Register a fleet of (simulated) hosts in one transaction."""

    def work(conn: Connection) -> list[ContainerInstance]:
        cluster_name = require_active_cluster(conn, scope, cluster_ref).name
        now = backend.clock.now()
        known = instance_rows.get_by_ec2_ids(
            conn, scope, cluster_name, [reg.ec2_instance_id for reg in registrations]
        )
        out = []
        for reg in registrations:
            inst = known.get(reg.ec2_instance_id)
            if inst is not None:
                inst.agent_connected = True
                inst.last_heartbeat = now
                inst.capacity = reg.capacity
                inst.attributes = _standard_attributes(reg)
                inst.version += 1
                instance_rows.save(conn, inst, touch=False)
            else:
                instance_id = new_task_id()
                inst = ContainerInstance(
                    instance_id=instance_id,
                    arn=container_instance_arn(scope, cluster_name, instance_id),
                    account_id=scope.account_id,
                    region=scope.region,
                    cluster=cluster_name,
                    ec2_instance_id=reg.ec2_instance_id,
                    capacity=reg.capacity,
                    registered_at=now,
                    kind=reg.kind,
                    last_heartbeat=now,
                    host_address=reg.host_address,
                    attributes=_standard_attributes(reg),
                    version_info=reg.version_info,
                    availability_zone=reg.availability_zone,
                    instance_type=reg.instance_type,
                )
                instance_rows.insert_instance(conn, inst, touch=False)
            out.append(inst)
        placement_epochs.touch(conn, scope.account_id, scope.region, cluster_name)
        return out

    result = backend.write(work)
    # Capacity changed: services (DAEMON, draining) react at once.
    backend.controller_signals.notify(["services"])
    return result


def record_heartbeats(backend: Backend, instance_ids: list[str]) -> None:
    """Many agents alive at once (a simulated fleet's poll); those shown disconnected
    are reconnected (a change clients see, as for one agent's heartbeat)."""

    def work(conn: Connection) -> None:
        now = backend.clock.now()
        for iid in instance_rows.disconnected_among(conn, instance_ids):
            inst = instance_rows.get_any(conn, iid)
            if inst is not None and not inst.agent_connected:
                inst.agent_connected = True
                inst.last_heartbeat = now
                inst.version += 1
                instance_rows.save(conn, inst)
        instance_rows.heartbeat_many(conn, instance_ids, now)

    backend.write(work)
