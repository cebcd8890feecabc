"""Metrics as CloudWatch models them: a datapoint of a metric in a namespace,
identified by its dimensions, at a time. OpenECS keeps 10-second resolution.

Who writes what:
* AWS/ECS, dimensions (ClusterName, ServiceName): CPUUtilization and
  MemoryUtilization in percent of what the service's tasks reserve, as ECS
  computes them; per task the same with a TaskId dimension too.
* AWS/ApplicationELB, dimensions (LoadBalancer, TargetGroup): RequestCount,
  RequestCountPerTarget, TargetResponseTime (seconds), HTTPCode_Target_5XX_Count.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALB_NAMESPACE",
    "ECS_NAMESPACE",
    "RESOLUTION_SECONDS",
    "Datapoint",
    "Dimensions",
    "dimensions",
]

ECS_NAMESPACE = "AWS/ECS"
ALB_NAMESPACE = "AWS/ApplicationELB"
RESOLUTION_SECONDS = 10

Dimensions = tuple[tuple[str, str], ...]


def dimensions(**values: str) -> Dimensions:
    """Dimensions in a canonical (sorted) order, so equal sets compare equal."""
    return tuple(sorted(values.items()))


@dataclass(frozen=True, slots=True)
class Datapoint:
    namespace: str
    metric: str
    dimensions: Dimensions
    # Start of the 10-second period the value belongs to (epoch seconds).
    timestamp: float
    value: float
    unit: str = "None"
    account_id: str = "000000000000"
    region: str = "us-east-1"
