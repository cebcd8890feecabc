"""What one step scaling policy asks for, pure: from its implicit alarm's datapoints,
the current count and what the controller remembers, a `StepProposal` or None.

How AWS does it, and how OpenECS follows:
* A CloudWatch alarm watches the metric; in ALARM it triggers the policy. OpenECS
  has no CloudWatch alarms: the policy's name spells an implicit one
  (`domain.scaling.StepAlarm`, e.g. `web-out cpu>70x3`). The alarm is in ALARM
  when its last `datapoints` consecutive 10-second datapoints all breach the
  threshold, and the newest of them is recent (missing data is no alarm).
* The value that picks a step is the breaching datapoints aggregated by the
  policy's MetricAggregationType (Average, Minimum or Maximum; the controller
  also asks the metric store for that statistic per period).
* StepAdjustments' bounds are relative to the threshold (metric - threshold).
  Above the threshold a lower bound is inclusive and an upper one exclusive; below
  it, the other way round. No step matching: no change.
* AdjustmentType: ChangeInCapacity adds ScalingAdjustment; ExactCapacity sets it;
  PercentChangeInCapacity adds that percent of the current count, truncated
  toward zero but at least 1 either way, and at least MinAdjustmentMagnitude.
  The result stays within [min, max].
* Cooldown (300 s by default): during a policy's cooldown after it scaled out,
  what that scale-out added counts as part of the next one: the step is applied
  to the count before it, so the same step again adds nothing and a bigger step
  adds only the difference. A scale-in waits out its own cooldown and the
  cooldown after any scale-out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from openecs.domain.scaling import ScalingState, StepAdjustment, StepScaling

__all__ = ["StepProposal", "evaluate_step_policy", "percent_change", "pick_step"]


def _aggregate(kind: str, values: Sequence[float]) -> float:
    if kind == "Minimum":
        return min(values)
    if kind == "Maximum":
        return max(values)
    return sum(values) / len(values)


@dataclass(frozen=True, slots=True)
class StepProposal:
    policy: StepScaling
    current: int
    desired: int
    value: float  # the aggregated metric that picked the step
    # False: the alarm fires but a cooldown holds the change back (a scale-out
    # held back still keeps any scale-in from happening; its desired is current).
    allowed: bool

    @property
    def cause(self) -> str:
        alarm = self.policy.alarm
        return (
            f"monitor alarm {alarm.name} in state ALARM triggered policy {self.policy.name} "
            f"changing the desired capacity from {self.current} to {self.desired} "
            f"({alarm.metric} {self.value:.2f} {alarm.comparison} {alarm.threshold:g})"
        )


def pick_step(steps: Sequence[StepAdjustment], difference: float) -> StepAdjustment | None:
    """The step whose interval holds `difference` (metric minus threshold)."""
    for step in steps:
        lower = -math.inf if step.lower is None else step.lower
        upper = math.inf if step.upper is None else step.upper
        # Above the threshold the lower bound is inclusive, below it the upper one.
        above = difference >= 0
        if (lower <= difference < upper) if above else (lower < difference <= upper):
            return step
    return None


def percent_change(current: int, percent: int, min_magnitude: int | None) -> int:
    """How many tasks a PercentChangeInCapacity step adds (negative: removes)."""
    raw = current * percent / 100
    change = math.trunc(round(raw, 9))
    if change == 0 and raw != 0:
        change = 1 if raw > 0 else -1
    if min_magnitude and abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return change


def _adjusted(policy: StepScaling, adjustment: int, base: int, low: int, high: int) -> int:
    if policy.adjustment_type == "ExactCapacity":
        desired = adjustment
    elif policy.adjustment_type == "PercentChangeInCapacity":
        desired = base + percent_change(base, adjustment, policy.min_adjustment_magnitude)
    else:
        desired = base + adjustment
    return max(low, min(high, desired))


def evaluate_step_policy(
    policy: StepScaling,
    series: Sequence[tuple[float, float]],
    now: float,
    state: ScalingState,
    *,
    current: int,
    low: int,
    high: int,
    default_datapoints: int,
    datapoint_seconds: int,
) -> StepProposal | None:
    """What the policy asks for now, or None when its alarm is not in ALARM or the
    step it picks leaves the count as it is."""
    alarm = policy.alarm
    needed = alarm.datapoints or default_datapoints
    recent = [(t, v) for t, v in series if t <= now][-needed:]
    if len(recent) < needed or recent[0][0] <= now - (needed + 1) * datapoint_seconds:
        return None
    values = [v for _, v in recent]
    if not all(alarm.breached_by(v) for v in values):
        return None
    value = _aggregate(policy.aggregation, values)
    step = pick_step(policy.steps, value - alarm.threshold)
    if step is None:
        return None
    desired = _adjusted(policy, step.adjustment, current, low, high)
    if desired == current:
        return None
    fired = state.steps_fired.get(policy.name)
    cooling = fired is not None and now - fired[0] < policy.cooldown
    if desired > current:
        if fired is not None and cooling:
            # What the policy's last scale-out added counts as part of this one.
            desired = _adjusted(policy, step.adjustment, fired[1], low, high)
        allowed = desired > current
        desired = max(desired, current)
    else:
        last_out = state.last_scale_out
        allowed = not cooling and (last_out is None or now - last_out >= policy.cooldown)
    return StepProposal(policy, current, desired, value, allowed)
