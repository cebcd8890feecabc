"""Cluster operations: create, describe, list, update, capacity providers, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from openecs.domain.arns import cluster_arn, cluster_name_from
from openecs.domain.cluster import (
    BUILTIN_CAPACITY_PROVIDERS,
    DEFAULT_CLUSTER,
    Cluster,
    ClusterCounts,
    ClusterStatus,
    normalize_strategy,
    validate_capacity_providers,
    validate_cluster_name,
    validate_cluster_settings,
)
from openecs.domain.errors import (
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    ClusterNotFoundException,
    InvalidParameterException,
)
from openecs.domain.scope import Scope
from openecs.domain.tags import tags_from_api
from openecs.store import clusters as cluster_rows
from openecs.store import tags as tag_rows
from openecs.usecases.backend import Backend
from openecs.usecases.pagination import decode_token, encode_token, page_limit

__all__ = [
    "ClusterDescription",
    "create_cluster",
    "delete_cluster",
    "describe_clusters",
    "list_clusters",
    "put_cluster_capacity_providers",
    "require_active_cluster",
    "update_cluster",
    "update_cluster_settings",
]

_INCLUDE = {"ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"}
_DEFAULT_SETTINGS = [{"name": "containerInsights", "value": "disabled"}]
_INCONSISTENT = (
    "Arguments on this idempotent request are inconsistent with arguments used in "
    "previous request(s)."
)


@dataclass(slots=True)
class ClusterDescription:
    cluster: Cluster
    counts: ClusterCounts
    tags: dict[str, str] = field(default_factory=dict)


def require_active_cluster(conn: Connection, scope: Scope, ref: str | None) -> Cluster:
    """The ACTIVE cluster a request names (the default cluster when it names none)."""
    name = cluster_name_from(ref or DEFAULT_CLUSTER, scope)
    cluster = cluster_rows.get(conn, scope, name)
    if cluster is None or not cluster.active:
        raise ClusterNotFoundException("Cluster not found.")
    return cluster


def _describe(conn: Connection, scope: Scope, cluster: Cluster) -> ClusterDescription:
    return ClusterDescription(
        cluster,
        cluster_rows.count_for(conn, scope, cluster.name),
        tag_rows.get_tags(conn, cluster.arn),
    )


def create_cluster(
    backend: Backend,
    scope: Scope,
    *,
    name: str | None = None,
    tags: list[dict[str, str]] | None = None,
    settings: list[dict[str, str]] | None = None,
    configuration: dict[str, Any] | None = None,
    capacity_providers: list[str] | None = None,
    default_capacity_provider_strategy: list[dict[str, Any]] | None = None,
    service_connect_defaults: dict[str, Any] | None = None,
) -> ClusterDescription:
    name = validate_cluster_name(name or DEFAULT_CLUSTER)
    new_tags = tags_from_api(tags or [])
    merged_settings = validate_cluster_settings([*_DEFAULT_SETTINGS, *(settings or [])])
    providers = list(capacity_providers or [])
    strategy = normalize_strategy(default_capacity_provider_strategy or [])
    validate_capacity_providers(providers, strategy, set(BUILTIN_CAPACITY_PROVIDERS))

    def work(conn: Connection) -> ClusterDescription:
        existing = cluster_rows.get(conn, scope, name)
        if existing is not None and existing.active:
            # CreateCluster is idempotent on AWS: the existing cluster is returned as it
            # is, unless the request asks for something the cluster does not have.
            current = _describe(conn, scope, existing)
            if not _consistent(
                current,
                tags=new_tags if tags is not None else None,
                settings=settings,
                configuration=configuration,
                capacity_providers=capacity_providers,
                strategy=strategy if default_capacity_provider_strategy is not None else None,
                service_connect_defaults=service_connect_defaults,
            ):
                raise InvalidParameterException(_INCONSISTENT)
            return current
        cluster = Cluster(
            name=name,
            arn=cluster_arn(scope, name),
            status=ClusterStatus.ACTIVE,
            created_at=backend.clock.now(),
            settings=merged_settings,
            configuration=configuration,
            capacity_providers=providers,
            default_capacity_provider_strategy=strategy,
            service_connect_defaults=service_connect_defaults,
        )
        if existing is None:
            cluster_rows.insert_cluster(conn, scope, cluster)
        else:
            cluster.version = existing.version
            cluster_rows.save(conn, scope, cluster)
            tag_rows.delete_all(conn, cluster.arn)
        tag_rows.put_tags(conn, cluster.arn, new_tags)
        return ClusterDescription(cluster, ClusterCounts(), new_tags)

    return backend.write(work)


def _consistent(
    current: ClusterDescription,
    *,
    tags: dict[str, str] | None,
    settings: list[dict[str, str]] | None,
    configuration: dict[str, Any] | None,
    capacity_providers: list[str] | None,
    strategy: list[dict[str, Any]] | None,
    service_connect_defaults: dict[str, Any] | None,
) -> bool:
    """Whether every argument a repeated CreateCluster gives matches the cluster it names."""
    cluster = current.cluster
    checks = (
        tags is None or all(current.tags.get(k) == v for k, v in tags.items()),
        settings is None
        or validate_cluster_settings([*cluster.settings, *settings]) == cluster.settings,
        configuration is None or configuration == cluster.configuration,
        capacity_providers is None or capacity_providers == cluster.capacity_providers,
        strategy is None or strategy == cluster.default_capacity_provider_strategy,
        service_connect_defaults is None
        or service_connect_defaults == cluster.service_connect_defaults,
    )
    return all(checks)


def describe_clusters(
    backend: Backend, scope: Scope, refs: list[str] | None, include: list[str] | None
) -> tuple[list[ClusterDescription], list[dict[str, str]], set[str]]:
    wanted = refs or [DEFAULT_CLUSTER]
    if len(wanted) > 100:
        raise InvalidParameterException("The clusters parameter can contain at most 100 items.")
    includes = set(include or ())
    unknown = includes - _INCLUDE
    if unknown:
        raise InvalidParameterException(f"Invalid include value: {sorted(unknown)[0]}")
    found: list[ClusterDescription] = []
    failures: list[dict[str, str]] = []
    with backend.reading() as conn:
        names = [cluster_name_from(ref, scope) for ref in wanted]
        rows = cluster_rows.get_many(conn, scope, names)
        for name in names:
            cluster = rows.get(name)
            if cluster is None:
                failures.append({"arn": cluster_arn(scope, name), "reason": "MISSING"})
                continue
            found.append(
                ClusterDescription(
                    cluster,
                    cluster_rows.count_for(conn, scope, name),
                    tag_rows.get_tags(conn, cluster.arn) if "TAGS" in includes else {},
                )
            )
    return found, failures, includes


def list_clusters(
    backend: Backend, scope: Scope, next_token: str | None, max_results: int | None
) -> tuple[list[str], str | None]:
    limit = page_limit(max_results)
    after = decode_token(next_token)
    with backend.reading() as conn:
        rows = cluster_rows.list_names(conn, scope, after=after, limit=limit + 1)
    token = encode_token(rows[limit - 1][0]) if len(rows) > limit else None
    return [arn for _, arn in rows[:limit]], token


def _update(backend: Backend, scope: Scope, ref: str, change: Any) -> ClusterDescription:
    def work(conn: Connection) -> ClusterDescription:
        cluster = require_active_cluster(conn, scope, ref)
        change(cluster)
        cluster_rows.save(conn, scope, cluster)
        return _describe(conn, scope, cluster)

    return backend.write(work)


def update_cluster(
    backend: Backend,
    scope: Scope,
    ref: str,
    *,
    settings: list[dict[str, str]] | None = None,
    configuration: dict[str, Any] | None = None,
    service_connect_defaults: dict[str, Any] | None = None,
) -> ClusterDescription:
    def change(cluster: Cluster) -> None:
        if settings is not None:
            cluster.settings = validate_cluster_settings([*cluster.settings, *settings])
        if configuration is not None:
            cluster.configuration = configuration
        if service_connect_defaults is not None:
            cluster.service_connect_defaults = service_connect_defaults

    return _update(backend, scope, ref, change)


def update_cluster_settings(
    backend: Backend, scope: Scope, ref: str, settings: list[dict[str, str]]
) -> ClusterDescription:
    return update_cluster(backend, scope, ref, settings=settings)


def put_cluster_capacity_providers(
    backend: Backend,
    scope: Scope,
    ref: str,
    capacity_providers: list[str],
    default_capacity_provider_strategy: list[dict[str, Any]],
) -> ClusterDescription:
    validate_capacity_providers(
        capacity_providers, default_capacity_provider_strategy, set(BUILTIN_CAPACITY_PROVIDERS)
    )

    strategy = normalize_strategy(default_capacity_provider_strategy)

    def change(cluster: Cluster) -> None:
        cluster.capacity_providers = list(capacity_providers)
        cluster.default_capacity_provider_strategy = strategy

    return _update(backend, scope, ref, change)


def delete_cluster(backend: Backend, scope: Scope, ref: str) -> ClusterDescription:
    def work(conn: Connection) -> ClusterDescription:
        cluster = require_active_cluster(conn, scope, ref)
        counts = cluster_rows.count_for(conn, scope, cluster.name)
        if counts.registered_instances:
            raise ClusterContainsContainerInstancesException(
                "The Cluster cannot be deleted while Container Instances are active or draining."
            )
        if counts.active_services or counts.draining_services:
            raise ClusterContainsServicesException(
                "The Cluster cannot be deleted while Services are active."
            )
        if counts.running_tasks or counts.pending_tasks:
            raise ClusterContainsTasksException(
                "The Cluster cannot be deleted while Tasks are active."
            )
        cluster.status = ClusterStatus.INACTIVE
        cluster_rows.save(conn, scope, cluster)
        return ClusterDescription(cluster, counts, tag_rows.get_tags(conn, cluster.arn))

    return backend.write(work)
