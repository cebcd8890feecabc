"""Metering: what tasks and EC2 container instances cost, to the second (pure).

What is metered
    A task from the moment it starts pulling its images (`pullStartedAt`;
    else `startedAt`, else `createdAt`, the fallbacks ECS uses) until it
    stops (`stoppedAt`; until *now* while it runs). An EC2 container instance
    from its registration until its deregistration (or now).

Rounding
    Billing is per second and a started second counts whole, as AWS rounds
    "up to the nearest second": 61.2 s bill 62 s. Differences of epoch floats
    are rounded to the microsecond first, so 0.1 s of float noise never adds a
    second. A FARGATE task bills at least `fargate_minimum_seconds` (one
    minute); EC2 tasks have no minimum (their instance is what is billed).

FARGATE tasks
    vCPU x rate + GB x rate per hour, by architecture (ARM64 cheaper) and
    capacity provider (FARGATE_SPOT cheaper): see domain.prices.

EC2 instances, and the share of their tasks
    An instance costs its type's hourly price for every registered second.
    A task placed on it is charged the share it reserves: its fraction of
    the instance's registered CPU and of its memory, weighted by what the
    two would cost on FARGATE (so a CPU-heavy task pays mostly for CPU), for
    the seconds it overlaps the instance's registration. What tasks do not
    reserve is the instance's *idle* share, shown apart.

Every charge is a `Charge`: a cost spread evenly over an interval. An
instance yields one idle charge for its whole cost, and for each task on it
a task charge plus an equal negative idle charge over the task's interval,
so task costs + idle = instance cost exactly, in any window or day a report
cuts (`Charge.within`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from openecs.domain.prices import PriceTable
from openecs.domain.task import Task
from openecs.domain.task_size import parse_task_cpu, parse_task_memory

__all__ = [
    "Charge",
    "ChargeKind",
    "MeteredInstance",
    "MeteredTask",
    "billed_seconds",
    "fargate_charge",
    "instance_charges",
    "meter",
    "metered_task",
    "task_fraction",
]

_HOUR = Decimal(3600)
_UNITS_PER_VCPU = Decimal(1024)
_MIB_PER_GB = Decimal(1024)


class ChargeKind:
    TASK = "task"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class MeteredTask:
    """What metering needs of a task: read from its row while it exists, kept in a
    usage record once the task is forgotten."""

    arn: str
    cluster: str
    family: str
    task_definition_arn: str
    launch_type: str
    # FARGATE: the task size it is billed for; EC2: what it reserves on its instance.
    cpu_units: int
    memory_mib: int
    begin: float
    # None while the task runs.
    end: float | None = None
    group: str | None = None
    started_by: str | None = None
    capacity_provider: str | None = None
    cpu_architecture: str = "X86_64"
    container_instance_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str | None:
        """The service that started it (its group is `service:NAME`), if any."""
        if self.group and self.group.startswith("service:"):
            return self.group.removeprefix("service:")
        return None

    @property
    def spot(self) -> bool:
        return self.capacity_provider == "FARGATE_SPOT"

    @property
    def arm(self) -> bool:
        return self.cpu_architecture.upper() == "ARM64"

    def to_doc(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "cluster": self.cluster,
            "family": self.family,
            "taskDefinitionArn": self.task_definition_arn,
            "launchType": self.launch_type,
            "cpu": self.cpu_units,
            "memory": self.memory_mib,
            "begin": self.begin,
            "end": self.end,
            "group": self.group,
            "startedBy": self.started_by,
            "capacityProvider": self.capacity_provider,
            "cpuArchitecture": self.cpu_architecture,
            "containerInstanceId": self.container_instance_id,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> MeteredTask:
        return cls(
            arn=doc["arn"],
            cluster=doc["cluster"],
            family=doc["family"],
            task_definition_arn=doc["taskDefinitionArn"],
            launch_type=doc["launchType"],
            cpu_units=int(doc["cpu"]),
            memory_mib=int(doc["memory"]),
            begin=float(doc["begin"]),
            end=None if doc.get("end") is None else float(doc["end"]),
            group=doc.get("group"),
            started_by=doc.get("startedBy"),
            capacity_provider=doc.get("capacityProvider"),
            cpu_architecture=doc.get("cpuArchitecture") or "X86_64",
            container_instance_id=doc.get("containerInstanceId"),
            tags=dict(doc.get("tags") or {}),
        )


@dataclass(frozen=True, slots=True)
class MeteredInstance:
    """An EC2 container instance as metering sees it."""

    arn: str
    instance_id: str
    cluster: str
    ec2_instance_id: str
    instance_type: str | None
    cpu_units: int
    memory_mib: int
    begin: float
    end: float | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "instanceId": self.instance_id,
            "cluster": self.cluster,
            "ec2InstanceId": self.ec2_instance_id,
            "instanceType": self.instance_type,
            "cpu": self.cpu_units,
            "memory": self.memory_mib,
            "begin": self.begin,
            "end": self.end,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> MeteredInstance:
        return cls(
            arn=doc["arn"],
            instance_id=doc["instanceId"],
            cluster=doc["cluster"],
            ec2_instance_id=doc["ec2InstanceId"],
            instance_type=doc.get("instanceType"),
            cpu_units=int(doc["cpu"]),
            memory_mib=int(doc["memory"]),
            begin=float(doc["begin"]),
            end=None if doc.get("end") is None else float(doc["end"]),
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """A cost spread evenly over [begin, end]: a task's, or an instance's idle share
    (negative for the part a task took back)."""

    kind: str
    cluster: str
    launch_type: str
    begin: float
    end: float
    billed_seconds: int
    cost: Decimal
    task: MeteredTask | None = None
    instance: MeteredInstance | None = None

    def fraction_within(self, since: float | None, until: float | None) -> Decimal:
        """How much of the charge falls in [since, until): by overlapping time; a
        charge of no duration falls wholly where it begins."""
        lo = self.begin if since is None else max(self.begin, since)
        hi = self.end if until is None else min(self.end, until)
        if self.end <= self.begin:
            inside = (since is None or self.begin >= since) and (
                until is None or self.begin < until
            )
            return Decimal(1) if inside else Decimal(0)
        if hi <= lo:
            return Decimal(0)
        return Decimal(repr(round(hi - lo, 6))) / Decimal(repr(round(self.end - self.begin, 6)))

    def within(self, since: float | None, until: float | None) -> Decimal:
        return self.cost * self.fraction_within(since, until)


def billed_seconds(begin: float, end: float, *, minimum: int = 0) -> int:
    """Whole seconds billed for [begin, end]: started seconds count, at least `minimum`."""
    elapsed = round(end - begin, 6)
    return max(math.ceil(elapsed), minimum, 0)


def _size(text: str | None, parse: Any, fallback: int) -> int:
    if text:
        try:
            return int(parse(text))
        except Exception:
            return fallback
    return fallback


def metered_task(
    task: Task, *, cpu_architecture: str | None = None, tags: Mapping[str, str] | None = None
) -> MeteredTask:
    """The metering view of a task (the architecture comes from its task definition's
    runtimePlatform, the tags from its resource tags)."""
    fargate = task.launch_type == "FARGATE"
    cpu = task.reservation.cpu
    memory = task.reservation.memory
    if fargate:
        cpu = _size(task.cpu, parse_task_cpu, cpu)
        memory = _size(task.memory, parse_task_memory, memory)
    begin = task.pull_started_at or task.started_at or task.created_at
    return MeteredTask(
        arn=task.arn,
        cluster=task.cluster,
        family=task.family,
        task_definition_arn=task.task_definition_arn,
        launch_type=task.launch_type,
        cpu_units=cpu,
        memory_mib=memory,
        begin=begin,
        end=task.stopped_at,
        group=task.group,
        started_by=task.started_by,
        capacity_provider=task.capacity_provider,
        cpu_architecture=(cpu_architecture or "X86_64").upper(),
        container_instance_id=task.container_instance_id,
        tags=dict(tags or {}),
    )


def _vcpu(units: int) -> Decimal:
    return Decimal(units) / _UNITS_PER_VCPU


def _gb(mib: int) -> Decimal:
    return Decimal(mib) / _MIB_PER_GB


def fargate_charge(task: MeteredTask, prices: PriceTable, now: float) -> Charge:
    """A FARGATE task's charge: per second, at least the minimum."""
    end = task.end if task.end is not None else max(now, task.begin)
    seconds = billed_seconds(task.begin, end, minimum=prices.fargate_minimum_seconds)
    rate = prices.fargate_rate(spot=task.spot, arm=task.arm)
    hourly = rate.hourly(_vcpu(task.cpu_units), _gb(task.memory_mib))
    return Charge(
        ChargeKind.TASK,
        task.cluster,
        task.launch_type,
        task.begin,
        end,
        seconds,
        hourly * seconds / _HOUR,
        task=task,
    )


