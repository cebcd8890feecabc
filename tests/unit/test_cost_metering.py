"""Metering as a specification: what a task or an instance costs, to the second.

Pure: no server, no database; `now` comes from a fake clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openecs.domain.errors import InvalidParameterException
from openecs.domain.metering import (
    ChargeKind,
    MeteredInstance,
    MeteredTask,
    billed_seconds,
    fargate_charge,
    instance_charges,
    meter,
    metered_task,
)
from openecs.domain.prices import DEFAULT_PRICES, price_table_from_mapping
from openecs.domain.resources import Reservation
from openecs.domain.task import Task
from openecs.platform.clock import FakeClock

T0 = 1_764_115_200.0  # 2025-11-26T00:00:00Z
HOUR = Decimal(3600)

# 0.25 vCPU and 0.5 GB: the smallest FARGATE task.
SMALL_X86_HOURLY = Decimal("0.25") * Decimal("0.04048") + Decimal("0.5") * Decimal("0.004445")
SMALL_ARM_HOURLY = Decimal("0.25") * Decimal("0.03238") + Decimal("0.5") * Decimal("0.00356")
SMALL_SPOT_HOURLY = Decimal("0.25") * Decimal("0.01214398") + Decimal("0.5") * Decimal("0.00133353")


def fargate_task(
    begin: float,
    end: float | None,
    *,
    cpu: int = 256,
    memory: int = 512,
    provider: str | None = None,
    arch: str = "X86_64",
) -> MeteredTask:
    return MeteredTask(
        arn="arn:aws:ecs:us-east-1:000000000000:task/c/t1",
        cluster="c",
        family="web",
        task_definition_arn="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        launch_type="FARGATE",
        cpu_units=cpu,
        memory_mib=memory,
        begin=begin,
        end=end,
        capacity_provider=provider,
        cpu_architecture=arch,
    )


@pytest.mark.parametrize(
    ("elapsed", "minimum", "billed"),
    [
        (0.0, 0, 0),
        (1.0, 0, 1),
        (61.2, 0, 62),  # a started second counts whole
        (61.0000000001, 0, 61),  # float noise is not a started second
        (59.999, 0, 60),
        (12.5, 60, 60),  # FARGATE's one-minute minimum
        (60.5, 60, 61),
        (-3.0, 0, 0),  # a clock that went back bills nothing
    ],
)
def test_billed_seconds_round_up_started_seconds_with_a_minimum(
    elapsed: float, minimum: int, billed: int
) -> None:
    assert billed_seconds(T0, T0 + elapsed, minimum=minimum) == billed


@pytest.mark.parametrize(
    ("case", "task", "seconds", "hourly"),
    [
        ("one hour", fargate_task(T0, T0 + 3600), 3600, SMALL_X86_HOURLY),
        ("minimum charge", fargate_task(T0, T0 + 5), 60, SMALL_X86_HOURLY),
        ("partial second", fargate_task(T0, T0 + 90.25), 91, SMALL_X86_HOURLY),
        ("ARM64", fargate_task(T0, T0 + 3600, arch="ARM64"), 3600, SMALL_ARM_HOURLY),
        ("spot", fargate_task(T0, T0 + 3600, provider="FARGATE_SPOT"), 3600, SMALL_SPOT_HOURLY),
        (
            "spot ARM is priced as spot",
            fargate_task(T0, T0 + 3600, provider="FARGATE_SPOT", arch="ARM64"),
            3600,
            SMALL_SPOT_HOURLY,
        ),
        (
            "1 vCPU 2 GB",
            fargate_task(T0, T0 + 7200, cpu=1024, memory=2048),
            7200,
            Decimal("0.04048") + 2 * Decimal("0.004445"),
        ),
    ],
)
def test_a_fargate_task_costs_its_size_per_billed_second(
    case: str, task: MeteredTask, seconds: int, hourly: Decimal
) -> None:
    charge = fargate_charge(task, DEFAULT_PRICES, now=T0 + 10_000)
    assert charge.billed_seconds == seconds, case
    assert charge.cost == hourly * seconds / HOUR, case


def test_a_running_fargate_task_is_metered_until_now_on_the_clock() -> None:
    clock = FakeClock(T0)
    task = fargate_task(T0, None)
    clock.advance(30)
    assert fargate_charge(task, DEFAULT_PRICES, clock.now()).billed_seconds == 60
    clock.advance(120.4)
    charge = fargate_charge(task, DEFAULT_PRICES, clock.now())
    assert charge.billed_seconds == 151
    assert charge.cost == SMALL_X86_HOURLY * 151 / HOUR


def test_spot_is_about_seventy_percent_off_on_demand_x86() -> None:
    on_demand = DEFAULT_PRICES.fargate
    spot = DEFAULT_PRICES.fargate_spot
    for cheap, full in ((spot.vcpu_hour, on_demand.vcpu_hour), (spot.gb_hour, on_demand.gb_hour)):
        assert abs(cheap / full - Decimal("0.3")) < Decimal("0.0001")


def task_on(
    instance_id: str, begin: float, end: float | None, cpu: int, memory: int
) -> MeteredTask:
    return MeteredTask(
        arn=f"arn:aws:ecs:us-east-1:000000000000:task/c/{instance_id}-{begin}",
        cluster="c",
        family="worker",
        task_definition_arn="arn:aws:ecs:us-east-1:000000000000:task-definition/worker:1",
        launch_type="EC2",
        cpu_units=cpu,
        memory_mib=memory,
        begin=begin,
        end=end,
        container_instance_id=instance_id,
        group="service:worker",
    )


def instance(begin: float, end: float | None, *, kind: str = "t3.medium") -> MeteredInstance:
    # t3.medium: 2 vCPU, 4 GiB, $0.0416 an hour.
    return MeteredInstance(
        arn="arn:aws:ecs:us-east-1:000000000000:container-instance/c/i1",
        instance_id="i1",
        cluster="c",
        ec2_instance_id="i-0123",
        instance_type=kind,
        cpu_units=2048,
        memory_mib=4096,
        begin=begin,
        end=end,
    )


def _sums(charges: list) -> tuple[Decimal, Decimal]:  # type: ignore[type-arg]
    task = sum((c.cost for c in charges if c.kind == ChargeKind.TASK), Decimal(0))
    idle = sum((c.cost for c in charges if c.kind == ChargeKind.IDLE), Decimal(0))
    return task, idle


def test_an_instance_without_tasks_is_all_idle_for_every_registered_second() -> None:
    charges = instance_charges(instance(T0, T0 + 1800.5), [], DEFAULT_PRICES, now=T0 + 9999)
    task, idle = _sums(charges)
    assert task == 0
    assert idle == Decimal("0.0416") * 1801 / HOUR


def test_a_task_holding_the_whole_instance_leaves_no_idle_share() -> None:
    inst = instance(T0, T0 + 3600)
    charges = instance_charges(
        inst, [task_on("i1", T0, T0 + 3600, 2048, 4096)], DEFAULT_PRICES, now=T0 + 3600
    )
    task, idle = _sums(charges)
    assert task == Decimal("0.0416")
    assert idle == 0


def test_a_task_pays_its_weighted_share_and_the_rest_is_idle() -> None:
    # Half the CPU and a quarter of the memory for half of the hour.
    inst = instance(T0, T0 + 3600)
    t = task_on("i1", T0, T0 + 1800, 1024, 1024)
    charges = instance_charges(inst, [t], DEFAULT_PRICES, now=T0 + 3600)
    cpu_weight = 2 * Decimal("0.04048")
    memory_weight = 4 * Decimal("0.004445")
    fraction = (cpu_weight * Decimal("0.5") + memory_weight * Decimal("0.25")) / (
        cpu_weight + memory_weight
    )
    task, idle = _sums(charges)
    assert task == Decimal("0.0416") * fraction * 1800 / HOUR
    assert task + idle == Decimal("0.0416")


def test_a_task_is_charged_only_while_its_instance_is_registered() -> None:
    inst = instance(T0 + 600, T0 + 1200)
    t = task_on("i1", T0, T0 + 3600, 2048, 4096)
    charges = instance_charges(inst, [t], DEFAULT_PRICES, now=T0 + 3600)
    [share] = [c for c in charges if c.kind == ChargeKind.TASK]
    assert (share.begin, share.end, share.billed_seconds) == (T0 + 600, T0 + 1200, 600)


def test_an_unknown_instance_type_pays_the_configurable_default() -> None:
    prices = price_table_from_mapping({"defaultInstanceHour": 0.5})
    charges = instance_charges(instance(T0, T0 + 3600, kind="openecs.local"), [], prices, T0)
    assert _sums(charges) == (Decimal(0), Decimal("0.5"))


def test_meter_bills_fargate_tasks_alone_and_ec2_tasks_through_their_instance() -> None:
    ec2 = task_on("i1", T0, T0 + 3600, 1024, 2048)
    orphan = task_on("gone", T0, T0 + 3600, 1024, 2048)
    charges = meter(
        [fargate_task(T0, T0 + 3600), ec2, orphan],
        [instance(T0, T0 + 3600)],
        DEFAULT_PRICES,
        now=T0 + 3600,
    )
    task, idle = _sums(charges)
    assert task + idle == SMALL_X86_HOURLY + Decimal("0.0416")
    assert {c.task.arn for c in charges if c.task is not None} == {
        fargate_task(T0, 0).arn,
        ec2.arn,
    }


def test_a_charge_within_a_window_is_its_share_of_the_time() -> None:
    charge = fargate_charge(fargate_task(T0, T0 + 3600), DEFAULT_PRICES, now=T0)
    assert charge.within(T0 + 900, T0 + 1800) == charge.cost / 4
    assert charge.within(None, None) == charge.cost
    assert charge.within(T0 + 3600, None) == 0
    short = fargate_charge(fargate_task(T0, T0), DEFAULT_PRICES, now=T0)
    assert short.within(T0, T0 + 1) == short.cost  # the minimum falls where it began
    assert short.within(T0 + 1, None) == 0


def test_metering_a_task_starts_at_pull_else_start_else_creation() -> None:
    task = Task(
        task_id="t1",
        arn="arn:aws:ecs:us-east-1:000000000000:task/c/t1",
        account_id="000000000000",
        region="us-east-1",
        cluster="c",
        cluster_arn="arn:aws:ecs:us-east-1:000000000000:cluster/c",
        task_definition_arn="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        family="web",
        launch_type="FARGATE",
        containers=[],
        reservation=Reservation(256, 512),
        created_at=T0,
        cpu="1 vCPU",
        memory="2GB",
        capacity_provider="FARGATE_SPOT",
    )
    assert metered_task(task).begin == T0
    task.started_at = T0 + 20
    assert metered_task(task).begin == T0 + 20
    task.pull_started_at = T0 + 5
    task.stopped_at = T0 + 100
    metered = metered_task(task, cpu_architecture="arm64", tags={"team": "a"})
    assert (metered.begin, metered.end) == (T0 + 5, T0 + 100)
    assert (metered.cpu_units, metered.memory_mib) == (1024, 2048)
    assert metered.arm and metered.spot and metered.tags == {"team": "a"}
    assert MeteredTask.from_doc(metered.to_doc()) == metered


def test_a_price_file_overrides_only_what_it_names() -> None:
    prices = price_table_from_mapping(
        {"fargate": {"vcpuHour": 0.05}, "instanceHour": {"x1.big": "1.25"}}
    )
    assert prices.fargate.vcpu_hour == Decimal("0.05")
    assert prices.fargate.gb_hour == Decimal("0.004445")
    assert prices.instance_rate("x1.big") == Decimal("1.25")
    assert prices.instance_rate("t3.micro") == Decimal("0.0104")


@pytest.mark.parametrize(
    "doc",
    [
        {"fargate": {"vcpuHour": -1}},
        {"fargate": {"cpuHour": 1}},
        {"instanceHour": {"t3.micro": "cheap"}},
        {"fargateMinimumSeconds": 1.5},
        {"spot": {}},
    ],
)
def test_a_bad_price_file_is_refused_with_what_is_wrong(doc: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidParameterException, match="price table"):
        price_table_from_mapping(doc)
