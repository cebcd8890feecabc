"""place_tasks: choose an instance for each of a request's tasks."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from openecs.scheduler.filters import reject_reason
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest

__all__ = ["Plan", "place_tasks"]


@dataclass(slots=True)
class Plan:
    # instance_id per placed task, in order.
    placements: list[str] = field(default_factory=list)
    # Tasks that could not be placed: (ECS reason, human detail).
    failures: list[tuple[str, str]] = field(default_factory=list)
    # For each instance, the filter that rejected it (the plan explains itself).
    rejections: dict[str, str] = field(default_factory=dict)


def _rank_key(
    req: PlacementRequest, rng: random.Random
) -> Callable[[InstanceView], tuple[float, ...]]:
    strategies = req.strategy or (("random", None),)

    def key(view: InstanceView) -> tuple[float, ...]:
        parts: list[float] = []
        for kind, fld in strategies:
            if kind == "binpack":
                parts.append(view.remaining.memory if fld != "cpu" else view.remaining.cpu)
            elif kind == "spread":
                if fld in (None, "instanceId", "host"):
                    parts.append(
                        view.groups.get(req.group or "", 0) if req.group else view.task_count
                    )
                else:
                    parts.append(0)
            elif kind == "random":
                parts.append(rng.random())
        return tuple(parts)

    return key


def place_tasks(view: ClusterView, req: PlacementRequest) -> Plan:
    """Place `req.count` tasks, accounting each placement before the next."""
    plan = Plan()
    rng = random.Random(req.seed)
    key = _rank_key(req, rng)
    for _ in range(req.count):
        feasible: list[InstanceView] = []
        reasons: Counter[str] = Counter()
        for inst in view.instances:
            reason = reject_reason(inst, req)
            if reason is None:
                feasible.append(inst)
            else:
                reasons[reason] += 1
                plan.rejections[inst.instance.instance_id] = reason
        if not feasible:
            if not view.instances:
                plan.failures.append(
                    ("NO_CAPACITY", "No Container Instances were found in your cluster.")
                )
            else:
                reason, _ = reasons.most_common(1)[0]
                detail = ", ".join(
                    f"{n} instance(s) rejected by {r}" for r, n in reasons.most_common()
                )
                plan.failures.append((reason, detail))
            continue
        chosen = min(feasible, key=key)
        chosen.take(req.reservation, req.group)
        plan.rejections.pop(chosen.instance.instance_id, None)
        plan.placements.append(chosen.instance.instance_id)
    return plan
