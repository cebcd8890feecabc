"""Tag operations for any ECS resource ARN: tag, untag, list.

Before touching tags, the ARN is resolved to a resource that exists, with the
error AWS gives when it does not:

    not an ECS ARN, unknown resource type ....... InvalidParameterException
    another account ............................. InvalidParameterException
    short (cluster-less) service/task/instance .. InvalidParameterException
    cluster missing ............................. ClusterNotFoundException
    cluster deleted (INACTIVE) .................. InvalidParameterException
    service, task, instance, task definition .... ResourceNotFoundException

LIMITATIONS (where OpenECS differs from AWS):
* capacity providers cannot be created yet, so their ARNs are never found;
* task sets are not taggable yet (no task sets exist).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from openecs.domain.arns import parse_arn
from openecs.domain.errors import (
    ClusterNotFoundException,
    InvalidParameterException,
    LimitExceededException,
    ResourceNotFoundException,
)
from openecs.domain.scope import Scope
from openecs.domain.tags import MAX_TAGS, tags_from_api, validate_tag_keys
from openecs.store import clusters as cluster_rows
from openecs.store import tags as tag_rows
from openecs.usecases.backend import Backend

__all__ = ["list_tags_for_resource", "require_taggable", "tag_resource", "untag_resource"]

_IN_CLUSTER = ("service", "task", "container-instance")
_TAGGABLE = ("cluster", "task-definition", "capacity-provider", *_IN_CLUSTER)


@dataclass(frozen=True, slots=True)
class _Target:
    resource_type: str
    arn: str
    cluster: str | None
    in_scope: bool


def _parse(scope: Scope, resource_arn: str) -> _Target:
    arn = parse_arn(resource_arn)
    if arn is None or arn.service != "ecs" or arn.resource_type not in _TAGGABLE:
        raise InvalidParameterException(
            f"The ARN provided is invalid: {resource_arn}. Specify the ARN of a cluster, "
            "service, task, container instance, task definition or capacity provider."
        )
    if arn.account_id != scope.account_id:
        raise InvalidParameterException(
            f"Identifier is for {arn.account_id}. Your accountId is {scope.account_id}"
        )
    cluster: str | None = None
    if arn.resource_type == "cluster":
        cluster = arn.resource
    elif arn.resource_type in _IN_CLUSTER:
        cluster, slash, _ = arn.resource.partition("/")
        if not slash:
            raise InvalidParameterException("Long arn format must be used for tagging operations")
    # OpenECS names everything in the aws partition; another partition or region
    # holds nothing this endpoint knows.
    in_scope = arn.partition == "aws" and arn.region == scope.region
    return _Target(arn.resource_type, resource_arn, cluster, in_scope)


def _require_cluster(conn: Connection, scope: Scope, target: _Target) -> None:
    found = cluster_rows.get(conn, scope, target.cluster or "") if target.in_scope else None
    if found is None:
        raise ClusterNotFoundException("Cluster not found.")
    if not found.active:
        raise InvalidParameterException(
            "The specified cluster is inactive. Specify an active cluster and try again."
        )


def require_taggable(conn: Connection, scope: Scope, resource_arn: str) -> None:
    """Raise the error AWS gives unless `resource_arn` names a resource that exists."""
    target = _parse(scope, resource_arn)
    if target.cluster is not None:
        _require_cluster(conn, scope, target)
        if target.resource_type == "cluster":
            return
    exists = (
        target.in_scope
        and target.resource_type != "capacity-provider"
        and tag_rows.resource_exists(conn, scope, target.resource_type, target.arn)
    )
    if not exists:
        raise ResourceNotFoundException("The specified resource wasn't found.")


def tag_resource(
    backend: Backend, scope: Scope, resource_arn: str, tags: list[dict[str, str]]
) -> None:
    """Add tags, overwriting the values of keys the resource already has."""
    new_tags = tags_from_api(tags)

    def work(conn: Connection) -> None:
        require_taggable(conn, scope, resource_arn)
        merged = {**tag_rows.get_tags(conn, resource_arn), **new_tags}
        # Tags with AWS's reserved prefix do not count against the limit.
        counted = [k for k in merged if not k.lower().startswith("aws:")]
        if len(counted) > MAX_TAGS:
            raise LimitExceededException(
                f"The resource would have {len(counted)} tags, over the limit of "
                f"{MAX_TAGS} tags per resource."
            )
        tag_rows.put_tags(conn, resource_arn, new_tags)

    backend.write(work)


def untag_resource(backend: Backend, scope: Scope, resource_arn: str, tag_keys: list[str]) -> None:
    """Remove tags by key; keys the resource does not have are ignored."""
    keys = validate_tag_keys(tag_keys)

    def work(conn: Connection) -> None:
        require_taggable(conn, scope, resource_arn)
        tag_rows.remove_tags(conn, resource_arn, keys)

    backend.write(work)


def list_tags_for_resource(backend: Backend, scope: Scope, resource_arn: str) -> dict[str, str]:
    with backend.reading() as conn:
        require_taggable(conn, scope, resource_arn)
        return tag_rows.get_tags(conn, resource_arn)
