"""The labels that tie a container to its task: all the agent needs to find its
containers again after a restart (the agent owns nothing it cannot rebuild)."""

from __future__ import annotations

__all__ = [
    "AGENT",
    "CLUSTER",
    "CONTAINER_NAME",
    "ROLE",
    "ROLE_PAUSE",
    "TASK_ARN",
    "TASK_FAMILY",
    "TASK_REVISION",
]

TASK_ARN = "com.amazonaws.ecs.task-arn"
CONTAINER_NAME = "com.amazonaws.ecs.container-name"
CLUSTER = "com.amazonaws.ecs.cluster"
TASK_FAMILY = "com.amazonaws.ecs.task-definition-family"
TASK_REVISION = "com.amazonaws.ecs.task-definition-version"
# Which agent owns the container: several agents may share one Docker engine.
AGENT = "openecs.agent"
# "pause" for the container that holds an awsvpc task's network namespace.
ROLE = "openecs.role"
ROLE_PAUSE = "pause"
