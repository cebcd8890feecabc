"""Task scale-in protection: UpdateTaskProtection and GetTaskProtection.

A protected task is left alone by its service's scale-in and deployments
until the protection expires (default 2 hours, at most 48). As on ECS, only
tasks that belong to a service can be protected (TASK_NOT_VALID otherwise)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from openecs.domain.arns import task_arn
from openecs.domain.errors import InvalidParameterException
from openecs.domain.scope import Scope
from openecs.domain.task import Task
from openecs.store import tasks as task_rows
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import require_active_cluster
from openecs.usecases.tasks import task_id_from

__all__ = ["get_task_protection", "update_task_protection"]

_DEFAULT_MINUTES = 120
_MAX_MINUTES = 2880


def _present(task: Task, now: float) -> dict[str, Any]:
    protected = task.protected(now)
    return {
        "taskArn": task.arn,
        "protectionEnabled": protected,
        "expirationDate": task.protection_expires_at if protected else None,
    }


def _check_refs(refs: list[str]) -> None:
    if not 1 <= len(refs) <= 10:
        raise InvalidParameterException("tasks must name between 1 and 10 tasks.")


def update_task_protection(
    backend: Backend,
    scope: Scope,
    cluster_ref: str | None,
    refs: list[str],
    enabled: bool,
    expires_in_minutes: int | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    _check_refs(refs)
    minutes = _DEFAULT_MINUTES if expires_in_minutes is None else expires_in_minutes
    if enabled and not 1 <= minutes <= _MAX_MINUTES:
        raise InvalidParameterException(
            f"expiresInMinutes must be between 1 and {_MAX_MINUTES} minutes."
        )

    def work(conn: Connection) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        now = backend.clock.now()
        ids = [task_id_from(r) for r in refs]
        found = task_rows.get_many(conn, scope, ids)
        out: list[dict[str, Any]] = []
        failures: list[dict[str, str]] = []
        for ref, tid in zip(refs, ids, strict=True):
            task = found.get(tid)
            if task is None or task.cluster != cluster.name:
                arn = ref if ref.startswith("arn:") else task_arn(scope, cluster.name, tid)
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            # Only a service's tasks can be protected (from its scale-in and deployments).
            if not (task.group or "").startswith("service:"):
                failures.append(
                    {
                        "arn": task.arn,
                        "reason": "TASK_NOT_VALID",
                        "detail": "The task is not part of a service.",
                    }
                )
                continue
            if task.is_stopped or task.wants_stop:
                failures.append(
                    {
                        "arn": task.arn,
                        "reason": "TASK_NOT_VALID",
                        "detail": "The task is stopping or stopped.",
                    }
                )
                continue
            task.protection_enabled = enabled
            task.protection_expires_at = now + minutes * 60 if enabled else None
            task_rows.save(conn, task)
            out.append(_present(task, now))
        return out, failures

    return backend.write(work)


def get_task_protection(
    backend: Backend, scope: Scope, cluster_ref: str | None, refs: list[str] | None
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    with backend.reading() as conn:
        cluster = require_active_cluster(conn, scope, cluster_ref)
        now = backend.clock.now()
        if not refs:
            raise InvalidParameterException("tasks must name between 1 and 10 tasks.")
        _check_refs(refs)
        ids = [task_id_from(r) for r in refs]
        found = task_rows.get_many(conn, scope, ids)
    out: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    for ref, tid in zip(refs, ids, strict=True):
        task = found.get(tid)
        if task is None or task.cluster != cluster.name:
            arn = ref if ref.startswith("arn:") else task_arn(scope, cluster.name, tid)
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            out.append(_present(task, now))
    return out, failures
