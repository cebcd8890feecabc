"""The task definition: one immutable revision of a family, and how callers name it.

A registered revision never changes except for its lifecycle
(ACTIVE → INACTIVE → DELETE_IN_PROGRESS). Its document is the full ECS
`TaskDefinition` shape, so what DescribeTaskDefinition returns is what the
store holds, and what later work (RunTask, services) reads.

Callers name a revision three ways, as ECS accepts them:

* `family`            the latest ACTIVE revision of the family
* `family:revision`   that revision, whatever its status
* a full ARN          `arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>`
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openecs.domain.arns import parse_arn, task_definition_arn
from openecs.domain.scope import Scope

__all__ = [
    "FAMILY_PATTERN",
    "TaskDefinition",
    "TaskDefinitionRef",
    "TaskDefinitionStatus",
    "parse_task_definition_ref",
]

FAMILY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
_REVISION = re.compile(r"[1-9][0-9]{0,9}")

# Members of the ECS TaskDefinition shape that the service computes or owns;
# everything else in a document is the definition as registered (normalized).
_COMPUTED = (
    "taskDefinitionArn",
    "family",
    "revision",
    "status",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
)


class TaskDefinitionStatus:
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"


@dataclass(frozen=True, slots=True)
class TaskDefinitionRef:
    """A parsed reference: a family and, unless "latest ACTIVE" is meant, a revision."""

    family: str
    revision: int | None = None

    def arn(self, scope: Scope) -> str | None:
        if self.revision is None:
            return None
        return task_definition_arn(scope, self.family, self.revision)


def parse_task_definition_ref(text: str, scope: Scope) -> TaskDefinitionRef | None:
    """`family`, `family:revision` or an ARN in the caller's account and region.

    None when the text cannot name a task definition of this caller (bad
    characters, a revision that is not a positive number, another account's ARN).
    """
    arn = parse_arn(text)
    if arn is not None:
        if (
            arn.service != "ecs"
            or arn.resource_type != "task-definition"
            or arn.account_id != scope.account_id
            or arn.region != scope.region
            or ":" not in arn.resource
        ):
            return None
        text = arn.resource
    elif text.startswith("arn:"):
        return None
    family, sep, revision = text.partition(":")
    if not FAMILY_PATTERN.fullmatch(family):
        return None
    if not sep:
        return TaskDefinitionRef(family)
    if not _REVISION.fullmatch(revision) or int(revision) > 2**31 - 1:
        return None
    return TaskDefinitionRef(family, int(revision))


@dataclass(slots=True)
class TaskDefinition:
    """One registered revision.

    `body` is the normalized definition (container definitions with ECS's
    defaults filled in, task size as strings of units and MiB, computed
    `compatibilities` and `requiresAttributes`); identity and lifecycle live in
    the fields beside it.
    """

    family: str
    revision: int
    arn: str
    status: str
    registered_at: float
    registered_by: str
    body: dict[str, Any] = field(default_factory=dict)
    deregistered_at: float | None = None
    delete_requested_at: float | None = None

    @property
    def active(self) -> bool:
        return self.status == TaskDefinitionStatus.ACTIVE

    @property
    def container_definitions(self) -> list[dict[str, Any]]:
        containers: list[dict[str, Any]] = self.body.get("containerDefinitions", [])
        return containers

    @property
    def network_mode(self) -> str:
        """The network mode tasks run with: bridge when the definition names none."""
        mode: str = self.body.get("networkMode") or "bridge"
        return mode

    @property
    def compatibilities(self) -> list[str]:
        found: list[str] = self.body.get("compatibilities", [])
        return found

    def to_api(self) -> dict[str, Any]:
        """The ECS `TaskDefinition` shape, timestamps as epoch seconds."""
        doc: dict[str, Any] = {
            "taskDefinitionArn": self.arn,
            "family": self.family,
            "revision": self.revision,
            "status": self.status,
        }
        # Shallow: callers serialize the document, they never change it.
        doc.update(self.body)
        doc["registeredAt"] = self.registered_at
        doc["registeredBy"] = self.registered_by
        if self.deregistered_at is not None:
            doc["deregisteredAt"] = self.deregistered_at
        if self.delete_requested_at is not None:
            doc["deleteRequestedAt"] = self.delete_requested_at
        return doc

    @classmethod
    def from_api(cls, doc: dict[str, Any]) -> TaskDefinition:
        """The inverse of `to_api`: a stored document back into an entity."""
        return cls(
            family=doc["family"],
            revision=int(doc["revision"]),
            arn=doc["taskDefinitionArn"],
            status=doc["status"],
            registered_at=float(doc["registeredAt"]),
            registered_by=doc.get("registeredBy", ""),
            body={k: v for k, v in doc.items() if k not in _COMPUTED},
            deregistered_at=doc.get("deregisteredAt"),
            delete_requested_at=doc.get("deleteRequestedAt"),
        )
