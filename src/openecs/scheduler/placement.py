"""place_tasks: choose an instance for each of a request's tasks.

    every instance ── filters ──► candidates ── selector (strategy chain) ──► instance
          │ rejected: reason recorded          ▲                                │
          ▼                                    └── re-check the chosen one ◄────┘
      Plan.rejections                              after accounting the task

The filters run once over the snapshot. After each placement only the
chosen instance can have changed, so only it is checked again (with the
filters a placement can affect) and re-ranked; the plan never promises
more CPU, memory, ports or GPUs than the snapshot shows.

The pass (filters, rejections, selector) stays on the ClusterView: the next
request of the same shape on the same snapshot continues it, unless
something was placed behind its back (InstanceView.take counts every
placement) or the instance list changed; a reused pass also checks each
chosen instance in full before placing on it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from openecs.scheduler.filters import (
    Filter,
    build_filters,
    distinct_within_request,
    first_rejection,
)
from openecs.scheduler.ranking import build_selector
from openecs.scheduler.strategies import effective_strategy
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest, takes_so_far

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
    # The instance that came closest to taking the tasks that failed, which
    # their detail names (None when every task was placed, or nothing was checked).
    closest: str | None = None

    @property
    def rejection_counts(self) -> Counter[str]:
        """How many instances each filter rejected (by ECS reason)."""
        return Counter(self.rejections.values())


def _failure(filters: tuple[Filter, ...], views: list[InstanceView], plan: Plan) -> tuple[str, str]:
    """Why the next task cannot be placed: the closest match's reason, and every filter's toll.

    The closest matching instance is the one turned away by the latest filter
    of the pipeline (it passed all the others before it); `plan.closest`
    records it, for the failure's `arn`.
    """
    stage = {f.reason: at for at, f in reversed(list(enumerate(filters)))}
    closest = max(views, key=lambda v: stage.get(plan.rejections[v.instance_id], -1))
    plan.closest = closest.instance_id
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


class _Pass:
    """One request shape run over a snapshot: filtered once, ranked incrementally.

    Kept on the ClusterView, so that the next request of the same shape on the
    same snapshot (a service placing one task at a time) picks up where this
    one stopped instead of filtering every instance again.
    """

    def __init__(self, views: list[InstanceView], req: PlacementRequest) -> None:
        self.key = _shape(req)
        self.views = views
        self.size = len(views)
        # distinctInstance for standalone tasks is about this request alone, so
        # such a pass cannot serve the next request.
        self.reusable = not distinct_within_request(req)
        self.placed_here: set[str] = set()
        self.filters = build_filters(req, self.placed_here)
        self.rechecked = tuple(f for f in self.filters if f.dynamic)
        self.rejections: dict[str, str] = {}
        self.explanations: dict[str, str] = {}
        # One pass per filter over the survivors of the one before (a pipeline stage each).
        candidates = list(range(len(views)))
        for check in self.filters:
            accepts = check.accepts
            kept = [at for at in candidates if accepts(views[at])]
            if len(kept) != len(candidates):
                passed = set(kept)
                for at in candidates:
                    if at not in passed:
                        self.reject(views[at], check)
            candidates = kept
        chain = effective_strategy(req.strategy, is_service=req.is_service)
        self.selector = build_selector(
            chain, views, candidates, range(len(views)), req.group, random.Random(req.seed)
        )
        self.takes = takes_so_far()

    def reject(self, view: InstanceView, rejected: Filter) -> None:
        self.rejections[view.instance_id] = rejected.reason
        self.explanations[view.instance_id] = rejected.explain

    def still_fits(self, view: ClusterView, req: PlacementRequest) -> bool:
        """Whether the snapshot is as this pass left it (nothing placed behind its back)."""
        return (
            self.reusable
            and self.key == _shape(req)
            and self.views is view.instances
            and self.size == len(view.instances)
            and self.takes == takes_so_far()
        )


def _shape(req: PlacementRequest) -> tuple[object, ...]:
    return (
        req.reservation,
        req.group,
        req.launch_type,
        req.required_attributes,
        req.strategy,
        req.constraints,
        req.is_service,
    )


def place_tasks(view: ClusterView, req: PlacementRequest) -> Plan:
    """Place `req.count` tasks, accounting each placement before the next.

    Mutates the `InstanceView`s of `view` (remaining capacity, group counts)
    as it places, so the caller can read what is left; never touches storage.
    A request of the same shape as the previous one on the same snapshot
    continues its pass (and its random stream) instead of starting over.
    """
    plan = Plan()
    views = view.instances
    if not views:
        plan.failures.extend([NO_INSTANCES] * req.count)
        return plan
    memo = view._placement_memo
    if isinstance(memo, _Pass) and memo.still_fits(view, req):
        state, reused = memo, True
    else:
        state, reused = _Pass(views, req), False
        view._placement_memo = state
    reservation, group = req.reservation, req.group
    while len(plan.placements) < req.count:
        idx = state.selector.choose()
        if idx is None:
            plan.rejections, plan.explanations = state.rejections, state.explanations
            failure = _failure(state.filters, views, plan)
            plan.failures.extend([failure] * (req.count - len(plan.placements)))
            break
        chosen = views[idx]
        if reused and first_rejection(state.filters, chosen) is not None:
            # The snapshot changed in a way the fingerprint missed: start afresh.
            state = view._placement_memo = _Pass(views, req)
            reused = False
            continue
        chosen.take(reservation, group)
        state.takes = takes_so_far()
        state.placed_here.add(chosen.instance_id)
        plan.placements.append(chosen.instance_id)
        rejected = first_rejection(state.rechecked, chosen)
        if rejected is not None:
            state.reject(chosen, rejected)
        state.selector.placed(idx, rejected is None)
    plan.rejections = dict(state.rejections)
    plan.explanations = dict(state.explanations)
    return plan
