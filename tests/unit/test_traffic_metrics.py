"""HAProxy's cumulative backend counters → per-10-second AWS/ApplicationELB datapoints."""

from __future__ import annotations

import pytest

from openecs.domain.metrics import ALB_NAMESPACE, Datapoint
from openecs.lb.haproxy_config import backend_name
from openecs.lb.traffic_metrics import (
    BackendCounters,
    GroupIdentity,
    TrafficMeter,
    counter_delta,
    group_identities,
    parse_backend_counters,
)
from tests.support.lb_snapshots import (
    forward,
    listener,
    load_balancer,
    path,
    rule,
    snapshot,
    target_group,
)

NOW = 1_764_115_200.0  # a period start

STAT = """# pxname,svname,status,stot,req_tot,hrsp_5xx,rtime,
fe_web,FRONTEND,OPEN,50,50,0,,
be_api,t1,UP,20,,1,12,
be_api,t2,UP 1/3,20,,0,14,
be_api,t3,DOWN,0,,0,0,
be_api,t4,MAINT,0,,0,0,
be_api,BACKEND,UP,40,42,3,13,
be_tcp,s1,no check,5,,0,1,
be_tcp,BACKEND,UP,5,,0,1,
"""


def test_backend_counters_come_from_backend_rows_and_healthy_servers() -> None:
    assert parse_backend_counters(STAT) == {
        "be_api": BackendCounters(requests=42, http_5xx=3, response_time_ms=13, healthy_targets=2),
        # No request counter: sessions stand in for requests.
        "be_tcp": BackendCounters(requests=5, http_5xx=0, response_time_ms=1, healthy_targets=1),
    }
    assert parse_backend_counters("") == {}


@pytest.mark.parametrize(
    ("previous", "current", "delta"),
    [(10, 25, 15), (10, 10, 0), (500, 7, 7), (0, 0, 0)],
    ids=["grew", "idle", "reset by a restart", "never used"],
)
def test_counter_delta(previous: int, current: int, delta: int) -> None:
    assert counter_delta(previous, current) == delta


IDENTITY = GroupIdentity("000000000000", "us-east-1", "app/web/1", "targetgroup/api/2")


def by_metric(points: list[Datapoint]) -> dict[str, float]:
    assert all(p.namespace == ALB_NAMESPACE for p in points)
    return {p.metric: p.value for p in points}


def test_one_set_of_datapoints_per_period_from_the_counter_differences() -> None:
    meter = TrafficMeter()
    ids = {"be_api": IDENTITY}
    assert meter.observe({"be_api": BackendCounters(100, 5, 20, 2)}, ids, NOW + 0.5) == []
    assert not meter.due(NOW + 9.9)
    assert meter.observe({"be_api": BackendCounters(110, 5, 20, 2)}, ids, NOW + 5) == []
    points = meter.observe({"be_api": BackendCounters(130, 6, 40, 4)}, ids, NOW + 10.2)
    assert {p.timestamp for p in points} == {NOW}
    assert {p.dimensions for p in points} == {
        (("LoadBalancer", "app/web/1"), ("TargetGroup", "targetgroup/api/2"))
    }
    assert by_metric(points) == {
        "RequestCount": 30,
        "HTTPCode_Target_5XX_Count": 1,
        "RequestCountPerTarget": 7.5,
        "TargetResponseTime": 0.04,
    }


def test_a_restarted_haproxy_counts_from_zero_again() -> None:
    meter = TrafficMeter()
    ids = {"be_api": IDENTITY}
    meter.observe({"be_api": BackendCounters(1000, 50, 20, 1)}, ids, NOW)
    points = meter.observe({"be_api": BackendCounters(12, 0, 20, 1)}, ids, NOW + 10)
    assert by_metric(points)["RequestCount"] == 12
    assert by_metric(points)["HTTPCode_Target_5XX_Count"] == 0


def test_an_idle_period_reports_zero_requests_and_no_response_time() -> None:
    meter = TrafficMeter()
    ids = {"be_api": IDENTITY}
    meter.observe({"be_api": BackendCounters(7, 0, 20, 0)}, ids, NOW)
    points = meter.observe({"be_api": BackendCounters(7, 0, 20, 0)}, ids, NOW + 10)
    # No healthy target: no per-target figure rather than a division by zero.
    assert by_metric(points) == {"RequestCount": 0, "HTTPCode_Target_5XX_Count": 0}


def test_backends_without_a_load_balancer_are_left_out() -> None:
    meter = TrafficMeter()
    meter.observe({"be_x": BackendCounters(1, 0, 0, 1)}, {}, NOW)
    assert meter.observe({"be_x": BackendCounters(2, 0, 0, 1)}, {}, NOW + 10) == []


def test_group_identities_follow_listeners_and_rules_to_their_load_balancer() -> None:
    lb = load_balancer("shop")
    api, web, unused = target_group("api"), target_group("web"), target_group("unused")
    front = listener(lb, 8080, forward(web))
    found = group_identities(
        snapshot(
            [lb],
            [front],
            [api, web, unused],
            rules=[rule(front, 1, [path("/api/*")], forward(api))],
        )
    )
    lb_dim = lb.arn.split(":loadbalancer/", 1)[1]
    assert lb_dim.startswith("app/shop/")
    assert found == {
        backend_name(api): GroupIdentity(
            api.account_id, api.region, lb_dim, api.arn.rsplit(":", 1)[1]
        ),
        backend_name(web): GroupIdentity(
            web.account_id, web.region, lb_dim, web.arn.rsplit(":", 1)[1]
        ),
    }
    assert found[backend_name(api)].target_group.startswith("targetgroup/api/")
