"""ECS cluster operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import RequestContext
from openecs.domain.tags import tags_to_api
from openecs.usecases import clusters
from openecs.usecases.clusters import ClusterDescription

__all__ = ["OPERATIONS", "present_cluster"]


def present_cluster(view: ClusterDescription, include: set[str] | None = None) -> dict[str, Any]:
    """A cluster in the ECS `Cluster` shape. Without `include`, everything is shown
    (as the write operations do); DescribeClusters shows what it was asked for."""
    every = include is None
    wanted = include or set()
    cluster, counts = view.cluster, view.counts
    out: dict[str, Any] = {
        "clusterArn": cluster.arn,
        "clusterName": cluster.name,
        "status": cluster.status,
        "registeredContainerInstancesCount": counts.registered_instances,
        "runningTasksCount": counts.running_tasks,
        "pendingTasksCount": counts.pending_tasks,
        "activeServicesCount": counts.active_services,
        "statistics": [],
        "tags": [],
        "settings": [],
        "capacityProviders": cluster.capacity_providers,
        "defaultCapacityProviderStrategy": cluster.default_capacity_provider_strategy,
    }
    if every or "CONFIGURATIONS" in wanted:
        out["configuration"] = cluster.configuration
    if every or "SETTINGS" in wanted:
        out["settings"] = cluster.settings
    if every or "TAGS" in wanted:
        out["tags"] = tags_to_api(view.tags)
    if "STATISTICS" in wanted:
        out["statistics"] = _statistics(view)
    if "ATTACHMENTS" in wanted:
        out["attachments"] = []
    if cluster.service_connect_defaults:
        out["serviceConnectDefaults"] = cluster.service_connect_defaults
    return out


def _statistics(view: ClusterDescription) -> list[dict[str, str]]:
    counts = view.counts
    stats: dict[str, int] = {}
    for prefix, pairs in (
        ("running", counts.running_by_launch_type),
        ("pending", counts.pending_by_launch_type),
    ):
        by_type = dict(pairs)
        stats[f"{prefix}EC2TasksCount"] = by_type.get("EC2", 0)
        stats[f"{prefix}FargateTasksCount"] = by_type.get("FARGATE", 0)
    for prefix, pairs in (
        ("active", counts.active_services_by_launch_type),
        ("draining", counts.draining_services_by_launch_type),
    ):
        by_type = dict(pairs)
        stats[f"{prefix}EC2ServiceCount"] = by_type.get("EC2", 0)
        stats[f"{prefix}FargateServiceCount"] = by_type.get("FARGATE", 0)
    return [{"name": k, "value": str(v)} for k, v in stats.items()]


def create_cluster(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = clusters.create_cluster(
        ctx.backend,
        ctx.scope,
        name=p.get("clusterName"),
        tags=p.get("tags"),
        settings=p.get("settings"),
        configuration=p.get("configuration"),
        capacity_providers=p.get("capacityProviders"),
        default_capacity_provider_strategy=p.get("defaultCapacityProviderStrategy"),
        service_connect_defaults=p.get("serviceConnectDefaults"),
    )
    return {"cluster": present_cluster(view)}


def describe_clusters(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    views, failures, include = clusters.describe_clusters(
        ctx.backend, ctx.scope, p.get("clusters"), p.get("include")
    )
    return {"clusters": [present_cluster(v, include) for v in views], "failures": failures}


def list_clusters(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    arns, token = clusters.list_clusters(
        ctx.backend, ctx.scope, p.get("nextToken"), p.get("maxResults")
    )
    return {"clusterArns": arns, "nextToken": token}


def update_cluster(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = clusters.update_cluster(
        ctx.backend,
        ctx.scope,
        p["cluster"],
        settings=p.get("settings"),
        configuration=p.get("configuration"),
        service_connect_defaults=p.get("serviceConnectDefaults"),
    )
    return {"cluster": present_cluster(view)}


def update_cluster_settings(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = clusters.update_cluster_settings(ctx.backend, ctx.scope, p["cluster"], p["settings"])
    return {"cluster": present_cluster(view)}


def put_cluster_capacity_providers(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = clusters.put_cluster_capacity_providers(
        ctx.backend,
        ctx.scope,
        p["cluster"],
        p["capacityProviders"],
        p["defaultCapacityProviderStrategy"],
    )
    return {"cluster": present_cluster(view)}


def delete_cluster(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    view = clusters.delete_cluster(ctx.backend, ctx.scope, p["cluster"])
    return {"cluster": present_cluster(view)}


OPERATIONS = {
    "CreateCluster": create_cluster,
    "DescribeClusters": describe_clusters,
    "ListClusters": list_clusters,
    "UpdateCluster": update_cluster,
    "UpdateClusterSettings": update_cluster_settings,
    "PutClusterCapacityProviders": put_cluster_capacity_providers,
    "DeleteCluster": delete_cluster,
}
