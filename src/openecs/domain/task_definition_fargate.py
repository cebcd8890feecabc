"""What makes a task definition runnable on Fargate, and the `compatibilities` ECS reports.

`fargate_problem` returns the first reason a definition cannot run on Fargate,
in ECS's words. RegisterTaskDefinition raises it when `requiresCompatibilities`
names FARGATE; otherwise it only decides whether FARGATE appears among the
computed `compatibilities` (ECS checks every definition against Fargate's rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openecs.domain.task_size import is_fargate_size

__all__ = ["compute_compatibilities", "fargate_problem"]

# Capacity kinds ECS lists only when the definition asked to be checked against them.
_ON_REQUEST = ("EXTERNAL", "MANAGED_INSTANCES")


def fargate_problem(definition: Mapping[str, Any]) -> str | None:
    """Why `definition` (ECS-shaped, task size already normalized) cannot run on Fargate."""
    if definition.get("networkMode") != "awsvpc":
        # ECS's own wording, typographic quotes included.
        return "Fargate only supports network mode \u2018awsvpc\u2019."
    cpu, memory = definition.get("cpu"), definition.get("memory")
    if cpu is None:
        return "Fargate requires that 'cpu' be defined at the task level."
    if memory is None:
        return "Fargate requires that 'memory' be defined at the task level."
    if not is_fargate_size(int(cpu), int(memory)):
        return (
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values."
        )
    if definition.get("ipcMode") is not None:
        return "Tasks using the Fargate launch type do not support ipcMode."
    for volume in definition.get("volumes") or []:
        if (volume.get("host") or {}).get("sourcePath"):
            return "Fargate compatible task definitions do not support sourcePath"
    for container in definition.get("containerDefinitions") or []:
        if container.get("privileged"):
            return "Fargate compatible task definitions do not support privileged containers"
        log = container.get("logConfiguration") or {}
        if log.get("logDriver") == "awslogs" and not definition.get("executionRoleArn"):
            return (
                "Fargate requires task definition to have execution role ARN "
                "to support log driver awslogs."
            )
    return None


def compute_compatibilities(definition: Mapping[str, Any]) -> list[str]:
    """EC2 always; FARGATE when the definition passes Fargate's rules; others on request."""
    found = ["EC2"]
    if fargate_problem(definition) is None:
        found.append("FARGATE")
    requested = definition.get("requiresCompatibilities") or []
    found.extend(kind for kind in _ON_REQUEST if kind in requested)
    return found
