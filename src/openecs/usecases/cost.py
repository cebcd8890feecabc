"""Cost accounting: what tasks and instances cost, grouped, forecast and estimated.

Usage (a console page, the `GET /cost` endpoint, a demo):

    from openecs.usecases import cost

    prices = cost.load_price_table(config.price_table)   # once; "" = AWS defaults
    report = cost.cost_report(backend, scope, cluster="shop", group_by="service",
                              since=t0, until=None, prices=prices)
    report.total                  # Decimal USD, tasks + idle EC2 capacity
    for line in report.lines:     # most expensive first (by day: in date order)
        line.key, line.cost, line.task_cost, line.idle_cost, line.tasks
    report.to_api()               # the JSON the endpoint returns

    cost.forecast_service(backend, scope, cluster="shop", service="web").monthly
    cost.estimate_task_definition(backend, scope, "web:3", count=4).to_api()

`group_by` is one of "task", "service", "cluster", "launch-type", "day" (UTC)
or "tag:KEY". Tasks a service started group under its name; other tasks
under their group ("family:NAME" unless RunTask named one). The idle share
of EC2 instances goes to its cluster, to "EC2" and to its days; by task,
service or tag it is the line IDLE_KEY. Filtering by service leaves idle
capacity out. since/until are epoch seconds; until defaults to now.

Metering rules (per second, rounding, FARGATE's minimum, EC2 shares) are in
domain.metering, prices in domain.prices. History survives task expiry and
instance deregistration (usecases.usage_history).

LIMITATIONS: history is priced with the price table in force when a report
is made, not the one in force when the task ran. FARGATE_SPOT is priced at a
fixed discount (no spot market). EC2 instances cost from registration to
deregistration; an agent that vanished without deregistering keeps billing.
Estimates and forecasts for EC2 take the task's share of the cluster's
registered instances (no idle capacity).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from openecs.domain.arns import cluster_name_from
from openecs.domain.cluster import DEFAULT_CLUSTER
from openecs.domain.errors import InvalidParameterException
from openecs.domain.metering import Charge, ChargeKind, task_fraction
from openecs.domain.metering import meter as meter_charges
from openecs.domain.prices import DEFAULT_PRICES, PriceTable, price_table_from_mapping
from openecs.domain.resources import reservation_for
from openecs.domain.scope import Scope
from openecs.domain.service import Service
from openecs.domain.task_size import parse_task_cpu, parse_task_memory
from openecs.scheduler.capacity_providers import split_by_capacity_provider
from openecs.store import clusters as cluster_rows
from openecs.store import usage_records
from openecs.usecases.backend import Backend
from openecs.usecases.services import require_service, service_name_from
from openecs.usecases.task_definitions import resolve_task_definition
from openecs.usecases.usage_history import metered_instance, metered_usage

__all__ = [
    "GROUP_BYS",
    "HOURS_PER_MONTH",
    "IDLE_KEY",
    "CostLine",
    "CostReport",
    "Estimate",
    "EstimateOption",
    "Forecast",
    "cost_report",
    "estimate_task_definition",
    "forecast_service",
    "load_price_table",
]

HOURS_PER_MONTH = 730
GROUP_BYS = ("task", "service", "cluster", "launch-type", "day", "tag:KEY")
IDLE_KEY = "(idle EC2 capacity)"
_HOUR = Decimal(3600)


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("1e-10")))


# -- reports ----------------------------------------------------------------------


@dataclass(slots=True)
class CostLine:
    """One group of a report: what its tasks cost, and the idle EC2 capacity in it."""

    key: str
    task_cost: Decimal = Decimal(0)
    idle_cost: Decimal = Decimal(0)
    # Billed task-seconds in the window (EC2 tasks: seconds on their instance).
    task_seconds: Decimal = Decimal(0)
    tasks: int = 0
    # By task: cluster, service, family, launchType, cpu, memory, startedAt, stoppedAt.
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> Decimal:
        return self.task_cost + self.idle_cost

    def to_api(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "key": self.key,
            "cost": _money(self.cost),
            "taskCost": _money(self.task_cost),
            "idleCost": _money(self.idle_cost),
            "taskSeconds": round(float(self.task_seconds), 3),
            "tasks": self.tasks,
        }
        if self.details:
            doc["details"] = self.details
        return doc


@dataclass(slots=True)
class CostReport:
    group_by: str
    since: float | None
    until: float
    generated_at: float
    lines: list[CostLine]
    prices: PriceTable
    cluster: str | None = None
    service: str | None = None

    @property
    def task_cost(self) -> Decimal:
        return sum((line.task_cost for line in self.lines), Decimal(0))

    @property
    def idle_cost(self) -> Decimal:
        return sum((line.idle_cost for line in self.lines), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.task_cost + self.idle_cost

    def to_api(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "groupBy": self.group_by,
            "cluster": self.cluster,
            "service": self.service,
            "since": self.since,
            "until": self.until,
            "generatedAt": self.generated_at,
            "total": _money(self.total),
            "taskCost": _money(self.task_cost),
            "idleCost": _money(self.idle_cost),
            "lines": [line.to_api() for line in self.lines],
            "prices": self.prices.to_api(),
        }


def _check_group_by(group_by: str) -> str:
    normal = {"launchType": "launch-type", "launch_type": "launch-type"}.get(group_by, group_by)
    if normal in GROUP_BYS[:-1] or (normal.startswith("tag:") and len(normal) > 4):
        return normal
    raise InvalidParameterException(
        f"groupBy must be one of task, service, cluster, launch-type, day or tag:KEY, "
        f"not {group_by!r}."
    )


def _pricing(charge: Charge) -> str:
    task = charge.task
    if charge.kind == ChargeKind.TASK and task is not None and task.spot:
        return "FARGATE_SPOT"
    return charge.launch_type


def _key(charge: Charge, group_by: str) -> str:
    """The line a (non-day) charge belongs to."""
    task = charge.task if charge.kind == ChargeKind.TASK else None
    if group_by == "cluster":
        return charge.cluster
    if group_by == "launch-type":
        return _pricing(charge)
    if task is None:
        return IDLE_KEY
    if group_by == "task":
        return task.arn
    if group_by == "service":
        return task.service or task.group or f"family:{task.family}"
    tag = group_by.removeprefix("tag:")
    return task.tags.get(tag, "(untagged)")


def _days(since: float, until: float) -> Iterable[tuple[str, float, float]]:
    day = datetime.fromtimestamp(since, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day.timestamp() < until:
        nxt = day + timedelta(days=1)
        yield day.date().isoformat(), day.timestamp(), nxt.timestamp()
        day = nxt


def _task_details(charge: Charge) -> dict[str, Any]:
    task = charge.task
    assert task is not None
    return {
        "cluster": task.cluster,
        "service": task.service,
        "family": task.family,
        "launchType": _pricing(charge),
        "cpuArchitecture": task.cpu_architecture,
        "cpu": task.cpu_units,
        "memory": task.memory_mib,
        "startedAt": task.begin,
        "stoppedAt": task.end,
    }


def group_charges(
    charges: Iterable[Charge], group_by: str, *, since: float | None, until: float
) -> list[CostLine]:
    """Charges cut to [since, until) and summed per line (pure)."""
    lines: dict[str, CostLine] = {}
    counted: dict[str, set[str]] = {}

    def add(key: str, charge: Charge, fraction: Decimal) -> None:
        if fraction == 0:
            return
        line = lines.get(key)
        if line is None:
            line = lines[key] = CostLine(key)
            counted[key] = set()
        cost = charge.cost * fraction
        if charge.kind == ChargeKind.TASK and charge.task is not None:
            line.task_cost += cost
            line.task_seconds += charge.billed_seconds * fraction
            if charge.task.arn not in counted[key]:
                counted[key].add(charge.task.arn)
                line.tasks += 1
            if group_by == "task":
                line.details = _task_details(charge)
        else:
            line.idle_cost += cost

    for charge in charges:
        if group_by == "day":
            lo = charge.begin if since is None else max(charge.begin, since)
            for day, start, end in _days(lo, min(max(charge.end, lo + 1e-6), until)):
                add(day, charge, charge.fraction_within(max(start, lo), min(end, until)))
        else:
            add(_key(charge, group_by), charge, charge.fraction_within(since, until))
    found = list(lines.values())
    if group_by == "day":
        return sorted(found, key=lambda line: line.key)
    return sorted(found, key=lambda line: (-line.cost, line.key))


def cost_report(
    backend: Backend,
    scope: Scope,
    *,
    cluster: str | None = None,
    service: str | None = None,
    since: float | None = None,
    until: float | None = None,
    group_by: str = "service",
    prices: PriceTable = DEFAULT_PRICES,
) -> CostReport:
    """What ran in [since, until) cost, per `group_by` line (see the module docstring).

    `cluster` and `service` are names or ARNs; a service is looked for in
    `cluster` (the default cluster when none is named). Clusters and services
    deleted since still report their history.
    """
    group_by = _check_group_by(group_by)
    now = backend.clock.now()
    end = now if until is None else min(until, now)
    if since is not None and since >= end:
        raise InvalidParameterException("since must be before until (and before now).")
    cluster_name = cluster_name_from(cluster, scope) if cluster else None
    service_name = service_name_from(service) if service else None
    if service_name is not None and cluster_name is None:
        cluster_name = DEFAULT_CLUSTER
    with backend.reading() as conn:
        tasks, instances = metered_usage(
            conn,
            scope,
            cluster=cluster_name,
            group=f"service:{service_name}" if service_name else None,
            since=since,
            until=end,
        )
    charges = meter_charges(tasks, instances, prices, now)
    if service_name is not None:
        charges = [c for c in charges if c.kind == ChargeKind.TASK]
    lines = group_charges(charges, group_by, since=since, until=end)
    return CostReport(group_by, since, end, now, lines, prices, cluster_name, service_name)


# -- what a task costs per hour -----------------------------------------------------


def _task_size(body: Mapping[str, Any]) -> tuple[int, int]:
    """A task definition's billed size: task-level cpu/memory, else what its
    containers reserve."""
    reservation = reservation_for(body)
    cpu = parse_task_cpu(str(body["cpu"])) if body.get("cpu") else reservation.cpu
    memory = parse_task_memory(str(body["memory"])) if body.get("memory") else reservation.memory
    return cpu, memory


def _fargate_hourly(prices: PriceTable, cpu: int, memory: int, *, spot: bool, arm: bool) -> Decimal:
    rate = prices.fargate_rate(spot=spot, arm=arm)
    return rate.hourly(Decimal(cpu) / 1024, Decimal(memory) / 1024)


@dataclass(slots=True)
class EstimateOption:
    """What N tasks of a definition cost with one kind of capacity."""

    pricing: str  # FARGATE | FARGATE_SPOT | EC2
    cpu_architecture: str
    per_task_hourly: Decimal
    count: int
    # The least one short run of `count` tasks costs (FARGATE's minimum).
    minimum_charge: Decimal

    @property
    def hourly(self) -> Decimal:
        return self.per_task_hourly * self.count

    @property
    def monthly(self) -> Decimal:
        return self.hourly * HOURS_PER_MONTH

    def to_api(self) -> dict[str, Any]:
        return {
            "pricing": self.pricing,
            "cpuArchitecture": self.cpu_architecture,
            "perTaskHourly": _money(self.per_task_hourly),
            "hourly": _money(self.hourly),
            "monthly": _money(self.monthly),
            "minimumCharge": _money(self.minimum_charge),
        }


@dataclass(slots=True)
class Estimate:
    task_definition_arn: str
    cpu: int
    memory: int
    count: int
    options: list[EstimateOption]

    def to_api(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "taskDefinitionArn": self.task_definition_arn,
            "cpu": self.cpu,
            "memory": self.memory,
            "count": self.count,
            "hoursPerMonth": HOURS_PER_MONTH,
            "options": [o.to_api() for o in self.options],
        }


def estimate_options(
    cpu: int, memory: int, count: int, prices: PriceTable, *, architecture: str = "X86_64"
) -> list[EstimateOption]:
    """FARGATE on-demand (the definition's architecture, and the other one), and
    FARGATE_SPOT (pure)."""
    minimum = Decimal(prices.fargate_minimum_seconds) / _HOUR
    options = []
    arch = architecture.upper()
    for pricing, arm in (
        ("FARGATE", arch == "ARM64"),
        ("FARGATE", arch != "ARM64"),
        ("FARGATE_SPOT", arch == "ARM64"),
    ):
        hourly = _fargate_hourly(prices, cpu, memory, spot=pricing == "FARGATE_SPOT", arm=arm)
        options.append(
            EstimateOption(
                pricing, "ARM64" if arm else "X86_64", hourly, count, hourly * count * minimum
            )
        )
    return options


def estimate_task_definition(
    backend: Backend,
    scope: Scope,
    task_definition: str,
    *,
    count: int = 1,
    prices: PriceTable = DEFAULT_PRICES,
) -> Estimate:
    """What `count` tasks of a definition (family, family:revision or ARN) would cost
    per hour and per month (730 h) before any runs: FARGATE x86/ARM and FARGATE_SPOT."""
    if not 1 <= count <= 100_000:
        raise InvalidParameterException("count must be between 1 and 100000.")
    with backend.reading() as conn:
        td = resolve_task_definition(conn, scope, task_definition)
    cpu, memory = _task_size(td.body)
    arch = str((td.body.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64")
    return Estimate(
        td.arn, cpu, memory, count, estimate_options(cpu, memory, count, prices, architecture=arch)
    )


# -- forecasts ---------------------------------------------------------------------


@dataclass(slots=True)
class Forecast:
    """A service's cost at its current desired count and task size, kept up a month."""

    cluster: str
    service: str
    task_definition_arn: str
    desired_count: int
    cpu: int
    memory: int
    cpu_architecture: str
    # Tasks per pricing (FARGATE, FARGATE_SPOT, EC2) at the desired count.
    tasks_by_pricing: dict[str, int]
    hourly: Decimal
    note: str = ""

    @property
    def monthly(self) -> Decimal:
        return self.hourly * HOURS_PER_MONTH

    def to_api(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "cluster": self.cluster,
            "service": self.service,
            "taskDefinitionArn": self.task_definition_arn,
            "desiredCount": self.desired_count,
            "cpu": self.cpu,
            "memory": self.memory,
            "cpuArchitecture": self.cpu_architecture,
            "tasksByPricing": self.tasks_by_pricing,
            "hourly": _money(self.hourly),
            "monthly": _money(self.monthly),
            "hoursPerMonth": HOURS_PER_MONTH,
            "note": self.note,
        }


def _strategy(service: Service, cluster_strategy: list[dict[str, Any]]) -> list[dict[str, Any]]:
    primary = next((d for d in service.deployments if d.status == "PRIMARY"), None)
    launch_type = (primary.launch_type if primary else None) or service.launch_type
    strategy = (primary.capacity_provider_strategy if primary else None) or (
        service.capacity_provider_strategy
    )
    if launch_type:
        return [{"capacityProvider": launch_type, "weight": 1}]
    return list(strategy or cluster_strategy or [{"capacityProvider": "EC2", "weight": 1}])


def forecast_service(
    backend: Backend,
    scope: Scope,
    *,
    cluster: str | None,
    service: str,
    prices: PriceTable = DEFAULT_PRICES,
) -> Forecast:
    """The monthly (730 h) cost of a service at its desired count and its primary
    deployment's task size. FARGATE_SPOT shares follow its capacity provider
    strategy; EC2 tasks cost their share of the cluster's instances (on average)."""
    cluster_name = cluster_name_from(cluster or DEFAULT_CLUSTER, scope)
    with backend.reading() as conn:
        found = cluster_rows.get(conn, scope, cluster_name)
        svc = require_service(conn, scope, cluster_name, service)
        primary = next((d for d in svc.deployments if d.status == "PRIMARY"), None)
        td = resolve_task_definition(conn, scope, primary.task_definition if primary else "")
        instances = [
            metered_instance(i)
            for i in usage_records.live_ec2_instances(conn, scope, cluster=cluster_name)
        ]
    cpu, memory = _task_size(td.body)
    arch = str((td.body.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64").upper()
    strategy = _strategy(svc, found.default_capacity_provider_strategy if found else [])
    count = svc.desired_count
    providers = split_by_capacity_provider(strategy, count) if count else []
    by_pricing: dict[str, int] = {}
    for provider in providers:
        key = provider if provider in ("FARGATE", "FARGATE_SPOT") else "EC2"
        by_pricing[key] = by_pricing.get(key, 0) + 1
    hourly = Decimal(0)
    note = ""
    for pricing, n in by_pricing.items():
        if pricing == "EC2":
            if not instances:
                note = "No EC2 instances are registered in the cluster: EC2 tasks priced at 0."
                continue
            shares = [
                prices.instance_rate(i.instance_type) * task_fraction(cpu, memory, i, prices)
                for i in instances
            ]
            hourly += n * sum(shares, Decimal(0)) / len(shares)
            note = "EC2 tasks: their share of the cluster's instances (idle capacity excluded)."
        else:
            per_task = _fargate_hourly(
                prices, cpu, memory, spot=pricing == "FARGATE_SPOT", arm=arch == "ARM64"
            )
            hourly += n * per_task
    return Forecast(
        cluster_name, svc.name, td.arn, count, cpu, memory, arch, by_pricing, hourly, note
    )


# -- the price table ---------------------------------------------------------------


def load_price_table(path: str | Path | None) -> PriceTable:
    """The price table: AWS's defaults, overridden by a JSON or TOML file when given."""
    if not path:
        return DEFAULT_PRICES
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as err:
        raise InvalidParameterException(f"price table {file}: {err.strerror}.") from None
    try:
        doc = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except ValueError as err:
        raise InvalidParameterException(f"price table {file}: {err}.") from None
    if not isinstance(doc, dict):
        raise InvalidParameterException(f"price table {file}: must hold an object.")
    return price_table_from_mapping(doc)
