"""ECS services behind load balancers: each RUNNING task of a service is a target
of its target groups, and leaves them (draining) before it stops.

`sync_service_targets` is level-triggered: it compares the service's tasks with
what is registered and fixes the difference, and reports which tasks the load
balancer sees healthy — what a deployment waits for. `drain_task_targets`
deregisters a task's targets in the transaction that asks it to stop, and says
until when its containers must keep serving in-flight requests.

A task is an `instance` target as its instance's EC2 id and the host port, as on
AWS. As an `ip` target it is its own (ENI) address and the container port, as on
AWS, when it runs on the load balancer's host (its ports are published on
loopback); a task of an agent on another host is its published address and port,
the only way there from the load balancer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from openecs.domain.errors import InvalidParameterException
from openecs.domain.load_balancing import Target, TargetGroup, TargetState
from openecs.domain.scope import Scope
from openecs.domain.service import Service, UnhealthyTarget
from openecs.domain.task import ContainerRun, Task, TaskStatus
from openecs.store import container_instances as instance_rows
from openecs.store import load_balancing as lb_rows
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.load_balancing_lookups import DATA_PLANE_KEY
from openecs.usecases.target_groups import deregister_targets_in, register_targets_in

__all__ = [
    "TargetHealthOfTasks",
    "check_service_load_balancers",
    "drain_task_targets",
    "sync_service_targets",
    "target_of",
]

# Longest a stopping task waits for its targets to drain (the group's delay, capped).
MAX_DRAIN_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class TargetHealthOfTasks:
    healthy: frozenset[str]
    unhealthy: frozenset[str]
    # Task id → where it is unhealthy (the first target group that says so).
    unhealthy_targets: Mapping[str, UnhealthyTarget] = field(default_factory=dict)


def check_service_load_balancers(
    conn: Connection, scope: Scope, load_balancers: list[dict[str, Any]], network_mode: str
) -> None:
    """CreateService/UpdateService: every target group exists, sits behind a load
    balancer, and can take this service's tasks."""
    for lb in load_balancers:
        arn = lb.get("targetGroupArn")
        if not arn:
            raise InvalidParameterException(
                "Target group ARN must be specified for an application load balancer."
            )
        tg = lb_rows.get_target_group(conn, scope, arn)
        if tg is None:
            raise InvalidParameterException(f"Target group {arn} was not found.")
        if not lb_rows.load_balancers_of(conn, [arn]).get(arn):
            raise InvalidParameterException(
                f"The target group with targetGroupArn {arn} does not have an associated "
                "load balancer."
            )
        if network_mode == "awsvpc" and tg.target_type != "ip":
            raise InvalidParameterException(
                f"The provided target group {arn} has target type instance, which is "
                "incompatible with the awsvpc network mode specified in the task definition."
            )


def target_of(
    task: Task, lb: dict[str, Any], tg: TargetGroup, ec2_ids: dict[str, str]
) -> tuple[str, int] | None:
    """The (Id, Port) a task is registered under in a target group, if it has one."""
    container = next((c for c in task.containers if c.name == lb.get("containerName")), None)
    if container is None:
        return None
    for binding in container.network_bindings:
        if binding.get("containerPort") == lb.get("containerPort") and binding.get(
            "protocol", "tcp"
        ) in ("tcp", None):
            port = int(binding["hostPort"])
            if tg.target_type == "ip":
                address = str(binding.get("bindIP") or "127.0.0.1")
                private = _private_ipv4(container)
                if private is not None and _this_host(address):
                    # Published on the load balancer's own host: the task's own address is
                    # as reachable there, and it is what an ip target is on AWS (the ENI's
                    # address and the container port). No port proxy on the way either.
                    return private, int(lb["containerPort"])
                return ("127.0.0.1" if address == "0.0.0.0" else address), port
            ec2 = ec2_ids.get(task.container_instance_id or "")
            return (ec2, port) if ec2 else None
    return None


def _private_ipv4(container: ContainerRun) -> str | None:
    for eni in container.network_interfaces:
        if eni.get("privateIpv4Address"):
            return str(eni["privateIpv4Address"])
    return None


