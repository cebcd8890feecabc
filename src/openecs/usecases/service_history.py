"""Service deployments and service revisions (ListServiceDeployments,
DescribeServiceDeployments, DescribeServiceRevisions): the history of a
service's rollouts, read from its deployments."""

from __future__ import annotations

from typing import Any

from openecs.domain.arns import parse_arn
from openecs.domain.errors import InvalidParameterException
from openecs.domain.scope import Scope
from openecs.domain.service import Deployment, RolloutState, Service, failure_threshold
from openecs.store import services as service_rows
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.pagination import decode_token, encode_token, page_limit
from openecs.usecases.services import require_service

__all__ = [
    "deployment_arn",
    "describe_service_deployments",
    "describe_service_revisions",
    "list_service_deployments",
    "revision_arn",
]


def _base(service: Service, kind: str) -> str:
    return (
        f"arn:aws:ecs:{service.region}:{service.account_id}:{kind}/{service.cluster}/{service.name}"
    )


def deployment_arn(service: Service, deployment: Deployment) -> str:
    return f"{_base(service, 'service-deployment')}/{deployment.id.split('/')[-1]}"


def revision_arn(service: Service, revision_id: str) -> str:
    return f"{_base(service, 'service-revision')}/{revision_id}"


def _brief(service: Service, d: Deployment) -> dict[str, Any]:
    return {
        "serviceDeploymentArn": deployment_arn(service, d),
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "startedAt": d.created_at,
        "createdAt": d.created_at,
        "finishedAt": d.finished_at,
        "targetServiceRevisionArn": revision_arn(service, d.revision_id),
        "status": d.deployment_status,
        "statusReason": d.status_reason,
    }


def _full(service: Service, d: Deployment) -> dict[str, Any]:
    breaker = service.circuit_breaker
    out = _brief(service, d)
    out.update(
        updatedAt=d.updated_at,
        stoppedAt=d.finished_at if d.deployment_status == "STOPPED" else None,
        sourceServiceRevisions=[{"arn": revision_arn(service, rid)} for rid in d.source_revisions],
        targetServiceRevision={
            "arn": revision_arn(service, d.revision_id),
            "requestedTaskCount": service.desired_count if d.status == "PRIMARY" else 0,
        },
        deploymentConfiguration=d.deployment_configuration or service.deployment_configuration,
        deploymentCircuitBreaker={
            "status": _breaker_status(breaker, d),
            "failureCount": d.failed_tasks,
            "threshold": _threshold(service),
        },
    )
    if d.rollback_of:
        out["rollback"] = {
            "reason": "Rolled back by the deployment circuit breaker.",
            "startedAt": d.created_at,
            "serviceRevisionArn": revision_arn(service, d.revision_id),
        }
    return out


def _breaker_status(breaker: dict[str, Any], d: Deployment) -> str:
    if not breaker.get("enable"):
        return "DISABLED"
    if d.rollout_state == RolloutState.FAILED:
        return "TRIGGERED"
    if d.rollout_state == RolloutState.COMPLETED or d.finished_at is not None:
        return "MONITORING_COMPLETE"
    return "MONITORING"


def _threshold(service: Service) -> int:
    return failure_threshold(service.desired_count)


def list_service_deployments(
    backend: Backend,
    scope: Scope,
    cluster_ref: str | None,
    service_ref: str,
    *,
    statuses: list[str] | None,
    created_after: float | None,
    created_before: float | None,
    next_token: str | None,
    max_results: int | None,
) -> tuple[list[dict[str, Any]], str | None]:
    limit = page_limit(max_results, default=20, most=100)
    after = decode_token(next_token)
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        service = require_service(conn, scope, cluster.name, service_ref)
    chosen = [
        d
        for d in sorted(service.deployments, key=lambda d: -d.created_at)
        if (not statuses or d.deployment_status in statuses)
        and (created_after is None or _ms(d.created_at) >= _ms(created_after))
        and (created_before is None or _ms(d.created_at) <= _ms(created_before))
    ]
    if after is not None:
        ids = [d.id for d in chosen]
        chosen = chosen[ids.index(after) + 1 :] if after in ids else []
    page = chosen[:limit]
    token = encode_token(page[-1].id) if len(chosen) > limit else None
    return [_brief(service, d) for d in page], token


def _resolve(
    backend: Backend, scope: Scope, arns: list[str], kind: str
) -> list[tuple[str, Service | None, str]]:
    """(arn, service, id) for each ARN of `kind` (service-deployment / service-revision)."""
    if not 1 <= len(arns) <= 20:
        raise InvalidParameterException(f"Between 1 and 20 {kind} ARNs must be given.")
    out: list[tuple[str, Service | None, str]] = []
    with backend.reading() as conn:
        for arn in arns:
            parsed = parse_arn(arn)
            parts = parsed.resource.split("/") if parsed else []
            if (
                parsed is None
                or parsed.resource_type != kind
                or len(parts) != 3
                or parsed.account_id != scope.account_id
                or parsed.region != scope.region
            ):
                raise InvalidParameterException(f"Invalid {kind} ARN: {arn}")
            cluster, name, ident = parts
            out.append((arn, service_rows.get(conn, scope, cluster, name), ident))
    return out


def describe_service_deployments(
    backend: Backend, scope: Scope, arns: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    found: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for arn, service, ident in _resolve(backend, scope, arns, "service-deployment"):
        match = None
        if service is not None:
            match = next((d for d in service.deployments if d.id.endswith("/" + ident)), None)
        if service is None or match is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(_full(service, match))
    return found, failures


def describe_service_revisions(
    backend: Backend, scope: Scope, arns: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    found: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for arn, service, ident in _resolve(backend, scope, arns, "service-revision"):
        snapshot = service.revisions.get(ident) if service is not None else None
        if service is None or snapshot is None:
            failures.append({"arn": arn, "reason": "MISSING"})
            continue
        found.append(
            {
                "serviceRevisionArn": arn,
                "serviceArn": service.arn,
                "clusterArn": service.cluster_arn,
                "taskDefinition": snapshot.get("task_definition"),
                "capacityProviderStrategy": snapshot.get("capacity_provider_strategy") or None,
                "launchType": snapshot.get("launch_type"),
                "platformVersion": snapshot.get("platform_version"),
                "loadBalancers": snapshot.get("load_balancers") or [],
                "networkConfiguration": snapshot.get("network_configuration"),
                "createdAt": snapshot.get("createdAt"),
            }
        )
    return found, failures


def _ms(seconds: float) -> int:
    """A time at the millisecond, the precision AWS gives its timestamps: a createdAt read
    back and sent again (as a float, through the client's datetime) names the same one."""
    return round(seconds * 1000)
