"""The services this server speaks, assembled from the handler modules."""

from __future__ import annotations

from openecs.api.context import Handler, Operations
from openecs.api.handlers import (
    ecs_account_settings,
    ecs_attributes,
    ecs_clusters,
    ecs_container_instances,
    ecs_services,
    ecs_tags,
    ecs_task_definitions,
    ecs_tasks,
)
from openecs.api.json_protocol import JsonService, load_service_model

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


def _merge(*tables: Operations) -> dict[str, Handler]:
    merged: dict[str, Handler] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:
            raise ValueError(f"operations handled twice: {sorted(clash)}")
        merged.update(table)
    return merged


def build_services() -> list[JsonService]:
    ecs = JsonService(load_service_model("ecs"), _merge(*(m.OPERATIONS for m in _ECS_MODULES)))
    return [ecs]
