"""Amazon Resource Names for ECS resources, built and parsed as AWS does."""

from __future__ import annotations

from dataclasses import dataclass

from openecs.domain.errors import InvalidParameterException
from openecs.domain.scope import Scope

__all__ = [
    "Arn",
    "cluster_arn",
    "container_instance_arn",
    "parse_arn",
    "service_arn",
    "task_arn",
    "task_definition_arn",
]


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account_id: str
    resource_type: str
    resource: str

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:{self.service}:{self.region}:{self.account_id}:"
            f"{self.resource_type}/{self.resource}"
        )


def parse_arn(text: str) -> Arn | None:
    """Split an ARN of the form arn:aws:svc:region:account:type/rest; None if not an ARN."""
    if not text.startswith("arn:"):
        return None
    parts = text.split(":", 5)
    if len(parts) != 6 or "/" not in parts[5]:
        return None
    resource_type, resource = parts[5].split("/", 1)
    return Arn(parts[1], parts[2], parts[3], parts[4], resource_type, resource)


def _ecs(scope: Scope, resource: str) -> str:
    return f"arn:aws:ecs:{scope.region}:{scope.account_id}:{resource}"


def cluster_arn(scope: Scope, name: str) -> str:
    return _ecs(scope, f"cluster/{name}")


def task_definition_arn(scope: Scope, family: str, revision: int) -> str:
    return _ecs(scope, f"task-definition/{family}:{revision}")


def task_arn(scope: Scope, cluster: str, task_id: str) -> str:
    return _ecs(scope, f"task/{cluster}/{task_id}")


def container_instance_arn(scope: Scope, cluster: str, instance_id: str) -> str:
    return _ecs(scope, f"container-instance/{cluster}/{instance_id}")


def service_arn(scope: Scope, cluster: str, name: str) -> str:
    return _ecs(scope, f"service/{cluster}/{name}")


def cluster_name_from(ref: str, scope: Scope) -> str:
    """A cluster reference (name or ARN) as a name; ARNs must be in the caller's scope."""
    arn = parse_arn(ref)
    if arn is None:
        return ref
    if arn.service != "ecs" or arn.resource_type != "cluster":
        raise InvalidParameterException(f"Invalid cluster identifier: {ref}")
    if arn.account_id != scope.account_id or arn.region != scope.region:
        raise InvalidParameterException(
            f"Cluster identifier {ref} is not in account {scope.account_id}, region {scope.region}."
        )
    return arn.resource
