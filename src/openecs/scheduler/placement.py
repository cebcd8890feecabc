"""place_tasks: choose an instance for each of a request's tasks.

    every instance ── filters ──► candidates ── selector (strategy chain) ──► instance
          │ rejected: reason recorded          ▲                                │
          ▼                                    └── re-check the chosen one ◄────┘
      Plan.rejections                              after accounting the task

The filters run once over the snapshot. After each placement only the
chosen instance can have changed, so only it is checked again (with the
filters a placement can affect) and re-ranked; the plan never promises
more CPU, memory, ports or GPUs than the snapshot shows.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from openecs.scheduler.filters import Filter, build_filters, first_rejection
from openecs.scheduler.ranking import build_selector
from openecs.scheduler.strategies import effective_strategy
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest

__all__ = ["NO_INSTANCES", "Plan", "place_tasks"]

# The reason and words of a placement on a cluster without any instance.
NO_INSTANCES = ("NO_CAPACITY", "No Container Instances were found in your cluster.")


@dataclass(slots=True)
class Plan:
    # instance_id per placed task, in order.
    placements: list[str] = field(default_factory=list)
    # One per task that could not be placed: (ECS reason, human detail).
    failures: list[tuple[str, str]] = field(default_factory=list)
    # Every instance that could not take (another) task when the plan ended, and
    # the ECS reason of the filter that turned it away: a dry run shows these.
    rejections: dict[str, str] = field(default_factory=dict)
    # The same instances, in words: "has insufficient memory available".
    explanations: dict[str, str] = field(default_factory=dict)

    @property
    def rejection_counts(self) -> Counter[str]:
        """How many instances each filter rejected (by ECS reason)."""
        return Counter(self.rejections.values())


def _reject(plan: Plan, view: InstanceView, rejected: Filter) -> None:
    plan.rejections[view.instance_id] = rejected.reason
    plan.explanations[view.instance_id] = rejected.explain


def _failure(filters: tuple[Filter, ...], views: list[InstanceView], plan: Plan) -> tuple[str, str]:
    """Why the next task cannot be placed: the closest match's reason, and every filter's toll.

    The closest matching instance is the one turned away by the latest filter
    of the pipeline (it passed all the others before it).
    """
    stage = {f.reason: at for at, f in reversed(list(enumerate(filters)))}
    closest = max(views, key=lambda v: stage.get(plan.rejections[v.instance_id], -1))
    reason = plan.rejections[closest.instance_id]
    tolls = ", ".join(
        f"{count} by {why}"
        for why, count in sorted(
            plan.rejection_counts.items(), key=lambda item: (-item[1], stage.get(item[0], 0))
        )
    )
    detail = (
        f"No container instance met all of the task's requirements ({len(views)} checked; "
        f"rejected {tolls}). The closest matching container instance {closest.instance_id} "
        f"{plan.explanations[closest.instance_id]}."
    )
    return reason, detail


def place_tasks(view: ClusterView, req: PlacementRequest) -> Plan:
    """Place `req.count` tasks, accounting each placement before the next.

    Mutates the `InstanceView`s of `view` (remaining capacity, group counts)
    as it places, so the caller can read what is left; never touches storage.
    """
    plan = Plan()
    views = view.instances
    if not views:
        plan.failures.extend([NO_INSTANCES] * req.count)
        return plan
    filters = build_filters(req)
    rechecked = tuple(f for f in filters if f.dynamic)
    # One pass per filter over the survivors of the one before (a pipeline stage each).
    candidates = list(range(len(views)))
    for check in filters:
        accepts = check.accepts
        kept = [at for at in candidates if accepts(views[at])]
        if len(kept) != len(candidates):
            passed = set(kept)
            for at in candidates:
                if at not in passed:
                    _reject(plan, views[at], check)
        candidates = kept
    rng = random.Random(req.seed)
    chain = effective_strategy(req.strategy, is_service=req.is_service)
    selector = build_selector(chain, views, candidates, range(len(views)), req.group, rng)
    reservation, group = req.reservation, req.group
    for placed in range(req.count):
        idx = selector.choose()
        if idx is None:
            plan.failures.extend([_failure(filters, views, plan)] * (req.count - placed))
            break
        chosen = views[idx]
        chosen.take(reservation, group)
        plan.placements.append(chosen.instance_id)
        rejected = first_rejection(rechecked, chosen)
        if rejected is not None:
            _reject(plan, chosen, rejected)
        selector.placed(idx, rejected is None)
    return plan
