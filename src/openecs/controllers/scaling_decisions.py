"""What the scaling controller decides for one scalable target, pure: from the target,
its policies and scheduled actions, recent metric datapoints, the time and what it
remembers (`ScalingState`), a `Decision` — new min/max, new desired count, the
activities to record and the state to remember.

Order of a pass:
1. Scheduled actions (unless ScheduledScalingSuspended) whose next firing after the
   last one (or after their creation) is due and within [StartTime, EndTime] set
   min and/or max. Several missed firings collapse into one.
2. The desired count is brought into [min, max].
3. Target tracking (unless dynamic scaling is suspended that way): a policy *wants
   out* when its last `out_datapoints` datapoints (3 * 10 s by default) are all above
   target * (1 + tolerance); it *wants in* when every datapoint of the last
   `in_seconds` (300 s) is below target * (1 - tolerance) and the window is covered.
   Either way the new count is ceil(current * mean metric / target) within [min, max].
   Any policy wanting out scales out (the largest count wins); scale-in needs every
   policy that may scale in to want in (the largest count wins), and policies with
   DisableScaleIn abstain. Scale-out waits out the last scale-out's ScaleOutCooldown;
   scale-in waits out its own ScaleInCooldown after the last scale-in and the
   ScaleOutCooldown after the last scale-out.

4. Step scaling (same suspension flags): each policy whose implicit alarm is in
   ALARM proposes a count (`step_decisions`, which explains the alarm, the steps,
   the adjustment types and the cooldown).
   Together: the largest scale-out any policy asks for wins; while any policy
   wants out, even held back by a cooldown, nothing scales in; otherwise the most
   cautious scale-in (the largest count) wins.

Tolerance keeps a service sitting near its target from flapping; the asymmetric
windows make it faster out than in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from openecs.controllers.step_decisions import evaluate_step_policy
from openecs.domain.scaling import (
    ScalableTarget,
    ScalingPolicy,
    ScalingState,
    ScheduledAction,
    TargetTracking,
)
from openecs.domain.scaling_schedule import next_fire, parse_schedule

__all__ = ["DEFAULT_TUNING", "Decision", "PlannedActivity", "Tuning", "compute_scaling"]

Series = Sequence[tuple[float, float]]
"""Datapoints (period start, value), oldest first."""


@dataclass(frozen=True, slots=True)
class Tuning:
    datapoint_seconds: int = 10
    out_datapoints: int = 3
    in_seconds: int = 300
    tolerance: float = 0.10


DEFAULT_TUNING = Tuning()


@dataclass(frozen=True, slots=True)
class PlannedActivity:
    description: str
    cause: str


@dataclass(frozen=True, slots=True)
class Decision:
    min_capacity: int
    max_capacity: int
    desired: int
    current: int
    state: ScalingState
    activities: tuple[PlannedActivity, ...] = field(default=())

    @property
    def changes_capacity(self) -> bool:
        return self.desired != self.current


def compute_scaling(
    target: ScalableTarget,
    policies: Sequence[ScalingPolicy],
    metrics: Mapping[str, Series],
    now: float,
    state: ScalingState,
    *,
    current: int,
    actions: Sequence[ScheduledAction] = (),
    tuning: Tuning = DEFAULT_TUNING,
) -> Decision:
    """`metrics` maps a policy name to its metric's datapoints, in the policy's units
    (percent, or requests per target per minute)."""
    activities: list[PlannedActivity] = []
    low, high = target.min_capacity, target.max_capacity
    fired = dict(state.schedules_fired)
    if not target.suspended_flag("ScheduledScalingSuspended"):
        for action in actions:
            when = _due(action, fired.get(action.name), now)
            if when is None:
                continue
            fired[action.name] = now
            if action.min_capacity is not None:
                low = action.min_capacity
            if action.max_capacity is not None:
                high = action.max_capacity
            low = min(low, high)
            activities.append(
                PlannedActivity(
                    f"Setting min capacity to {low} and max capacity to {high}",
                    f"scheduled action name {action.name} was triggered",
                )
            )
    state = replace(state, schedules_fired=fired)
    desired = current
    if desired < low:
        desired = low
        activities.append(
            PlannedActivity(
                f"Setting desired count to {desired}.",
                f"minimum capacity was set to {low}",
            )
        )
    elif desired > high:
        desired = high
        activities.append(
            PlannedActivity(
                f"Setting desired count to {desired}.",
                f"maximum capacity was set to {high}",
            )
        )
    if desired == current:
        desired, state, scaled = _dynamic(
            target, policies, metrics, now, state, current, low, high, tuning
        )
        if scaled is not None:
            activities.append(scaled)
    return Decision(low, high, desired, current, state, tuple(activities))


def _due(action: ScheduledAction, last: float | None, now: float) -> float | None:
    """When the action fires now (its latest firing time), or None."""
    try:
        schedule = parse_schedule(action.schedule)
        after = last if last is not None else action.created_at - 1e-6
        anchor = action.start_time if action.start_time is not None else action.created_at
        if schedule.kind != "rate" and action.start_time is not None:
            after = max(after, action.start_time - 1e-6)
        when = next_fire(schedule, action.timezone, after, anchor=anchor)
    except ValueError:
        return None
    if when is None or when > now:
        return None
    if action.end_time is not None and when > action.end_time:
        return None
    return when


@dataclass(frozen=True, slots=True)
class _Move:
    desired: int
    activity: PlannedActivity
    step_policy: str | None = None  # the step policy that asked, if one did


def _dynamic(
    target: ScalableTarget,
    policies: Sequence[ScalingPolicy],
    metrics: Mapping[str, Series],
    now: float,
    state: ScalingState,
    current: int,
    low: int,
    high: int,
    tuning: Tuning,
) -> tuple[int, ScalingState, PlannedActivity | None]:
    """Target tracking and step scaling together: the largest scale-out any policy
    asks for wins; while some policy wants out (even held back by a cooldown)
    nothing scales in; otherwise the most cautious scale-in wins."""
    outs, ins, out_wanted = _track(
        target, policies, metrics, now, state, current, low, high, tuning
    )
    for step_policy in (s for s in (p.step_scaling() for p in policies) if s is not None):
        proposal = evaluate_step_policy(
            step_policy,
            metrics.get(step_policy.name, ()),
            now,
            state,
            current=current,
            low=low,
            high=high,
            default_datapoints=tuning.out_datapoints,
            datapoint_seconds=tuning.datapoint_seconds,
        )
        if proposal is None:
            continue
        out_wanted = out_wanted or proposal.desired > current
        if proposal.allowed:
            move = _Move(
                proposal.desired,
                PlannedActivity(f"Setting desired count to {proposal.desired}.", proposal.cause),
                step_policy.name,
            )
            (outs if proposal.desired > current else ins).append(move)
    if out_wanted:
        if not outs or target.suspended_flag("DynamicScalingOutSuspended"):
            return current, state, None
        best = max(outs, key=lambda m: m.desired)
        state = replace(state, last_scale_out=now)
    elif ins and not target.suspended_flag("DynamicScalingInSuspended"):
        best = max(ins, key=lambda m: m.desired)
        state = replace(state, last_scale_in=now)
    else:
        return current, state, None
    if best.step_policy is not None:
        state = replace(state, steps_fired={**state.steps_fired, best.step_policy: (now, current)})
    return best.desired, state, best.activity


def _track(
    target: ScalableTarget,
    policies: Sequence[ScalingPolicy],
    metrics: Mapping[str, Series],
    now: float,
    state: ScalingState,
    current: int,
    low: int,
    high: int,
    tuning: Tuning,
) -> tuple[list[_Move], list[_Move], bool]:
    """Target tracking's allowed scale-out and scale-in (at most one each), and
    whether some policy wants out at all."""
    tracking = [t for t in (p.target_tracking() for p in policies) if t is not None]
    if not tracking or current == 0:
        return [], [], False
    outs: list[tuple[int, TargetTracking, float]] = []
    ins: list[tuple[int, TargetTracking, float]] = []
    in_vetoed = False
    for policy in tracking:
        series = [v for t, v in metrics.get(policy.name, ()) if t <= now]
        recent = series[-tuning.out_datapoints :]
        ceiling = policy.target_value * (1 + tuning.tolerance)
        floor = policy.target_value * (1 - tuning.tolerance)
        if len(recent) == tuning.out_datapoints and all(v > ceiling for v in recent):
            mean = sum(recent) / len(recent)
            outs.append((_proportional(current, mean, policy.target_value), policy, mean))
            continue
        if policy.disable_scale_in:
            continue
        window = [
            v
            for t, v in metrics.get(policy.name, ())
            if now - tuning.in_seconds < t + tuning.datapoint_seconds and t <= now
        ]
        needed = tuning.in_seconds // tuning.datapoint_seconds
        if len(window) >= needed and all(v < floor for v in window):
            mean = sum(window) / len(window)
            ins.append((_proportional(current, mean, policy.target_value), policy, mean))
        else:
            in_vetoed = True
    if outs:
        count, policy, mean = max(outs, key=lambda o: o[0])
        count = min(count, high)
        last = state.last_scale_out
        if count > current and (last is None or now - last >= policy.scale_out_cooldown):
            return [_Move(count, _activity(target, policy, "High", count, mean))], [], True
        return [], [], True
    if ins and not in_vetoed:
        count, policy, mean = max(ins, key=lambda o: o[0])
        count = max(count, low)
        cooled = all(
            last is None or now - last >= wait
            for last, wait in (
                (state.last_scale_in, policy.scale_in_cooldown),
                (state.last_scale_out, policy.scale_out_cooldown),
            )
        )
        if count < current and cooled:
            return [], [_Move(count, _activity(target, policy, "Low", count, mean))], False
    return [], [], False


def _proportional(current: int, metric: float, target_value: float) -> int:
    # The rounding guard keeps 2 * 75 / 50 = 3.0000000000000004 at 3.
    return max(1, math.ceil(round(current * metric / target_value, 9)))


def _activity(
    target: ScalableTarget, policy: TargetTracking, kind: str, count: int, mean: float
) -> PlannedActivity:
    alarm = policy.alarm_high if kind == "High" else policy.alarm_low
    alarm = alarm or f"TargetTracking-{target.resource_id}-Alarm{kind}"
    return PlannedActivity(
        f"Setting desired count to {count}.",
        f"monitor alarm {alarm} in state ALARM triggered policy {policy.name} "
        f"({policy.metric} {mean:.2f} against target {policy.target_value:g})",
    )
