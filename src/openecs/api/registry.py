"""The services this server speaks, assembled from the handler modules."""

from __future__ import annotations

from openecs.api.context import Handler, Operations
from openecs.api.handlers import (
    autoscaling,
    ecs_account_settings,
    ecs_attributes,
    ecs_clusters,
    ecs_container_instances,
    ecs_services,
    ecs_tags,
    ecs_task_definitions,
    ecs_tasks,
    elbv2_listeners,
    elbv2_load_balancers,
    elbv2_tags,
    elbv2_target_groups,
    logs_events,
    logs_groups,
    logs_streams,
    logs_tags,
)
from openecs.api.json_protocol import JsonService, load_service_model
from openecs.api.query_protocol import QueryService
from openecs.domain.scaling import ValidationException

__all__ = ["build_services"]

_ECS_MODULES = (
    ecs_clusters,
    ecs_task_definitions,
    ecs_tags,
    ecs_account_settings,
    ecs_attributes,
    ecs_tasks,
    ecs_container_instances,
    ecs_services,
)

_LOGS_MODULES = (logs_groups, logs_streams, logs_events, logs_tags)

_ELBV2_MODULES = (elbv2_load_balancers, elbv2_target_groups, elbv2_listeners, elbv2_tags)


def _merge(*tables: Operations) -> dict[str, Handler]:
    merged: dict[str, Handler] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:
            raise ValueError(f"operations handled twice: {sorted(clash)}")
        merged.update(table)
    return merged


def build_services() -> list[JsonService | QueryService]:
    ecs = JsonService(load_service_model("ecs"), _merge(*(m.OPERATIONS for m in _ECS_MODULES)))
    logs = JsonService(load_service_model("logs"), _merge(*(m.OPERATIONS for m in _LOGS_MODULES)))
    elbv2 = QueryService(
        load_service_model("elbv2"), _merge(*(m.OPERATIONS for m in _ELBV2_MODULES))
    )
    autoscaling_service = JsonService(
        load_service_model("application-autoscaling"),
        autoscaling.OPERATIONS,
        validation_error=ValidationException,
    )
    return [ecs, logs, elbv2, autoscaling_service]
