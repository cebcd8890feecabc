"""Dry runs of placement: where a RunTask, or a service's next tasks, would go,
and for every instance the filter that would turn it away — without changing
anything. The same scheduler and snapshot as the real thing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openecs.domain.scope import Scope
from openecs.domain.service import DeploymentStatus
from openecs.domain.task import TaskStatus
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.services import require_service
from openecs.usecases.tasks import LaunchRequest, PlacementDecision, decide_placement

__all__ = ["PlanReport", "plan_run_task", "plan_service"]


@dataclass(slots=True)
class PlanReport:
    placements: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    instances: list[dict[str, Any]] = field(default_factory=list)
    launch_type: str = ""
    requested: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "launchType": self.launch_type,
            "requested": self.requested,
            "placements": self.placements,
            "failures": self.failures,
            "instances": self.instances,
        }


def _report(decision: PlacementDecision, requested: int) -> PlanReport:
    by_id = {v.instance.instance_id: v for v in decision.view.instances}
    placed_count: dict[str, int] = {}
    report = PlanReport(launch_type=decision.launch_type, requested=requested)
    for n, (iid, provider) in enumerate(
        zip(decision.plan.placements, decision.providers, strict=True), start=1
    ):
        inst = by_id[iid].instance
        placed_count[iid] = placed_count.get(iid, 0) + 1
        report.placements.append(
            {
                "task": n,
                "containerInstanceArn": inst.arn,
                "ec2InstanceId": inst.ec2_instance_id,
                "availabilityZone": inst.availability_zone,
                "capacityProvider": provider,
            }
        )
    report.failures = decision.failures
    for iid, view in by_id.items():
        inst = view.instance
        reason = decision.plan.rejections.get(iid)
        report.instances.append(
            {
                "containerInstanceArn": inst.arn,
                "ec2InstanceId": inst.ec2_instance_id,
                "availabilityZone": inst.availability_zone,
                "tasksPlaced": placed_count.get(iid, 0),
                "rejectedBy": reason,
                "explanation": decision.plan.explanations.get(iid),
                "remainingCpu": view.remaining.cpu,
                "remainingMemory": view.remaining.memory,
            }
        )
    return report


def plan_run_task(backend: Backend, scope: Scope, req: LaunchRequest) -> PlanReport:
    with backend.reading() as conn:
        decision = decide_placement(conn, backend, scope, req)
    return _report(decision, req.count)


def plan_service(
    backend: Backend, scope: Scope, cluster_ref: str | None, service_ref: str
) -> PlanReport:
    """The placements the service's PRIMARY deployment still needs, as of now."""
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        service = require_service(conn, scope, cluster.name, service_ref)
        primary = next(d for d in service.deployments if d.status == DeploymentStatus.PRIMARY)
        alive = [
            t
            for t in task_rows.for_group(conn, scope, cluster.name, service.group)
            if t.started_by == primary.id
            and t.last_status != TaskStatus.STOPPED
            and not t.wants_stop
        ]
        missing = max(service.desired_count - len(alive), 0)
        req = LaunchRequest(
            task_definition=primary.task_definition,
            cluster=cluster.name,
            count=max(missing, 1),
            launch_type=primary.launch_type,
            capacity_provider_strategy=primary.capacity_provider_strategy or None,
            network_configuration=primary.network_configuration,
            group=service.group,
            started_by=primary.id,
            placement_constraints=service.placement_constraints,
            placement_strategy=service.placement_strategy,
        )
        decision = decide_placement(conn, backend, scope, req)
    report = _report(decision, missing)
    if missing == 0:
        report.placements = []
        report.failures = []
        for item in report.instances:
            item["tasksPlaced"] = 0
    return report
