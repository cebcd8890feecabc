"""Instance liveness and task retention: the steps that keep the picture honest."""

from __future__ import annotations

from openecs.controllers.loop import Step
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import mark_silent_agents_disconnected
from openecs.usecases.tasks import expire_stopped_tasks

__all__ = ["housekeeping_steps"]


def housekeeping_steps(
    backend: Backend, *, agent_timeout: float, task_retention: float
) -> list[Step]:
    return [
        Step(
            "instance-liveness",
            max(agent_timeout / 4, 0.5),
            lambda: mark_silent_agents_disconnected(backend, agent_timeout),
        ),
        Step(
            "task-retention",
            max(min(task_retention / 10, 60.0), 1.0),
            lambda: expire_stopped_tasks(backend, task_retention),
        ),
    ]
