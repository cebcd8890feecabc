"""Cost aggregation as a specification: groupings, windows, history that outlives
tasks and instances, forecasts and estimates.

The grouping tests are pure (charges in, lines out). The harness tests run the
use cases on a real SQLite store and a fake clock the test steps: no server."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from openecs.domain.errors import InvalidParameterException
from openecs.domain.metering import MeteredInstance, MeteredTask, meter
from openecs.domain.prices import DEFAULT_PRICES
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.usecases import cost
from openecs.usecases.agent_channel import apply_reports
from openecs.usecases.backend import Backend
from openecs.usecases.clusters import create_cluster
from openecs.usecases.container_instances import (
    Registration,
    deregister_container_instance,
    register_container_instance,
)
from openecs.usecases.services import create_service
from openecs.usecases.task_definitions import register_task_definition
from openecs.usecases.tasks import LaunchRequest, expire_stopped_tasks, run_task

T0 = 1_764_115_200.0  # 2025-11-26T00:00:00Z
HOUR = Decimal(3600)
SCOPE = Scope.root("000000000000", "us-east-1")
SMALL_X86_HOURLY = Decimal("0.25") * Decimal("0.04048") + Decimal("0.5") * Decimal("0.004445")


def task(
    name: str,
    begin: float,
    end: float | None,
    *,
    group: str | None = "service:web",
    cluster: str = "shop",
    launch_type: str = "FARGATE",
    provider: str | None = None,
    instance: str | None = None,
    tags: dict[str, str] | None = None,
) -> MeteredTask:
    return MeteredTask(
        arn=f"arn:aws:ecs:us-east-1:000000000000:task/{cluster}/{name}",
        cluster=cluster,
        family="web",
        task_definition_arn="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        launch_type=launch_type,
        cpu_units=256 if launch_type == "FARGATE" else 1024,
        memory_mib=512 if launch_type == "FARGATE" else 2048,
        begin=begin,
        end=end,
        group=group,
        capacity_provider=provider,
        container_instance_id=instance,
        tags=tags or {},
    )


INSTANCE = MeteredInstance(
    arn="arn:aws:ecs:us-east-1:000000000000:container-instance/shop/i1",
    instance_id="i1",
    cluster="shop",
    ec2_instance_id="i-0abc",
    instance_type="t3.medium",
    cpu_units=2048,
    memory_mib=4096,
    begin=T0,
    end=T0 + 3600,
)


def lines_of(group_by: str, *, since: float | None = None, until: float = T0 + 7200) -> dict:  # type: ignore[type-arg]
    charges = meter(
        [
            task("a", T0, T0 + 3600, tags={"team": "red"}),
            task("b", T0, T0 + 1800, provider="FARGATE_SPOT", tags={"team": "blue"}),
            task("c", T0, T0 + 30, group="family:batch", cluster="lab"),
            task("d", T0, T0 + 3600, group="service:worker", launch_type="EC2", instance="i1"),
        ],
        [INSTANCE],
        DEFAULT_PRICES,
        now=T0 + 7200,
    )
    found = cost.group_charges(charges, group_by, since=since, until=until)
    return {line.key: line for line in found}


def test_by_service_tasks_group_under_their_service_and_idle_capacity_apart() -> None:
    lines = lines_of("service")
    assert set(lines) == {"web", "worker", "family:batch", cost.IDLE_KEY}
    assert lines["web"].tasks == 2
    assert (
        lines["web"].task_cost
        == SMALL_X86_HOURLY
        + (Decimal("0.25") * Decimal("0.01214398") + Decimal("0.5") * Decimal("0.00133353"))
        * 1800
        / HOUR
    )
    assert lines["family:batch"].task_cost == SMALL_X86_HOURLY * 60 / HOUR  # the minimum
    assert lines[cost.IDLE_KEY].task_cost == 0
    assert lines["worker"].task_cost + lines[cost.IDLE_KEY].idle_cost == Decimal("0.0416")


def test_by_cluster_the_idle_share_belongs_to_the_instance_cluster() -> None:
    lines = lines_of("cluster")
    assert set(lines) == {"shop", "lab"}
    assert lines["shop"].idle_cost > 0
    assert lines["shop"].task_cost + lines["shop"].idle_cost == (
        lines_of("service")["web"].cost + Decimal("0.0416")
    )


def test_by_launch_type_spot_is_its_own_line() -> None:
    assert set(lines_of("launch-type")) == {"FARGATE", "FARGATE_SPOT", "EC2"}
    assert cost._check_group_by("launchType") == "launch-type"


def test_by_tag_untagged_tasks_and_idle_capacity_have_their_own_lines() -> None:
    lines = lines_of("tag:team")
    assert set(lines) == {"red", "blue", "(untagged)", cost.IDLE_KEY}


def test_by_task_each_line_is_one_task_with_its_details() -> None:
    lines = lines_of("task")
    a = lines["arn:aws:ecs:us-east-1:000000000000:task/shop/a"]
    assert a.tasks == 1 and a.task_seconds == 3600
    assert a.details["service"] == "web" and a.details["launchType"] == "FARGATE"


def test_every_grouping_adds_up_to_the_same_total() -> None:
    totals = {
        g: sum((line.cost for line in lines_of(g).values()), Decimal(0))
        for g in ("task", "service", "cluster", "launch-type", "day", "tag:team")
    }
    assert len(set(totals.values())) == 1, totals


def test_a_window_takes_the_share_of_each_charge_inside_it() -> None:
    lines = lines_of("service", since=T0 + 900, until=T0 + 1800)
    full = lines_of("service")
    # Task a ran the whole hour: a quarter of it falls in the window.
    a_only = lines_of("task", since=T0 + 900, until=T0 + 1800)
    assert a_only["arn:aws:ecs:us-east-1:000000000000:task/shop/a"].task_cost == (
        SMALL_X86_HOURLY / 4
    )
    assert "family:batch" not in lines  # it ran before the window
    assert lines["worker"].task_cost == full["worker"].task_cost / 4


def test_by_day_a_task_across_midnight_is_split_by_its_seconds() -> None:
    charges = meter([task("night", T0 - 1800, T0 + 5400)], [], DEFAULT_PRICES, now=T0 + 7200)
    lines = cost.group_charges(charges, "day", since=None, until=T0 + 7200)
    assert [line.key for line in lines] == ["2025-11-25", "2025-11-26"]
    assert lines[0].task_cost * 3 == lines[1].task_cost
    assert lines[0].task_cost + lines[1].task_cost == SMALL_X86_HOURLY * 2


@pytest.mark.parametrize("group_by", ["services", "tag:", "", "instance"])
def test_an_unknown_grouping_is_refused(group_by: str) -> None:
    with pytest.raises(InvalidParameterException, match="groupBy"):
        cost._check_group_by(group_by)


# -- the use cases on a real store -------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    opened = Backend.open(f"sqlite:///{tmp_path / 'cost.db'}", clock)
    yield opened
    opened.close()


def _definition(backend: Backend, family: str, **extra: Any) -> str:
    view = register_task_definition(
        backend,
        SCOPE,
        {
            "family": family,
            "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 2048}],
            "cpu": "1024",
            "memory": "2048",
            **extra,
        },
    )
    return view.definition.arn


def _report(backend: Backend, arn: str, status: str, **times: float) -> None:
    apply_reports(backend, SCOPE, None, [{"taskArn": arn, "lastStatus": status, **times}])


def test_an_ec2_task_and_its_instance_are_still_billed_after_expiry_and_deregistration(
    backend: Backend, clock: FakeClock
) -> None:
    create_cluster(backend, SCOPE, name="shop")
    inst = register_container_instance(
        backend,
        SCOPE,
        "shop",
        Registration("i-0abc", Capacity(2048, 4096), instance_type="t3.medium"),
    ).instance
    _definition(backend, "worker")
    [launched], failures = run_task(
        backend,
        SCOPE,
        LaunchRequest(
            task_definition="worker", cluster="shop", launch_type="EC2", group="service:w"
        ),
    )
    assert failures == []
    arn = launched.task.arn
    clock.advance(10)
    apply_reports(
        backend,
        SCOPE,
        inst.instance_id,
        [{"taskArn": arn, "lastStatus": "RUNNING", "pullStartedAt": T0 + 2, "startedAt": T0 + 8}],
    )
    clock.advance(1800)
    live = cost.cost_report(backend, SCOPE, cluster="shop", group_by="task")
    apply_reports(backend, SCOPE, inst.instance_id, [{"taskArn": arn, "lastStatus": "STOPPED"}])
    clock.advance(1790)  # the instance has been registered an hour
    deregister_container_instance(backend, SCOPE, "shop", inst.arn, force=True)
    before = cost.cost_report(backend, SCOPE, cluster="shop", group_by="service")
    clock.advance(7200)
    assert expire_stopped_tasks(backend, retention_seconds=3600) == 1
    after = cost.cost_report(backend, SCOPE, cluster="shop", group_by="service")

    # The task held half the instance (1 of 2 vCPU, 2 of 4 GiB) from its pull (T0+2)
    # until it stopped (T0+1810).
    share = Decimal("0.0416") / 2 * 1808 / HOUR
    assert {line.key: line.task_cost for line in before.lines}["w"] == share
    assert before.total == Decimal("0.0416")
    assert [line.to_api() for line in after.lines] == [line.to_api() for line in before.lines]
    running = {line.key: line for line in live.lines}[arn]
    assert running.details["stoppedAt"] is None and running.task_seconds == 1808


def test_a_report_for_a_service_leaves_idle_capacity_out(
    backend: Backend, clock: FakeClock
) -> None:
    create_cluster(backend, SCOPE, name="shop")
    register_container_instance(
        backend,
        SCOPE,
        "shop",
        Registration("i-0abc", Capacity(2048, 4096), instance_type="m5.large"),
    )
    clock.advance(3600)
    report = cost.cost_report(backend, SCOPE, cluster="shop", service="web")
    assert report.total == 0 and report.lines == []
    whole = cost.cost_report(backend, SCOPE, cluster="shop", group_by="cluster")
    assert whole.idle_cost == Decimal("0.096")
    assert whole.to_api()["lines"][0]["key"] == "shop"


def test_an_estimate_prices_a_definition_before_it_runs(backend: Backend) -> None:
    _definition(backend, "api", requiresCompatibilities=["FARGATE"], networkMode="awsvpc")
    estimate = cost.estimate_task_definition(backend, SCOPE, "api", count=3)
    options = {(o.pricing, o.cpu_architecture): o for o in estimate.options}
    on_demand = options[("FARGATE", "X86_64")]
    assert on_demand.per_task_hourly == Decimal("0.04048") + 2 * Decimal("0.004445")
    assert on_demand.hourly == on_demand.per_task_hourly * 3
    assert on_demand.monthly == on_demand.hourly * 730
    assert on_demand.minimum_charge == on_demand.hourly / 60
    assert options[("FARGATE", "ARM64")].hourly < on_demand.hourly
    assert options[("FARGATE_SPOT", "X86_64")].hourly < options[("FARGATE", "ARM64")].hourly
    assert estimate.to_api()["options"][0]["pricing"] == "FARGATE"


def test_a_forecast_follows_the_desired_count_and_the_spot_share(backend: Backend) -> None:
    create_cluster(backend, SCOPE, name="shop")
    _definition(
        backend,
        "api",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
    )
    create_service(
        backend,
        SCOPE,
        {
            "cluster": "shop",
            "serviceName": "api",
            "taskDefinition": "api",
            "desiredCount": 3,
            "capacityProviderStrategy": [
                {"capacityProvider": "FARGATE", "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "weight": 2},
            ],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        },
    )
    forecast = cost.forecast_service(backend, SCOPE, cluster="shop", service="api")
    assert forecast.tasks_by_pricing == {"FARGATE": 1, "FARGATE_SPOT": 2}
    arm = Decimal("0.03238") + 2 * Decimal("0.00356")
    spot = Decimal("0.01214398") + 2 * Decimal("0.00133353")
    assert forecast.hourly == arm + 2 * spot
    assert forecast.monthly == forecast.hourly * 730