def task_fraction(
    cpu_units: int, memory_mib: int, instance: MeteredInstance, prices: PriceTable
) -> Decimal:
    """The share of an instance a reservation takes: its CPU and memory fractions,
    weighted by what the instance's CPU and memory would cost on FARGATE."""
    cpu_weight = _vcpu(instance.cpu_units) * prices.fargate.vcpu_hour
    memory_weight = _gb(instance.memory_mib) * prices.fargate.gb_hour
    total = cpu_weight + memory_weight
    if total <= 0:
        return Decimal(0)
    cpu_part = min(Decimal(cpu_units) / instance.cpu_units, Decimal(1)) if instance.cpu_units else 0
    memory_part = (
        min(Decimal(memory_mib) / instance.memory_mib, Decimal(1)) if instance.memory_mib else 0
    )
    return (cpu_weight * cpu_part + memory_weight * memory_part) / total


def instance_charges(
    instance: MeteredInstance, tasks: Iterable[MeteredTask], prices: PriceTable, now: float
) -> list[Charge]:
    """An instance's charges: the whole as idle, then each task's share moved from
    idle to the task (tasks charged for the seconds they overlap the instance)."""
    end = instance.end if instance.end is not None else max(now, instance.begin)
    rate = prices.instance_rate(instance.instance_type)
    seconds = billed_seconds(instance.begin, end)
    charges = [
        Charge(
            ChargeKind.IDLE,
            instance.cluster,
            "EC2",
            instance.begin,
            end,
            seconds,
            rate * seconds / _HOUR,
            instance=instance,
        )
    ]
    for task in tasks:
        task_end = task.end if task.end is not None else now
        lo, hi = max(task.begin, instance.begin), min(task_end, end)
        if hi < lo:
            continue
        task_seconds = min(billed_seconds(lo, hi), seconds)
        share = (
            rate * task_fraction(task.cpu_units, task.memory_mib, instance, prices) * task_seconds
        ) / _HOUR
        charges.append(
            Charge(
                ChargeKind.TASK,
                task.cluster,
                task.launch_type,
                lo,
                hi,
                task_seconds,
                share,
                task=task,
                instance=instance,
            )
        )
        charges.append(
            Charge(ChargeKind.IDLE, instance.cluster, "EC2", lo, hi, 0, -share, instance=instance)
        )
    return charges


def meter(
    tasks: Sequence[MeteredTask],
    instances: Sequence[MeteredInstance],
    prices: PriceTable,
    now: float,
) -> list[Charge]:
    """Every charge of these tasks and instances. FARGATE tasks pay their own way;
    EC2 tasks pay their share of the instance they ran on (nothing when that
    instance is not metered); other launch types (EXTERNAL) cost nothing here."""
    by_instance: dict[str, list[MeteredTask]] = {}
    charges: list[Charge] = []
    for task in tasks:
        if task.launch_type == "FARGATE":
            charges.append(fargate_charge(task, prices, now))
        elif task.launch_type == "EC2" and task.container_instance_id:
            by_instance.setdefault(task.container_instance_id, []).append(task)
    for instance in instances:
        charges.extend(
            instance_charges(instance, by_instance.get(instance.instance_id, ()), prices, now)
        )
    return charges
