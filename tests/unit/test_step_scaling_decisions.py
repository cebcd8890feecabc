"""Step scaling on a fake clock: the implicit alarm a policy's name spells, steps
relative to its threshold (inclusive/exclusive bounds on either side),
ChangeInCapacity / PercentChangeInCapacity (MinAdjustmentMagnitude) /
ExactCapacity, MetricAggregationType, Cooldown, min/max, alongside target
tracking; and one controller pass on SQLite asking for the aggregation statistic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openecs.controllers.scaling import scale_targets
from openecs.controllers.scaling_decisions import Decision, Series, compute_scaling
from openecs.controllers.step_decisions import percent_change, pick_step
from openecs.domain.metrics import Dimensions
from openecs.domain.scaling import (
    ScalableTarget,
    ScalingPolicy,
    ScalingState,
    StepAdjustment,
    parse_step_alarm,
)
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.usecases import clusters, scaling, services, task_definitions
from openecs.usecases.backend import Backend

NOW = 1_800_000_000.0  # a multiple of 10
RESOURCE = "service/prod/web"
NO_STATE = ScalingState()
OUT = "web-out cpu>70"
IN = "web-in cpu<30"


def make_target(low: int = 1, high: int = 10, **suspended: bool) -> ScalableTarget:
    return ScalableTarget(RESOURCE, low, high, "arn:target", NOW - 86400, "arn:role", suspended)


def step_policy(
    name: str = OUT,
    steps: list[dict[str, Any]] | None = None,
    *,
    adjustment_type: str = "ChangeInCapacity",
    cooldown: int | None = 60,
    aggregation: str | None = None,
    min_magnitude: int | None = None,
) -> ScalingPolicy:
    config: dict[str, Any] = {
        "AdjustmentType": adjustment_type,
        "StepAdjustments": steps
        if steps is not None
        else [
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
            {
                "MetricIntervalLowerBound": 10,
                "MetricIntervalUpperBound": 20,
                "ScalingAdjustment": 2,
            },
            {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 4},
        ],
    }
    if cooldown is not None:
        config["Cooldown"] = cooldown
    if aggregation is not None:
        config["MetricAggregationType"] = aggregation
    if min_magnitude is not None:
        config["MinAdjustmentMagnitude"] = min_magnitude
    return ScalingPolicy(name, RESOURCE, "arn:p", "StepScaling", config, [], 0.0)


SCALE_IN = [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1}]


def series(*values: float, now: float = NOW) -> Series:
    """Complete 10 s datapoints ending at `now`, oldest first."""
    return [(now - 10 * (len(values) - i), v) for i, v in enumerate(values)]


def decide(
    current: int,
    metrics: dict[str, Series],
    policies: list[ScalingPolicy],
    *,
    target: ScalableTarget | None = None,
    state: ScalingState = NO_STATE,
    now: float = NOW,
) -> Decision:
    return compute_scaling(target or make_target(), policies, metrics, now, state, current=current)


# --- the implicit alarm ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "metric", "comparison", "threshold", "datapoints"),
    [
        ("web-out cpu>70", "ECSServiceAverageCPUUtilization", ">", 70.0, None),
        ("scale-in CPU<=20x30", "ECSServiceAverageCPUUtilization", "<=", 20.0, 30),
        ("memory >= 85.5", "ECSServiceAverageMemoryUtilization", ">=", 85.5, None),
        ("rush-requests>600x2", "ALBRequestCountPerTarget", ">", 600.0, 2),
    ],
)
def test_a_policy_name_spells_its_implicit_alarm(
    name: str, metric: str, comparison: str, threshold: float, datapoints: int | None
) -> None:
    alarm = parse_step_alarm(name, RESOURCE)
    assert alarm is not None
    assert (alarm.metric, alarm.comparison, alarm.threshold, alarm.datapoints) == (
        metric,
        comparison,
        threshold,
        datapoints,
    )
    assert alarm.name == f"StepScaling-{RESOURCE}-{name}"


@pytest.mark.parametrize("name", ["step-out", "cpu-high", "gpu>70", "cpu>70x0"])
def test_a_name_without_an_alarm_is_never_evaluated(name: str) -> None:
    assert parse_step_alarm(name, RESOURCE) is None
    hot = series(99, 99, 99)
    assert decide(2, {name: hot}, [step_policy(name)]).desired == 2


# --- steps relative to the threshold ---------------------------------------------------


@pytest.mark.parametrize(
    ("why", "difference", "adjustment"),
    [
        ("the threshold itself opens the first step (lower bound inclusive)", 0.0, 1),
        ("inside the first step", 9.99, 1),
        ("an upper bound is exclusive above the threshold", 10.0, 2),
        ("an open upper bound reaches any height", 500.0, 4),
    ],
)
def test_steps_above_the_threshold(why: str, difference: float, adjustment: int) -> None:
    policy = step_policy().step_scaling()
    assert policy is not None
    step = pick_step(policy.steps, difference)
    assert step is not None and step.adjustment == adjustment, why


def test_below_the_threshold_the_lower_bound_is_exclusive_and_the_upper_inclusive() -> None:
    steps = (
        StepAdjustment(-10, 0, -1),
        StepAdjustment(None, -10, -3),
    )
    assert pick_step(steps, -10.0) == steps[1]
    assert pick_step(steps, -9.99) == steps[0]
    assert pick_step(steps, -0.01) == steps[0]
    assert pick_step(steps, -25.0) == steps[1]


def test_no_matching_step_changes_nothing() -> None:
    gap = [{"MetricIntervalLowerBound": 20, "ScalingAdjustment": 3}]
    assert decide(2, {OUT: series(75, 75, 75)}, [step_policy(steps=gap)]).desired == 2


# --- the alarm's evaluation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "values", "desired"),
    [
        ("three datapoints above the threshold add the first step", (72, 75, 78), 3),
        ("a bigger breach takes a bigger step", (85, 85, 85), 4),
        ("the biggest step has no upper bound", (99, 99, 99), 6),
        ("two breaching datapoints are not yet an alarm", (40, 90, 90), 2),
        ("a breach that recovered is no alarm", (90, 90, 60), 2),
        ("at the threshold a > alarm does not fire", (70, 70, 70), 2),
        ("no datapoints, no alarm", (), 2),
    ],
)
def test_change_in_capacity(why: str, values: tuple[float, ...], desired: int) -> None:
    assert decide(2, {OUT: series(*values)}, [step_policy()]).desired == desired, why


def test_stale_datapoints_are_missing_data_not_an_alarm() -> None:
    old = series(85, 85, 85, now=NOW - 20)
    assert decide(2, {OUT: old}, [step_policy()]).desired == 2
    assert decide(2, {OUT: series(85, 85, 85, now=NOW - 5)}, [step_policy()]).desired == 4


def test_the_alarm_can_ask_for_its_own_number_of_datapoints() -> None:
    one = step_policy("web-out cpu>70x1")
    assert decide(2, {one.name: series(40, 40, 95)}, [one]).desired == 6
    six = step_policy("web-out cpu>70x6")
    assert decide(2, {six.name: series(95, 95, 95, 95, 95)}, [six]).desired == 2
    assert decide(2, {six.name: series(*[95.0] * 6)}, [six]).desired == 6


@pytest.mark.parametrize(
    ("aggregation", "desired"),
    [("Average", 4), ("Minimum", 3), ("Maximum", 6)],
)
def test_metric_aggregation_type_picks_the_step(aggregation: str, desired: int) -> None:
    # Minimum 72 (+2 → step 1), average 82 (+12 → step 2), maximum 95 (+25 → step 3).
    policy = step_policy(aggregation=aggregation)
    assert decide(2, {OUT: series(72, 79, 95)}, [policy]).desired == desired


@pytest.mark.parametrize(
    ("current", "percent", "min_magnitude", "change"),
    [
        (4, 50, None, 2),
        (3, 50, None, 1),  # 1.5 truncates toward zero
        (1, 10, None, 1),  # between 0 and 1: one task
        (4, -50, None, -2),
        (3, -10, None, -1),  # between -1 and 0: one task
        (5, -30, None, -1),  # -1.5 truncates toward zero
        (2, 10, 3, 3),  # at least MinAdjustmentMagnitude
        (10, -10, 2, -2),
        (10, 50, 2, 5),
    ],
)
def test_percent_change_rounding(
    current: int, percent: int, min_magnitude: int | None, change: int
) -> None:
    assert percent_change(current, percent, min_magnitude) == change


def test_percent_change_in_capacity_with_a_minimum_magnitude() -> None:
    policy = step_policy(
        steps=[{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 20}],
        adjustment_type="PercentChangeInCapacity",
        min_magnitude=2,
    )
    assert decide(3, {OUT: series(80, 80, 80)}, [policy]).desired == 5
    assert (
        decide(10, {OUT: series(80, 80, 80)}, [policy], target=make_target(high=20)).desired == 12
    )


def test_exact_capacity_sets_the_count_within_min_max() -> None:
    steps = [
        {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 5},
        {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 50},
    ]
    policy = step_policy(steps=steps, adjustment_type="ExactCapacity")
    assert decide(2, {OUT: series(80, 80, 80)}, [policy]).desired == 5
    assert decide(2, {OUT: series(95, 95, 95)}, [policy]).desired == 10
    assert decide(5, {OUT: series(80, 80, 80)}, [policy]).activities == ()


def test_never_outside_min_max() -> None:
    assert decide(9, {OUT: series(99, 99, 99)}, [step_policy()]).desired == 10
    scale_in = step_policy(IN, [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -5}])
    assert decide(4, {IN: series(5, 5, 5)}, [scale_in], target=make_target(low=2)).desired == 2


def test_a_step_scale_out_is_recorded_as_aws_words_it() -> None:
    decision = decide(2, {OUT: series(85, 85, 85)}, [step_policy()])
    [activity] = decision.activities
    assert activity.description == "Setting desired count to 4."
    assert activity.cause.startswith(
        f"monitor alarm StepScaling-{RESOURCE}-{OUT} in state ALARM triggered policy {OUT} "
        "changing the desired capacity from 2 to 4 "
    )
    assert decision.state.last_scale_out == NOW
    assert decision.state.steps_fired == {OUT: (NOW, 2)}  # when, and the count before


# --- cooldown --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "fired", "values", "desired"),
    [
        # The policy's last scale-out took the count from 2 to 3.
        ("the same step again inside the cooldown adds nothing", (NOW - 59, 2), (75, 75, 75), 3),
        ("the same step after the cooldown scales again", (NOW - 60, 2), (75, 75, 75), 4),
        ("a bigger step inside the cooldown adds the difference", (NOW - 10, 2), (85, 85, 85), 4),
        ("the biggest step inside the cooldown", (NOW - 10, 2), (95, 95, 95), 6),
    ],
)
def test_scale_out_cooldown(
    why: str, fired: tuple[float, int], values: tuple[float, ...], desired: int
) -> None:
    state = ScalingState(last_scale_out=fired[0], steps_fired={OUT: fired})
    assert decide(3, {OUT: series(*values)}, [step_policy()], state=state).desired == desired, why


@pytest.mark.parametrize(
    ("why", "state", "desired"),
    [
        ("no cooldown running", NO_STATE, 3),
        ("inside its own cooldown", ScalingState(steps_fired={IN: (NOW - 59, 4)}), 4),
        ("after its own cooldown", ScalingState(steps_fired={IN: (NOW - 60, 4)}), 3),
        ("just after a scale-out", ScalingState(last_scale_out=NOW - 30), 4),
    ],
)
def test_scale_in_cooldown(why: str, state: ScalingState, desired: int) -> None:
    policy = step_policy(IN, SCALE_IN)
    assert decide(4, {IN: series(10, 10, 10)}, [policy], state=state).desired == desired, why


def test_the_default_cooldown_is_300_seconds() -> None:
    policy = step_policy(cooldown=None)
    state = ScalingState(last_scale_out=NOW - 299, steps_fired={OUT: (NOW - 299, 2)})
    assert decide(3, {OUT: series(75, 75, 75)}, [policy], state=state).desired == 3
    state = ScalingState(last_scale_out=NOW - 300, steps_fired={OUT: (NOW - 300, 2)})
    assert decide(3, {OUT: series(75, 75, 75)}, [policy], state=state).desired == 4


# --- several policies ------------------------------------------------------------------


def tracking(target: float = 50.0) -> ScalingPolicy:
    config = {
        "TargetValue": target,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
        },
        "ScaleOutCooldown": 60,
        "ScaleInCooldown": 60,
    }
    return ScalingPolicy("track", RESOURCE, "arn:t", "TargetTrackingScaling", config, [], 0.0)


def test_the_largest_scale_out_wins_across_step_and_tracking() -> None:
    hot = series(85, 85, 85)
    # Tracking: ceil(2 * 85 / 50) = 4; the step policy: 2 + 2 = 4, 2 + 4 = 6 at 95.
    both = [tracking(), step_policy()]
    assert decide(2, {"track": hot, OUT: hot}, both).desired == 4
    hotter = series(95, 95, 95)
    decision = decide(2, {"track": hotter, OUT: hotter}, both)
    assert decision.desired == 6
    assert f"triggered policy {OUT}" in decision.activities[0].cause


def test_a_policy_wanting_out_blocks_any_scale_in() -> None:
    policies = [step_policy(), step_policy(IN, SCALE_IN)]
    state = ScalingState(last_scale_out=NOW - 10, steps_fired={OUT: (NOW - 10, 3)})
    metrics = {OUT: series(75, 75, 75), IN: series(10, 10, 10)}
    decision = decide(4, metrics, policies, state=state)
    assert (decision.desired, decision.activities) == (4, ())


def test_the_most_cautious_scale_in_wins() -> None:
    gentle = step_policy("gentle cpu<30", SCALE_IN)
    steep = step_policy("steep cpu<30", [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -3}])
    cool = series(10, 10, 10)
    decision = decide(6, {gentle.name: cool, steep.name: cool}, [gentle, steep])
    assert decision.desired == 5
    assert decision.state.steps_fired == {gentle.name: (NOW, 6)}
    assert decision.state.last_scale_in == NOW


@pytest.mark.parametrize(
    ("flag", "name", "steps", "values", "desired"),
    [
        ("DynamicScalingOutSuspended", OUT, None, (90, 90, 90), 3),
        ("DynamicScalingInSuspended", IN, SCALE_IN, (10, 10, 10), 3),
        ("DynamicScalingInSuspended", OUT, None, (90, 90, 90), 7),
    ],
)
def test_suspended_dynamic_scaling_holds_step_policies(
    flag: str,
    name: str,
    steps: list[dict[str, Any]] | None,
    values: tuple[float, ...],
    desired: int,
) -> None:
    policy = step_policy(name, steps)
    target = make_target(**{flag: True})
    assert decide(3, {name: series(*values)}, [policy], target=target).desired == desired


def test_step_state_survives_its_document() -> None:
    state = ScalingState(NOW, None, {"peak": NOW - 5}, {OUT: (NOW - 10, 4)})
    assert ScalingState.from_doc(state.to_doc()) == state
    assert ScalingState.from_doc({}).steps_fired == {}


# --- one controller pass on SQLite -----------------------------------------------------


def test_the_controller_reads_the_alarm_metric_with_the_aggregation_statistic(
    tmp_path: Path,
) -> None:
    clock = FakeClock(NOW + 4)
    backend = Backend.open(f"sqlite:///{tmp_path / 'steps.db'}", clock=clock)
    scope = Scope.root("000000000000", "us-east-1")
    clusters.create_cluster(backend, scope, name="prod")
    task_definitions.register_task_definition(
        backend,
        scope,
        {"family": "web", "containerDefinitions": [{"name": "a", "image": "x", "memory": 8}]},
    )
    services.create_service(
        backend,
        scope,
        {"cluster": "prod", "serviceName": "web", "taskDefinition": "web", "desiredCount": 2},
    )
    kind = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount"}
    scaling.register_scalable_target(
        backend, scope, {**kind, "ResourceId": RESOURCE, "MinCapacity": 1, "MaxCapacity": 10}
    )
    put = scaling.put_scaling_policy(
        backend,
        scope,
        {
            **kind,
            "ResourceId": RESOURCE,
            "PolicyName": "hot cpu>=80x2",
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "MetricAggregationType": "Maximum",
                "Cooldown": 30,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 3}],
            },
        },
    )
    assert [a["AlarmName"] for a in put.alarms] == [f"StepScaling-{RESOURCE}-hot cpu>=80x2"]
    asked: list[tuple[str, str, str, Dimensions, float]] = []

    def fake_query(
        backend: Backend,
        *,
        account_id: str,
        region: str,
        namespace: str,
        metric: str,
        dims: Dimensions,
        start: float,
        end: float,
        period: int,
        statistic: str,
    ) -> list[tuple[float, float]]:
        asked.append((namespace, metric, statistic, dims, end))
        return [(end - 20, 85.0), (end - 10, 90.0)]

    assert scale_targets(backend, query=fake_query) == 1
    assert asked == [
        (
            "AWS/ECS",
            "CPUUtilization",
            "Maximum",
            (("ClusterName", "prod"), ("ServiceName", "web")),
            NOW,
        )
    ]
    [described], _ = services.describe_services(backend, scope, "prod", ["web"], False)
    assert described.service.desired_count == 5
    [activity] = scaling.describe_scaling_activities(
        backend, scope, {**kind, "ResourceId": RESOURCE}
    ).items
    assert "changing the desired capacity from 2 to 5" in activity.cause
    clock.advance(10)
    assert scale_targets(backend, query=fake_query) == 0  # the same step, inside the cooldown
    clock.advance(30)
    assert scale_targets(backend, query=fake_query) == 1
