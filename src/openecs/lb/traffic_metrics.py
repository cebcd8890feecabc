"""Load balancer traffic as CloudWatch's AWS/ApplicationELB metrics, from HAProxy.

HAProxy's `show stat` counts per backend (one backend per target group) since
it started: requests (`req_tot`, or sessions `stot` where HAProxy gives no
request count), 5xx responses (`hrsp_5xx`), and the average response time of
the last 1024 requests (`rtime`, ms). A `TrafficMeter` keeps the counters it
last saw and, once per 10-second period, turns the differences into datapoints
with dimensions (LoadBalancer "app/NAME/ID", TargetGroup "targetgroup/NAME/ID"):

    RequestCount               requests in the period
    RequestCountPerTarget      RequestCount / healthy targets (absent with none)
    HTTPCode_Target_5XX_Count  5xx answers of the targets in the period
    TargetResponseTime         seconds (HAProxy's rolling average; with requests only)

A counter lower than last time means HAProxy restarted (a reload starts new
workers at zero): the difference is then the new count itself.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from openecs.domain.load_balancing import LoadBalancingSnapshot
from openecs.domain.metrics import ALB_NAMESPACE, RESOLUTION_SECONDS, Datapoint, dimensions
from openecs.lb.haproxy_config import backend_name, forwarded_groups

__all__ = [
    "STAT_COMMAND",
    "BackendCounters",
    "GroupIdentity",
    "TrafficMeter",
    "counter_delta",
    "group_identities",
    "parse_backend_counters",
]

# Backends (2) and servers (4) of every proxy.
STAT_COMMAND = "show stat -1 6 -1"


@dataclass(frozen=True, slots=True)
class BackendCounters:
    requests: int
    http_5xx: int
    response_time_ms: int
    healthy_targets: int


@dataclass(frozen=True, slots=True)
class GroupIdentity:
    """Who a backend's numbers belong to."""

    account_id: str
    region: str
    load_balancer: str  # "app/NAME/ID"
    target_group: str  # "targetgroup/NAME/ID"


def _int(value: str | None) -> int:
    text = (value or "").strip()
    return int(text) if text.isdigit() else 0


def parse_backend_counters(text: str) -> dict[str, BackendCounters]:
    """`show stat` CSV (backends and servers) → counters per backend name. A server
    counts as a healthy target when HAProxy sends it traffic: UP (also while going
    down, "UP 1/3") or without checks ("no check")."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    rows = list(csv.DictReader([lines[0][2:], *lines[1:]]))
    healthy: dict[str, int] = {}
    for row in rows:
        server = row.get("svname") or ""
        if server in ("", "FRONTEND", "BACKEND"):
            continue
        status = row.get("status") or ""
        if status.startswith("UP") or status == "no check":
            healthy[row["pxname"]] = healthy.get(row["pxname"], 0) + 1
    found: dict[str, BackendCounters] = {}
    for row in rows:
        if row.get("svname") != "BACKEND":
            continue
        requests = row.get("req_tot")
        found[row["pxname"]] = BackendCounters(
            requests=_int(requests) if (requests or "").strip() else _int(row.get("stot")),
            http_5xx=_int(row.get("hrsp_5xx")),
            response_time_ms=_int(row.get("rtime")),
            healthy_targets=healthy.get(row["pxname"], 0),
        )
    return found


def counter_delta(previous: int, current: int) -> int:
    """How much a cumulative counter grew; a counter that went back restarted at zero."""
    return current - previous if current >= previous else current


def group_identities(snapshot: LoadBalancingSnapshot) -> dict[str, GroupIdentity]:
    """Backend name → identity, for target groups some listener forwards to. (An
    application load balancer's target group serves one load balancer.)"""
    lbs = {lb.arn: lb for lb in snapshot.load_balancers}
    groups = {g.arn: g for g in snapshot.target_groups}
    found: dict[str, GroupIdentity] = {}
    for listener in snapshot.listeners:
        lb = lbs.get(listener.load_balancer_arn)
        if lb is None:
            continue
        action_lists: Iterable[list[dict[str, object]]] = [
            listener.default_actions,
            *(r.actions for r in snapshot.rules if r.listener_arn == listener.arn),
        ]
        for actions in action_lists:
            for arn, _ in forwarded_groups(actions):
                group = groups.get(arn)
                if group is None:
                    continue
                found.setdefault(
                    backend_name(group),
                    GroupIdentity(
                        account_id=group.account_id,
                        region=group.region,
                        load_balancer=lb.arn.split(":loadbalancer/", 1)[-1],
                        target_group=group.arn.rsplit(":", 1)[-1],
                    ),
                )
    return found


class TrafficMeter:
    """Turns successive counter readings into one set of datapoints per period."""

    def __init__(self) -> None:
        self._base: dict[str, BackendCounters] = {}
        self._period: int | None = None

    def due(self, now: float) -> bool:
        """Whether a reading now would close a period (or start the first one)."""
        return self._period is None or _period(now) > self._period

    def observe(
        self,
        counters: Mapping[str, BackendCounters],
        identities: Mapping[str, GroupIdentity],
        now: float,
    ) -> list[Datapoint]:
        """Feed a reading taken at `now`; the datapoints of the period it closes.

        Traffic between the previous reading and this one is booked to the period
        the previous reading opened."""
        if not self.due(now):
            return []
        period, self._period = self._period, _period(now)
        base, self._base = self._base, dict(counters)
        if period is None:
            return []
        points: list[Datapoint] = []
        for name, current in sorted(counters.items()):
            identity = identities.get(name)
            if identity is None:
                continue
            before = base.get(name, BackendCounters(0, 0, 0, 0))
            requests = counter_delta(before.requests, current.requests)
            errors = counter_delta(before.http_5xx, current.http_5xx)
            points.extend(_datapoints(identity, period, requests, errors, current))
        return points


def _period(now: float) -> int:
    return int(now // RESOLUTION_SECONDS) * RESOLUTION_SECONDS


def _datapoints(
    identity: GroupIdentity, period: int, requests: int, errors: int, current: BackendCounters
) -> list[Datapoint]:
    dims = dimensions(LoadBalancer=identity.load_balancer, TargetGroup=identity.target_group)

    def point(metric: str, value: float, unit: str) -> Datapoint:
        return Datapoint(
            ALB_NAMESPACE, metric, dims, period, value, unit, identity.account_id, identity.region
        )

    points = [
        point("RequestCount", requests, "Count"),
        point("HTTPCode_Target_5XX_Count", errors, "Count"),
    ]
    if current.healthy_targets:
        points.append(point("RequestCountPerTarget", requests / current.healthy_targets, "Count"))
    if requests:
        points.append(point("TargetResponseTime", current.response_time_ms / 1000, "Seconds"))
    return points
