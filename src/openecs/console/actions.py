"""What the console's buttons do: the same use cases the API handlers call
(UpdateService, StopTask, DeregisterTaskDefinition), so a change made in the
browser is the change `aws ecs ...` would have made. Each returns the sentence
shown to the user afterwards."""

from __future__ import annotations

from openecs.domain.errors import InvalidParameterException
from openecs.domain.scope import Scope
from openecs.usecases import services, task_definitions, tasks
from openecs.usecases.backend import Backend

__all__ = [
    "deregister_revision",
    "force_new_deployment",
    "roll_back",
    "set_desired_count",
    "stop_task",
]

STOP_REASON = "Stopped from the OpenECS console"


def set_desired_count(
    backend: Backend, scope: Scope, cluster: str, service: str, count: int
) -> str:
    if not 0 <= count <= 10000:
        raise InvalidParameterException("The desired count must be between 0 and 10000.")
    services.update_service(
        backend, scope, {"cluster": cluster, "service": service, "desiredCount": count}
    )
    return f"Desired count of {service} set to {count}."


def force_new_deployment(backend: Backend, scope: Scope, cluster: str, service: str) -> str:
    services.update_service(
        backend, scope, {"cluster": cluster, "service": service, "forceNewDeployment": True}
    )
    return f"A new deployment of {service} started."


def roll_back(
    backend: Backend, scope: Scope, cluster: str, service: str, task_definition: str
) -> str:
    services.update_service(
        backend,
        scope,
        {"cluster": cluster, "service": service, "taskDefinition": task_definition},
    )
    return f"{service} is rolling back to {task_definition.rsplit('/', 1)[-1]}."


def stop_task(backend: Backend, scope: Scope, cluster: str, task_id: str) -> str:
    tasks.stop_task(backend, scope, cluster, task_id, STOP_REASON)
    return f"Task {task_id} is stopping."


def deregister_revision(backend: Backend, scope: Scope, family: str, revision: int) -> str:
    task_definitions.deregister_task_definition(backend, scope, f"{family}:{revision}")
    return f"{family}:{revision} deregistered (INACTIVE): it can no longer start new tasks."
