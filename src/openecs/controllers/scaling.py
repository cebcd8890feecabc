"""The scaling controller: for every scalable target, read its metrics, decide
(`scaling_decisions.compute_scaling`, pure) and apply (`usecases.scaling_apply`),
once per 10-second period, just after the period closed (`scaling_steps`).

Metrics, per target tracking policy, as datapoints of 10 seconds:
* ECSServiceAverageCPUUtilization / ECSServiceAverageMemoryUtilization: AWS/ECS
  CPUUtilization / MemoryUtilization, dimensions ClusterName + ServiceName, Average.
* ALBRequestCountPerTarget: AWS/ApplicationELB RequestCountPerTarget, dimensions
  LoadBalancer `app/NAME/ID` + TargetGroup `targetgroup/NAME/ID` from the policy's
  ResourceLabel, Sum. AWS's target value counts requests per target per minute; each
  10-second Sum is scaled by 6 to that rate, so that a breach is seen within 30 s
  rather than after a whole minute's window.

Step scaling policies watch the metric their implicit alarm names (see
`domain.scaling.StepAlarm`) with their MetricAggregationType as the statistic per
period (for ALBRequestCountPerTarget, one sample per period: every statistic is
its Sum); `requests` is the service's own target group. Policies are read over the
scale-in window or the alarm's datapoints, whichever is longer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from typing import Protocol

from openecs.controllers.loop import Step
from openecs.controllers.scaling_decisions import DEFAULT_TUNING, Series, Tuning, compute_scaling
from openecs.domain.metrics import ALB_NAMESPACE, ECS_NAMESPACE, Dimensions, dimensions
from openecs.domain.scaling import ScalingPolicy, StepScaling, TargetTracking
from openecs.usecases.backend import Backend
from openecs.usecases.metrics import query_metric
from openecs.usecases.scaling_apply import ScalingEffects, ScalingView, apply_scaling, scaling_views

__all__ = ["MetricQuery", "scale_targets", "scaling_steps"]

log = logging.getLogger("openecs.controllers.scaling")

_AGGREGATIONS = ("Average", "Minimum", "Maximum")
_ECS_METRICS = {
    "ECSServiceAverageCPUUtilization": "CPUUtilization",
    "ECSServiceAverageMemoryUtilization": "MemoryUtilization",
}


class MetricQuery(Protocol):
    """The signature of `usecases.metrics.query_metric`."""

    def __call__(
        self,
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
    ) -> list[tuple[float, float]]: ...


def _series(
    backend: Backend,
    query: MetricQuery,
    view: ScalingView,
    policy: TargetTracking | StepScaling,
    now: float,
    tuning: Tuning,
) -> Series:
    period = tuning.datapoint_seconds
    # Only whole periods: the one in progress would read low.
    end = math.floor(now / period) * period
    start = end - tuning.in_seconds - period
    scale = 1.0
    if isinstance(policy, TargetTracking):
        predefined, label, statistic = policy.metric, policy.resource_label, "Average"
    else:
        predefined, label = policy.alarm.metric, view.request_label
        statistic = policy.aggregation if policy.aggregation in _AGGREGATIONS else "Average"
        datapoints = policy.alarm.datapoints or tuning.out_datapoints
        start = min(start, end - (datapoints + 1) * period)
    if predefined in _ECS_METRICS:
        namespace, metric = ECS_NAMESPACE, _ECS_METRICS[predefined]
        dims = dimensions(ClusterName=view.target.cluster, ServiceName=view.target.service)
    else:
        if label is None:
            return []
        parts = label.split("/")
        namespace, metric, statistic = ALB_NAMESPACE, "RequestCountPerTarget", "Sum"
        dims = dimensions(LoadBalancer="/".join(parts[:3]), TargetGroup="/".join(parts[3:]))
        scale = 60.0 / period
    points = query(
        backend,
        account_id=view.scope.account_id,
        region=view.scope.region,
        namespace=namespace,
        metric=metric,
        dims=dims,
        start=start,
        end=end,
        period=period,
        statistic=statistic,
    )
    return [(t, v * scale) for t, v in points]


def _evaluated(policies: Sequence[ScalingPolicy]) -> Iterator[TargetTracking | StepScaling]:
    for policy in policies:
        read = policy.target_tracking() or policy.step_scaling()
        if read is not None:
            yield read


def scale_targets(
    backend: Backend, *, query: MetricQuery = query_metric, tuning: Tuning = DEFAULT_TUNING
) -> int:
    """One pass over every scalable target; returns how many changed a desired count."""
    scaled = 0
    now = backend.clock.now()
    for view in scaling_views(backend):
        try:
            metrics = {
                p.name: _series(backend, query, view, p, now, tuning)
                for p in _evaluated(view.policies)
            }
            decision = compute_scaling(
                view.target,
                view.policies,
                metrics,
                now,
                view.target.state,
                current=view.current,
                actions=view.actions,
                tuning=tuning,
            )
            if decision.state == view.target.state and not decision.activities:
                continue
            apply_scaling(
                backend,
                view,
                ScalingEffects(
                    decision.min_capacity,
                    decision.max_capacity,
                    decision.desired,
                    decision.state,
                    [(a.description, a.cause) for a in decision.activities],
                ),
            )
            if decision.changes_capacity:
                scaled += 1
                log.info(
                    "service scaled",
                    extra={"resource": view.target.resource_id, "desired": decision.desired},
                )
        except Exception:
            log.exception("scaling failed", extra={"resource": view.target.resource_id})
    return scaled


def scaling_steps(
    backend: Backend,
    *,
    interval: float = 10.0,
    settle: float = 1.5,
    query: MetricQuery = query_metric,
    tuning: Tuning = DEFAULT_TUNING,
) -> list[Step]:
    """A pass `settle` seconds after every multiple of `interval` (epoch-aligned).

    With 10 s, each pass comes just after a 10-second period closed and its
    datapoints were recorded (the load balancer books a period within a second
    of its end; agents' samples arrive during it), whatever the phase the server
    started in: a breach is acted on as soon as its last datapoint exists, not up
    to a whole interval later."""
    last_slot: list[int] = []

    def run() -> int:
        slot = math.floor((backend.clock.now() - settle) / interval)
        if last_slot and last_slot[0] == slot:
            return 0
        last_slot[:] = [slot]
        return scale_targets(backend, query=query, tuning=tuning)

    return [Step("scaling", min(0.5, interval), run)]
