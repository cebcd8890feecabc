"""Pure rules for how a task changes: agent reports, stop requests, health.

Reports are absolute (the agent's whole view of a task), so applying the
same report twice, or an old one late, changes nothing. A STOPPED task is
final: no report changes it any more.

The agent coalesces reports (only a task's newest state is sent), so the
control plane may never see some statuses: a task can go from PENDING
straight to STOPPED. Timestamps therefore travel in the reports themselves
(`startedAt`, `pullStartedAt`...) rather than being inferred from which
statuses were seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openecs.domain.task import ContainerRun, StopCode, Task, TaskStatus, status_rank

__all__ = ["apply_report", "request_stop", "task_health"]

_CONTAINER_ORDER = {"PENDING": 0, "RUNNING": 1, "STOPPED": 2}


def request_stop(task: Task, *, now: float, code: str, reason: str) -> bool:
    """Ask for a task to stop; False if it was already asked (the first reason stays)."""
    if task.wants_stop:
        return False
    task.desired_status = TaskStatus.STOPPED
    task.stopping_at = now
    task.stop_code = code
    task.stopped_reason = reason
    task.version += 1
    return True


def task_health(containers: list[ContainerRun], checked: set[str]) -> str:
    """ECS task health: UNHEALTHY if an essential checked container is; HEALTHY when
    all essential checked containers are; UNKNOWN otherwise (or with no checks)."""
    states = [c.health_status for c in containers if c.essential and c.name in checked]
    if not states:
        return "UNKNOWN"
    if "UNHEALTHY" in states:
        return "UNHEALTHY"
    if all(s == "HEALTHY" for s in states):
        return "HEALTHY"
    return "UNKNOWN"


def _apply_container(run: ContainerRun, report: Mapping[str, Any]) -> bool:
    before = (
        run.last_status,
        run.runtime_id,
        run.exit_code,
        run.reason,
        run.network_bindings,
        run.network_interfaces,
        run.health_status,
        run.image_digest,
    )
    status = report.get("lastStatus")
    if status and _CONTAINER_ORDER.get(status, -1) >= _CONTAINER_ORDER.get(run.last_status, -1):
        run.last_status = status
    for attr, key in (
        ("runtime_id", "runtimeId"),
        ("exit_code", "exitCode"),
        ("reason", "reason"),
        ("image_digest", "imageDigest"),
        ("health_status", "healthStatus"),
    ):
        if report.get(key) is not None:
            setattr(run, attr, report[key])
    if report.get("networkBindings") is not None:
        run.network_bindings = list(report["networkBindings"])
    if report.get("networkInterfaces") is not None:
        run.network_interfaces = list(report["networkInterfaces"])
    after = (
        run.last_status,
        run.runtime_id,
        run.exit_code,
        run.reason,
        run.network_bindings,
        run.network_interfaces,
        run.health_status,
        run.image_digest,
    )
    return before != after


def _apply_eni(task: Task, eni: Mapping[str, Any] | None, *, stopped: bool) -> bool:
    """Fill the task's ENI attachment from what the agent set up (its namespace's IP)."""
    changed = False
    for att in task.attachments:
        if att.get("type") != "ElasticNetworkInterface":
            continue
        status = att.get("status")
        if stopped:
            if status != "DELETED":
                att["status"] = "DELETED"
                changed = True
            continue
        if not eni or status == "ATTACHED":
            continue
        details = {d["name"]: d["value"] for d in att.get("details") or ()}
        details["networkInterfaceId"] = f"eni-{task.task_id[:17]}"
        details["privateIPv4Address"] = str(eni.get("privateIPv4Address", ""))
        if eni.get("macAddress"):
            details["macAddress"] = str(eni["macAddress"])
        att["details"] = [{"name": k, "value": v} for k, v in details.items()]
        att["status"] = "ATTACHED"
        changed = True
    return changed


def apply_report(
    task: Task, report: Mapping[str, Any], *, now: float, health_checked: set[str]
) -> bool:
    """Fold an agent's report into the task; True if anything a client sees changed."""
    if task.is_stopped:
        return False
    changed = False
    by_name = {c.name: c for c in task.containers}
    for item in report.get("containers") or ():
        run = by_name.get(item.get("name", ""))
        if run is not None and _apply_container(run, item):
            changed = True
    status = report.get("lastStatus")
    if status and status_rank(status) > status_rank(task.last_status):
        task.last_status = status
        changed = True
        if status == TaskStatus.RUNNING and task.started_at is None:
            task.started_at = report.get("startedAt") or now
            task.connectivity_at = task.connectivity_at or task.started_at
        if status_rank(status) >= status_rank(TaskStatus.DEACTIVATING) and not task.wants_stop:
            # The agent stopped it on its own: an essential container exited or it failed to start.
            request_stop(
                task,
                now=report.get("stoppingAt") or now,
                code=report.get("stopCode") or StopCode.ESSENTIAL_CONTAINER_EXITED,
                reason=report.get("stoppedReason") or "Task stopped by the agent",
            )
        if status == TaskStatus.STOPPED:
            task.execution_stopped_at = report.get("executionStoppedAt") or now
            task.stopped_at = now
            task.stopping_at = task.stopping_at or now
    if task.started_at is None and report.get("startedAt") is not None:
        # It ran, though the report that said RUNNING was overtaken by a later one.
        task.started_at = report["startedAt"]
        task.connectivity_at = task.connectivity_at or task.started_at
        changed = True
    for attr, key in (
        ("pull_started_at", "pullStartedAt"),
        ("pull_stopped_at", "pullStoppedAt"),
    ):
        if report.get(key) is not None and getattr(task, attr) is None:
            setattr(task, attr, report[key])
            changed = True
    if _apply_eni(task, report.get("eni"), stopped=task.last_status == TaskStatus.STOPPED):
        changed = True
    health = task_health(task.containers, health_checked)
    if health != task.health_status:
        task.health_status = health
        if health == "HEALTHY" and task.healthy_at is None:
            task.healthy_at = now
        changed = True
    if changed:
        task.version += 1
    return changed
