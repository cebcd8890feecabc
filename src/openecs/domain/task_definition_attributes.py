"""`requiresAttributes`: the container-instance capabilities a task definition needs.

ECS derives these at registration from the features a definition uses, and the
scheduler only places the task on instances that advertise all of them. The
names are ECS's own, so a definition shows the same list here as on AWS for the
common features: log drivers, health checks, container ordering, task ENIs,
task IAM roles, ECR and private-registry pulls, secrets and environment files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["compute_required_attributes"]

_ECS = "com.amazonaws.ecs.capability."
_DOCKER_1_18 = _ECS + "docker-remote-api.1.18"
_DOCKER_1_19 = _ECS + "docker-remote-api.1.19"


def _container_needs(container: Mapping[str, Any], execution_role: bool) -> list[str]:
    needs: list[str] = []
    log = container.get("logConfiguration")
    if log:
        driver = log.get("logDriver", "")
        needs.append(f"{_ECS}logging-driver.{driver}")
        if driver == "awslogs":
            needs.append(_DOCKER_1_19)
            if execution_role:
                needs.append("ecs.capability.execution-role-awslogs")
        needs.append(_DOCKER_1_18)
    if container.get("dockerLabels") or container.get("ulimits"):
        needs.append(_DOCKER_1_18)
    if ".dkr.ecr." in str(container.get("image", "")):
        needs.append(_ECS + "ecr-auth")
        if execution_role:
            needs.append("ecs.capability.execution-role-ecr-pull")
    if container.get("repositoryCredentials"):
        needs.append(_ECS + "private-registry-authentication.secretsmanager")
    if container.get("healthCheck"):
        needs.append("ecs.capability.container-health-check")
    if container.get("dependsOn"):
        needs.append("ecs.capability.container-ordering")
    for secret in container.get("secrets") or []:
        source = str(secret.get("valueFrom", ""))
        if ":secretsmanager:" in source:
            needs.append("ecs.capability.secrets.asm.environment-variables")
        else:
            needs.append("ecs.capability.secrets.ssm.environment-variables")
    if container.get("environmentFiles"):
        needs.append("ecs.capability.env-files.s3")
    firelens = container.get("firelensConfiguration")
    if firelens:
        needs.append(f"ecs.capability.firelens.{firelens.get('type', 'fluentbit')}")
    return needs


def compute_required_attributes(definition: Mapping[str, Any]) -> list[dict[str, str]]:
    """`[{name: ...}]` in first-use order, each capability once."""
    execution_role = bool(definition.get("executionRoleArn"))
    needs: list[str] = []
    for container in definition.get("containerDefinitions") or []:
        needs.extend(_container_needs(container, execution_role))
    if definition.get("taskRoleArn"):
        needs.append(_ECS + "task-iam-role")
        if definition.get("networkMode") == "host":
            needs.append(_ECS + "task-iam-role-network-host")
    if definition.get("networkMode") == "awsvpc":
        needs.append("ecs.capability.task-eni")
    for volume in definition.get("volumes") or []:
        if volume.get("efsVolumeConfiguration"):
            needs.append("ecs.capability.efs")
        if volume.get("dockerVolumeConfiguration"):
            needs.append("ecs.capability.docker-plugin.local")
    return [{"name": name} for name in dict.fromkeys(needs)]
