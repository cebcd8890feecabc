"""Task definition operations: register, describe, list, deregister, delete.

Other use cases (RunTask, services) read definitions through
`resolve_task_definition` / `find_task_definition`, inside their own transaction.

LIMITATIONS: DELETE_IN_PROGRESS revisions are kept (and listed) for good; ECS
removes them once no task or service uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from openecs.domain.arns import task_definition_arn
from openecs.domain.errors import ClientException, InvalidParameterException
from openecs.domain.scope import Scope
from openecs.domain.task_definition import (
    TaskDefinition,
    TaskDefinitionStatus,
    parse_task_definition_ref,
)
from openecs.domain.task_definition_rules import prepare_registration
from openecs.store import tags as tag_rows
from openecs.store import task_definitions as rows
from openecs.usecases.backend import Backend
from openecs.usecases.pagination import decode_token, encode_token, page_limit

__all__ = [
    "TaskDefinitionView",
    "delete_task_definitions",
    "deregister_task_definition",
    "describe_task_definition",
    "find_task_definition",
    "list_task_definition_families",
    "list_task_definitions",
    "register_task_definition",
    "resolve_task_definition",
]

_UNABLE_TO_DESCRIBE = "Unable to describe task definition."
_INVALID_IDENTIFIER = (
    "The specified task definition identifier is invalid. "
    "Specify a valid name or ARN and try again."
)
_DOES_NOT_EXIST = (
    "The specified task definition does not exist. "
    "Specify a valid account, family, revision and try again."
)
_STILL_ACTIVE = (
    "The specified task definition is still in ACTIVE status. "
    "Please deregister the target and try again."
)
_MAX_DELETE = 10


@dataclass(slots=True)
class TaskDefinitionView:
    """A revision and, when the caller asked for them, its tags."""

    definition: TaskDefinition
    tags: dict[str, str] | None = None


def find_task_definition(conn: Connection, scope: Scope, ref: str) -> TaskDefinition | None:
    """The revision `ref` names (a family alone: its latest ACTIVE one), or None."""
    parsed = parse_task_definition_ref(ref, scope)
    if parsed is None:
        return None
    if parsed.revision is None:
        return rows.latest_active(conn, scope, parsed.family)
    return rows.get(conn, scope, parsed.family, parsed.revision)


def resolve_task_definition(conn: Connection, scope: Scope, ref: str) -> TaskDefinition:
    """Like `find_task_definition`, raising ECS's ClientException when nothing matches."""
    found = find_task_definition(conn, scope, ref)
    if found is None:
        raise ClientException(_UNABLE_TO_DESCRIBE)
    return found


def register_task_definition(
    backend: Backend, scope: Scope, request: Mapping[str, Any]
) -> TaskDefinitionView:
    registration = prepare_registration(request)

    def work(conn: Connection) -> TaskDefinitionView:
        revision = rows.next_revision(conn, scope, registration.family)
        definition = TaskDefinition(
            family=registration.family,
            revision=revision,
            arn=task_definition_arn(scope, registration.family, revision),
            status=TaskDefinitionStatus.ACTIVE,
            registered_at=backend.clock.now(),
            registered_by=scope.principal_arn,
            body=registration.body,
        )
        rows.insert_definition(conn, scope, definition)
        tag_rows.put_tags(conn, definition.arn, registration.tags)
        return TaskDefinitionView(definition, dict(registration.tags))

    return backend.write(work)


def describe_task_definition(
    backend: Backend, scope: Scope, ref: str, include: list[str] | None
) -> TaskDefinitionView:
    with backend.reading() as conn:
        definition = resolve_task_definition(conn, scope, ref)
        tags = tag_rows.get_tags(conn, definition.arn) if "TAGS" in (include or ()) else None
    return TaskDefinitionView(definition, tags)


def _family_and_revision(ref: str, scope: Scope) -> tuple[str, int] | None:
    """A reference that names one revision (deregister and delete need one)."""
    parsed = parse_task_definition_ref(ref, scope)
    if parsed is None or parsed.revision is None:
        return None
    return parsed.family, parsed.revision