def _this_host(address: str) -> bool:
    """Whether a published address is the load balancer's host: loopback, or every
    interface (taken as this host, as the registered address has always been)."""
    if address in ("0.0.0.0", "::"):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _ec2_ids(conn: Connection, scope: Scope, tasks: Iterable[Task]) -> dict[str, str]:
    ids = {t.container_instance_id for t in tasks if t.container_instance_id}
    found = instance_rows.get_many(conn, scope, sorted(ids))
    return {iid: inst.ec2_instance_id for iid, inst in found.items()}


def _serving(task: Task) -> bool:
    return task.last_status == TaskStatus.RUNNING and not task.wants_stop


def sync_service_targets(backend: Backend, service: Service) -> TargetHealthOfTasks:
    scope = Scope.root(service.account_id, service.region)
    plan: list[tuple[str, str, str, int]] = []  # (op, tg arn, id, port)
    healthy: set[str] = set()
    unhealthy: set[str] = set()
    where: dict[str, UnhealthyTarget] = {}
    with backend.reading() as conn:
        now = backend.clock.now()
        tasks = task_rows.for_group(conn, scope, service.cluster, service.group)
        ec2_ids = _ec2_ids(conn, scope, tasks)
        for lb in service.load_balancers:
            tg = lb_rows.get_target_group(conn, scope, str(lb.get("targetGroupArn")))
            if tg is None:
                continue
            in_use = bool(lb_rows.forwarding_rules(conn, tg.arn))
            registered: dict[tuple[str, int], Target] = {
                (t.id, t.port): t for t in lb_rows.targets_of(conn, tg.arn, now)
            }
            for task in tasks:
                key = target_of(task, lb, tg, ec2_ids)
                if key is None:
                    continue
                target = registered.get(key)
                live = target is not None and target.draining_until is None
                if _serving(task):
                    if not live:
                        plan.append(("register", tg.arn, *key))
                        continue
                    assert target is not None
                    if target.state == TargetState.HEALTHY or not in_use:
                        healthy.add(task.task_id)
                    elif target.state == TargetState.UNHEALTHY:
                        unhealthy.add(task.task_id)
                        ip = tg.target_type == "ip"
                        where.setdefault(
                            task.task_id,
                            UnhealthyTarget(
                                tg.arn,
                                "task" if ip else "instance",
                                task.task_id if ip else key[0],
                                key[1],
                                target.description or target.reason or "Health checks failed",
                            ),
                        )
                elif live:
                    plan.append(("deregister", tg.arn, *key))
    # A task in several target groups is healthy only when healthy in all of them.
    healthy -= unhealthy
    if plan:
        backend.write(lambda conn: _apply(conn, scope, plan, backend.clock.now()))
        backend.controller_signals.notify([DATA_PLANE_KEY])
    return TargetHealthOfTasks(frozenset(healthy), frozenset(unhealthy), where)


def _apply(
    conn: Connection, scope: Scope, plan: list[tuple[str, str, str, int]], now: float
) -> None:
    for op, tg_arn, target_id, port in plan:
        if lb_rows.get_target_group(conn, scope, tg_arn) is None:
            continue
        description = [{"Id": target_id, "Port": port}]
        if op == "register":
            register_targets_in(conn, scope, tg_arn, description, now)
        else:
            deregister_targets_in(conn, scope, tg_arn, description, now, missing_ok=True)


def drain_task_targets(
    conn: Connection, scope: Scope, service: Service, task: Task, now: float
) -> float | None:
    """Deregister a stopping task's targets; the time until which it should keep
    serving (None when it had no target)."""
    until: float | None = None
    ec2_ids = _ec2_ids(conn, scope, [task])
    for lb in service.load_balancers:
        tg = lb_rows.get_target_group(conn, scope, str(lb.get("targetGroupArn")))
        if tg is None:
            continue
        key = target_of(task, lb, tg, ec2_ids)
        if key is None:
            continue
        registered = {(t.id, t.port) for t in lb_rows.targets_of(conn, tg.arn, now)}
        if key not in registered:
            continue
        ends = deregister_targets_in(
            conn, scope, tg.arn, [{"Id": key[0], "Port": key[1]}], now, missing_ok=True
        )
        until = max(until or now, min(ends, now + MAX_DRAIN_SECONDS))
    return until
