"""The scaling controller on a fake clock: target tracking (breach, recovery,
tolerance, cooldowns, min/max, DisableScaleIn, several policies), scheduled actions
(at/cron/rate across time zones and DST), and one apply pass on a real SQLite store
with a fake metrics query."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from openecs.controllers.scaling import scale_targets
from openecs.controllers.scaling_decisions import Decision, Series, compute_scaling
from openecs.domain.metrics import Dimensions
from openecs.domain.scaling import ScalableTarget, ScalingPolicy, ScalingState, ScheduledAction
from openecs.domain.scaling_schedule import next_fire, parse_schedule
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.usecases import clusters, scaling, services, task_definitions
from openecs.usecases.backend import Backend

NOW = 1_800_000_000.0  # a multiple of 10
RESOURCE = "service/prod/web"
NO_STATE = ScalingState()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def make_target(low: int = 1, high: int = 10, **suspended: bool) -> ScalableTarget:
    return ScalableTarget(RESOURCE, low, high, "arn:target", NOW - 86400, "arn:role", suspended)


def tracking(
    name: str = "cpu",
    target: float = 50.0,
    *,
    out_cooldown: int = 60,
    in_cooldown: int = 300,
    disable_scale_in: bool = False,
) -> ScalingPolicy:
    config = {
        "TargetValue": target,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
        },
        "ScaleOutCooldown": out_cooldown,
        "ScaleInCooldown": in_cooldown,
        "DisableScaleIn": disable_scale_in,
    }
    alarms = [
        {"AlarmName": f"TargetTracking-{RESOURCE}-AlarmHigh-1", "AlarmARN": "a"},
        {"AlarmName": f"TargetTracking-{RESOURCE}-AlarmLow-2", "AlarmARN": "b"},
    ]
    return ScalingPolicy(name, RESOURCE, "arn:p", "TargetTrackingScaling", config, alarms, 0.0)


def series(*values: float, now: float = NOW) -> Series:
    """Complete 10 s datapoints ending at `now`, oldest first."""
    return [(now - 10 * (len(values) - i), v) for i, v in enumerate(values)]


def decide(
    current: int,
    metrics: dict[str, Series],
    *,
    policies: list[ScalingPolicy] | None = None,
    target: ScalableTarget | None = None,
    state: ScalingState = NO_STATE,
    now: float = NOW,
    actions: list[ScheduledAction] | None = None,
) -> Decision:
    return compute_scaling(
        target or make_target(),
        [tracking()] if policies is None else policies,
        metrics,
        now,
        state,
        current=current,
        actions=actions or [],
    )


# --- target tracking: scale out ------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "current", "values", "desired"),
    [
        ("three datapoints above target scale out proportionally", 2, (80, 80, 80), 4),
        ("the mean of the breach decides", 3, (60, 70, 80), 5),
        ("two breaching datapoints are not yet a sustained breach", 2, (40, 80, 80), 2),
        ("a breach that recovered is ignored", 2, (80, 80, 40), 2),
        ("within the 10% tolerance nothing moves", 2, (54, 55, 54), 2),
        ("just above the tolerance scales out", 5, (56, 56, 56), 6),
        ("never above max", 4, (200, 200, 200), 10),
        ("no datapoints, no scaling", 2, (), 2),
    ],
)
def test_target_tracking_scale_out(
    why: str, current: int, values: tuple[float, ...], desired: int
) -> None:
    decision = decide(current, {"cpu": series(*values)})
    assert decision.desired == desired, why


def test_a_scale_out_names_the_high_alarm_and_the_policy_as_aws_does() -> None:
    decision = decide(2, {"cpu": series(80, 80, 80)})
    [activity] = decision.activities
    assert activity.description == "Setting desired count to 4."
    assert activity.cause.startswith(
        f"monitor alarm TargetTracking-{RESOURCE}-AlarmHigh-1 in state ALARM triggered policy cpu"
    )
    assert decision.state.last_scale_out == NOW


def test_scale_out_waits_out_its_cooldown() -> None:
    hot = {"cpu": series(90, 90, 90)}
    during = decide(2, hot, state=ScalingState(last_scale_out=NOW - 59))
    after = decide(2, hot, state=ScalingState(last_scale_out=NOW - 60))
    assert (during.desired, during.activities) == (2, ())
    assert after.desired == 4


def test_a_breach_is_acted_on_within_30_seconds() -> None:
    """Datapoints arrive every 10 s: the third breaching one triggers, not before."""
    history = [(NOW - 100 + 10 * i, 40.0) for i in range(7)]
    for step, expected in ((1, 2), (2, 2), (3, 4)):
        points = history + [(NOW - 30 + 10 * i, 80.0) for i in range(step)]
        now = NOW - 30 + 10 * step
        assert decide(2, {"cpu": points}, now=now).desired == expected, step


# --- target tracking: scale in -------------------------------------------------------

LOW = series(*[20.0] * 30)


@pytest.mark.parametrize(
    ("why", "current", "values", "desired"),
    [
        ("five minutes below target scale in proportionally", 4, [20.0] * 30, 2),
        ("less than five minutes of data is not enough", 4, [20.0] * 29, 4),
        ("one datapoint inside the band holds", 4, [20.0] * 15 + [47.0] + [20.0] * 14, 4),
        ("never below min", 4, [1.0] * 30, 1),
    ],
)
def test_target_tracking_scale_in(
    why: str, current: int, values: list[float], desired: int
) -> None:
    assert decide(current, {"cpu": series(*values)}).desired == desired, why


def test_scale_in_respects_min_capacity() -> None:
    decision = decide(6, {"cpu": LOW}, target=make_target(low=4))
    assert decision.desired == 4
    assert "AlarmLow" in decision.activities[0].cause
    assert decision.state.last_scale_in == NOW


@pytest.mark.parametrize(
    ("why", "state", "desired"),
    [
        ("inside the scale-in cooldown", ScalingState(last_scale_in=NOW - 299), 4),
        ("after the scale-in cooldown", ScalingState(last_scale_in=NOW - 300), 2),
        ("just after a scale-out", ScalingState(last_scale_out=NOW - 30), 4),
        ("long after a scale-out", ScalingState(last_scale_out=NOW - 600), 2),
    ],
)
def test_scale_in_cooldowns(why: str, state: ScalingState, desired: int) -> None:
    assert decide(4, {"cpu": LOW}, state=state).desired == desired, why


def test_disable_scale_in_keeps_the_count_but_still_scales_out() -> None:
    policy = tracking(disable_scale_in=True)
    assert decide(4, {"cpu": LOW}, policies=[policy]).desired == 4
    assert decide(4, {"cpu": series(100, 100, 100)}, policies=[policy]).desired == 8


def test_scale_in_needs_every_policy_but_any_policy_scales_out() -> None:
    cpu, memory = tracking("cpu"), tracking("memory")
    normal = series(*[50.0] * 30)
    assert decide(4, {"cpu": LOW, "memory": normal}, policies=[cpu, memory]).desired == 4
    assert decide(4, {"cpu": LOW, "memory": LOW}, policies=[cpu, memory]).desired == 2
    hot = series(*[50.0] * 27, 100, 100, 100)
    assert decide(4, {"cpu": LOW, "memory": hot}, policies=[cpu, memory]).desired == 8


@pytest.mark.parametrize(
    ("flag", "metric", "desired"),
    [
        ("DynamicScalingOutSuspended", series(90, 90, 90), 2),
        ("DynamicScalingInSuspended", LOW, 2),
        ("DynamicScalingInSuspended", series(90, 90, 90), 4),
    ],
)
def test_suspended_dynamic_scaling(flag: str, metric: Series, desired: int) -> None:
    target = make_target(**{flag: True})
    assert decide(2, {"cpu": metric}, target=target).desired == desired


def test_a_count_outside_min_max_is_brought_back_first() -> None:
    below = decide(0, {}, target=make_target(low=2))
    assert below.desired == 2
    assert below.activities[0].cause == "minimum capacity was set to 2"
    above = decide(12, {"cpu": series(90, 90, 90)}, target=make_target(high=5))
    assert above.desired == 5
    assert above.activities[0].cause == "maximum capacity was set to 5"


# --- schedules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "tz", "after", "expected"),
    [
        ("at(2027-01-15T08:00:00)", "Europe/Paris", utc(2027, 1, 1), utc(2027, 1, 15, 7)),
        ("at(2027-01-15T08:00:00)", None, utc(2027, 1, 16), None),
        ("cron(0 8 * * ? *)", "America/New_York", utc(2027, 1, 10, 12), utc(2027, 1, 10, 13)),
        # Daylight saving time began on 2027-03-14 in New York: 08:00 EDT is 12:00 UTC.
        ("cron(0 8 * * ? *)", "America/New_York", utc(2027, 3, 13, 14), utc(2027, 3, 14, 12)),
        # 02:30 does not exist that day: it fires at 03:30 EDT.
        ("cron(30 2 * * ? *)", "America/New_York", utc(2027, 3, 14, 0), utc(2027, 3, 14, 7, 30)),
        # 01:30 happens twice on 2027-11-07: once, at the first (EDT).
        ("cron(30 1 * * ? *)", "America/New_York", utc(2027, 11, 7, 0), utc(2027, 11, 7, 5, 30)),
        (
            "cron(30 1 * * ? *)",
            "America/New_York",
            utc(2027, 11, 7, 5, 30),
            utc(2027, 11, 8, 6, 30),
        ),
        ("cron(0 9 ? * SUN *)", "Asia/Tokyo", utc(2027, 1, 1), utc(2027, 1, 3, 0)),
        ("cron(0/15 * * * ? *)", None, utc(2027, 1, 1, 0, 7), utc(2027, 1, 1, 0, 15)),
        ("cron(0 0 1 JAN ? 2028)", None, utc(2027, 6, 1), utc(2028, 1, 1)),
        ("rate(5 minutes)", None, NOW + 1, NOW + 300),
        ("rate(1 day)", None, NOW + 86400, NOW + 2 * 86400),
    ],
)
def test_next_firing(schedule: str, tz: str | None, after: float, expected: float | None) -> None:
    assert next_fire(parse_schedule(schedule), tz, after, anchor=NOW) == expected


@pytest.mark.parametrize(
    "schedule",
    [
        "cron(0 8 * * * *)",
        "cron(0 8 ? * ? *)",
        "cron(0 8 L * ? *)",
        "cron(0 25 * * ? *)",
        "cron(0 8 * *)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "at(2027-13-01T00:00:00)",
    ],
)
def test_invalid_schedules_give_a_reason(schedule: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_schedule(schedule)


def action(
    schedule: str,
    *,
    low: int | None = 5,
    high: int | None = 8,
    tz: str | None = None,
    end: float | None = None,
    created: float = NOW - 3600,
) -> ScheduledAction:
    return ScheduledAction("peak", RESOURCE, "arn:a", schedule, tz, None, end, low, high, created)


def test_a_due_scheduled_action_sets_min_max_and_raises_the_count() -> None:
    peak = action("at(2027-01-15T08:00:00)", tz="Europe/Paris")
    due = utc(2027, 1, 15, 7)
    before = decide(2, {}, actions=[peak], now=due - 1)
    assert (before.min_capacity, before.max_capacity, before.desired) == (1, 10, 2)
    fired = decide(2, {}, actions=[peak], now=due + 5)
    assert (fired.min_capacity, fired.max_capacity, fired.desired) == (5, 8, 5)
    assert [a.cause for a in fired.activities] == [
        "scheduled action name peak was triggered",
        "minimum capacity was set to 5",
    ]
    again = decide(5, {}, actions=[peak], now=due + 15, state=fired.state)
    assert again.activities == ()


def test_a_scheduled_max_below_the_count_lowers_it() -> None:
    night = action("cron(0 22 * * ? *)", low=None, high=2, tz="Europe/Berlin")
    decision = decide(6, {}, actions=[night], now=utc(2027, 7, 1, 20, 0, 30))
    assert (decision.max_capacity, decision.desired) == (2, 2)


def test_a_rate_action_fires_every_period_once() -> None:
    every = action("rate(10 minutes)", created=NOW - 600)
    first = decide(5, {}, actions=[every], target=make_target(low=1))
    assert len(first.activities) == 1
    assert decide(5, {}, actions=[every], state=first.state, now=NOW + 599).activities == ()
    assert len(decide(5, {}, actions=[every], state=first.state, now=NOW + 600).activities) == 1


def test_no_scheduled_action_after_its_end_or_while_suspended() -> None:
    ended = action("rate(10 minutes)", created=NOW - 600, end=NOW - 1)
    assert decide(2, {}, actions=[ended]).activities == ()
    live = action("rate(10 minutes)", created=NOW - 600)
    target = make_target(ScheduledScalingSuspended=True)
    assert decide(2, {}, actions=[live], target=target).activities == ()


def test_an_action_does_not_fire_for_times_before_it_was_created() -> None:
    late = action("at(2027-01-15T08:00:00)", created=utc(2027, 1, 16))
    assert decide(2, {}, actions=[late], now=utc(2027, 1, 17)).activities == ()


# --- one pass of the controller on SQLite, with a fake metrics query ---------------


def test_the_controller_scales_a_service_through_update_service(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    backend = Backend.open(f"sqlite:///{tmp_path / 'scaling.db'}", clock=clock)
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
    label = "app/lb/1/targetgroup/tg/2"
    scaling.put_scaling_policy(
        backend,
        scope,
        {
            **kind,
            "ResourceId": RESOURCE,
            "PolicyName": "rps",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 600.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ALBRequestCountPerTarget",
                    "ResourceLabel": label,
                },
            },
        },
    )
    asked: list[dict[str, Any]] = []

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
        asked.append(
            {
                "dims": dims,
                "end": end,
                "namespace": namespace,
                "metric": metric,
                "statistic": statistic,
                "period": period,
                "account": account_id,
            }
        )
        # 150 requests per target per 10 s = 900 a minute, against a target of 600.
        return [(end - 30, 150.0), (end - 20, 150.0), (end - 10, 150.0)]

    assert scale_targets(backend, query=fake_query) == 1
    [query] = asked
    assert query["dims"] == (("LoadBalancer", "app/lb/1"), ("TargetGroup", "targetgroup/tg/2"))
    assert (query["namespace"], query["metric"], query["statistic"], query["period"]) == (
        "AWS/ApplicationELB",
        "RequestCountPerTarget",
        "Sum",
        10,
    )
    assert query["end"] == NOW
    [described], _ = services.describe_services(backend, scope, "prod", ["web"], False)
    assert described.service.desired_count == 3
    page = scaling.describe_scaling_activities(backend, scope, {**kind, "ResourceId": RESOURCE})
    [activity] = page.items
    assert activity.description == "Setting desired count to 3."
    assert "triggered policy rps" in activity.cause
    # Inside the scale-out cooldown (300 s by default) the same breach changes nothing.
    clock.advance(10)
    assert scale_targets(backend, query=fake_query) == 0


def test_controller_passes_come_just_after_each_period_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openecs.controllers import scaling as controller

    clock = FakeClock(NOW + 3.0)  # the server started 3 s into a period
    backend = Backend.open(f"sqlite:///{tmp_path / 'passes.db'}", clock=clock)
    passes: list[float] = []

    def counting(backend: Backend, **_: object) -> int:
        passes.append(clock.now())
        return 0

    monkeypatch.setattr(controller, "scale_targets", counting)
    [step] = controller.scaling_steps(backend)
    assert step.interval == 0.5
    while clock.now() < NOW + 32:
        step.run()
        clock.advance(0.5)
    # One at start-up, then 1.5 s after each 10-second boundary.
    assert passes == [NOW + 3.0, NOW + 11.5, NOW + 21.5, NOW + 31.5]