def deregister_task_definition(backend: Backend, scope: Scope, ref: str) -> TaskDefinition:
    key = _family_and_revision(ref, scope)
    if key is None:
        raise ClientException(_INVALID_IDENTIFIER)
    family, revision = key

    def work(conn: Connection) -> TaskDefinition:
        definition = rows.get(conn, scope, family, revision)
        if definition is None:
            raise ClientException(_DOES_NOT_EXIST)
        if definition.status == TaskDefinitionStatus.DELETE_IN_PROGRESS:
            raise ClientException(
                "The task definition could not be deregistered because it is "
                "in the process of being deleted."
            )
        if definition.active:
            definition.status = TaskDefinitionStatus.INACTIVE
            definition.deregistered_at = backend.clock.now()
            rows.save_lifecycle(conn, scope, definition, TaskDefinitionStatus.ACTIVE)
        return definition

    return backend.write(work)


def delete_task_definitions(
    backend: Backend, scope: Scope, refs: list[str]
) -> tuple[list[TaskDefinition], list[dict[str, str]]]:
    """Move INACTIVE revisions to DELETE_IN_PROGRESS; the rest come back as failures."""
    if not refs:
        raise InvalidParameterException(
            "size of TaskDefinition references list must be greater than 0"
        )
    if len(refs) > _MAX_DELETE:
        raise InvalidParameterException(
            f"Size of TaskDefinition references list cannot exceed {_MAX_DELETE}"
        )

    def work(conn: Connection) -> tuple[list[TaskDefinition], list[dict[str, str]]]:
        deleted: list[TaskDefinition] = []
        failures: list[dict[str, str]] = []
        for ref in refs:
            key = _family_and_revision(ref, scope)
            if key is None:
                failures.append({"arn": ref, "reason": _INVALID_IDENTIFIER})
                continue
            arn = task_definition_arn(scope, *key)
            definition = rows.get(conn, scope, *key)
            if definition is None:
                failures.append({"arn": arn, "reason": _DOES_NOT_EXIST})
                continue
            if definition.active:
                failures.append({"arn": arn, "reason": _STILL_ACTIVE})
                continue
            if definition.status == TaskDefinitionStatus.INACTIVE:
                definition.status = TaskDefinitionStatus.DELETE_IN_PROGRESS
                definition.delete_requested_at = backend.clock.now()
                rows.save_lifecycle(conn, scope, definition, TaskDefinitionStatus.INACTIVE)
            deleted.append(definition)
        return deleted, failures

    return backend.write(work)


def _revision_token(token: str | None) -> tuple[str, int] | None:
    key = decode_token(token)
    if key is None:
        return None
    if (
        not isinstance(key, list)
        or len(key) != 2
        or not isinstance(key[0], str)
        or not isinstance(key[1], int)
    ):
        raise InvalidParameterException("Invalid token " + str(token)[:64])
    return key[0], key[1]


def list_task_definitions(
    backend: Backend,
    scope: Scope,
    *,
    family_prefix: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[str], str | None]:
    """ARNs of revisions with `status` (ACTIVE by default), by family then revision.

    As on ECS, `familyPrefix` is a whole family name, not a prefix.
    """
    limit = page_limit(max_results)
    after = _revision_token(next_token)
    with backend.reading() as conn:
        found = rows.list_keys(
            conn,
            scope,
            family=family_prefix or None,
            status=status or TaskDefinitionStatus.ACTIVE,
            descending=sort == "DESC",
            after=after,
            limit=limit + 1,
        )
    token = None
    if len(found) > limit:
        family, revision, _ = found[limit - 1]
        token = encode_token([family, revision])
    return [arn for _, _, arn in found[:limit]], token


def list_task_definition_families(
    backend: Backend,
    scope: Scope,
    *,
    family_prefix: str | None = None,
    status: str | None = None,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[str], str | None]:
    """Family names starting with `familyPrefix`; status ACTIVE, INACTIVE or ALL (default)."""
    limit = page_limit(max_results)
    after = decode_token(next_token)
    if after is not None and not isinstance(after, str):
        raise InvalidParameterException("Invalid token " + str(next_token)[:64])
    with backend.reading() as conn:
        found = rows.list_families(
            conn,
            scope,
            prefix=family_prefix,
            status=status or "ALL",
            after=after,
            limit=limit + 1,
        )
    token = encode_token(found[limit - 1]) if len(found) > limit else None
    return found[:limit], token
