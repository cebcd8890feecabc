"""The price table cost accounting bills with: USD per vCPU-hour and GB-hour of
FARGATE tasks, and per instance-hour of EC2 container instances.

Defaults are AWS's public on-demand prices for us-east-1, Linux:

* FARGATE, x86_64: $0.04048 per vCPU-hour, $0.004445 per GB-hour.
* FARGATE, ARM64 (`runtimePlatform.cpuArchitecture` ARM64, Graviton): about
  20% less, $0.03238 per vCPU-hour and $0.00356 per GB-hour.
* FARGATE_SPOT: an assumption, not a quote. Spot prices float with spare
  capacity; AWS advertises "up to 70% off" on-demand. The defaults are a
  us-east-1 spot price AWS has published, about 70% off the x86 rates
  ($0.01214398 per vCPU-hour, $0.00133353 per GB-hour), held fixed. Spot
  tasks pay these rates whatever their architecture.
* EC2 instances: on-demand Linux prices of a few common types, by the
  `ecs.instance-type` attribute the instance registered with; a type the
  table does not know (an `openecs agent` registers "openecs.local") pays
  `default_instance_hour`.

A JSON or TOML file (server option `--price-table PATH`, or
OPENECS_PRICE_TABLE) overrides any part of it; what it leaves out keeps its
default, and its instance types are added to the default ones:

    {"fargate": {"vcpuHour": 0.04048, "gbHour": 0.004445},
     "fargateArm": {"vcpuHour": 0.03238, "gbHour": 0.00356},
     "fargateSpot": {"vcpuHour": 0.01214398, "gbHour": 0.00133353},
     "instanceHour": {"t3.micro": 0.0104},
     "defaultInstanceHour": 0.0416,
     "fargateMinimumSeconds": 60}

Prices are Decimals: sums of many per-second charges stay exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from openecs.domain.errors import InvalidParameterException

__all__ = ["DEFAULT_PRICES", "FargateRate", "PriceTable", "price_table_from_mapping"]


@dataclass(frozen=True, slots=True)
class FargateRate:
    """USD per vCPU-hour and per GB-hour (GB meaning GiB, as AWS bills memory)."""

    vcpu_hour: Decimal
    gb_hour: Decimal

    def hourly(self, vcpu: Decimal, gb: Decimal) -> Decimal:
        return vcpu * self.vcpu_hour + gb * self.gb_hour

    def to_api(self) -> dict[str, float]:
        return {"vcpuHour": float(self.vcpu_hour), "gbHour": float(self.gb_hour)}


_DEFAULT_INSTANCE_HOUR: Mapping[str, Decimal] = MappingProxyType(
    {
        "t3.micro": Decimal("0.0104"),
        "t3.small": Decimal("0.0208"),
        "t3.medium": Decimal("0.0416"),
        "t3.large": Decimal("0.0832"),
        "m5.large": Decimal("0.096"),
        "m5.xlarge": Decimal("0.192"),
        "c5.large": Decimal("0.085"),
    }
)


@dataclass(frozen=True, slots=True)
class PriceTable:
    fargate: FargateRate = FargateRate(Decimal("0.04048"), Decimal("0.004445"))
    fargate_arm: FargateRate = FargateRate(Decimal("0.03238"), Decimal("0.00356"))
    fargate_spot: FargateRate = FargateRate(Decimal("0.01214398"), Decimal("0.00133353"))
    instance_hour: Mapping[str, Decimal] = field(default_factory=lambda: _DEFAULT_INSTANCE_HOUR)
    default_instance_hour: Decimal = Decimal("0.0416")
    # FARGATE bills at least one minute per task.
    fargate_minimum_seconds: int = 60

    def fargate_rate(self, *, spot: bool, arm: bool) -> FargateRate:
        if spot:
            return self.fargate_spot
        return self.fargate_arm if arm else self.fargate

    def instance_rate(self, instance_type: str | None) -> Decimal:
        """USD per hour of an EC2 instance of this type (the default when unknown)."""
        return self.instance_hour.get(instance_type or "", self.default_instance_hour)

    def to_api(self) -> dict[str, Any]:
        return {
            "currency": "USD",
            "fargate": self.fargate.to_api(),
            "fargateArm": self.fargate_arm.to_api(),
            "fargateSpot": self.fargate_spot.to_api(),
            "instanceHour": {k: float(v) for k, v in sorted(self.instance_hour.items())},
            "defaultInstanceHour": float(self.default_instance_hour),
            "fargateMinimumSeconds": self.fargate_minimum_seconds,
        }


DEFAULT_PRICES = PriceTable()


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidParameterException(f"price table: {where} must be a number.")
    try:
        # Through str: 0.1 stays 0.1, not its binary neighbour.
        price = Decimal(str(value))
    except InvalidOperation:
        raise InvalidParameterException(f"price table: {where} must be a number.") from None
    if not price.is_finite() or price < 0:
        raise InvalidParameterException(f"price table: {where} must be a price of 0 or more.")
    return price


def _rate(doc: Any, base: FargateRate, where: str) -> FargateRate:
    if not isinstance(doc, Mapping):
        raise InvalidParameterException(f"price table: {where} must be an object.")
    unknown = set(doc) - {"vcpuHour", "gbHour"}
    if unknown:
        raise InvalidParameterException(f"price table: unknown key {where}.{sorted(unknown)[0]}.")
    return FargateRate(
        _price(doc["vcpuHour"], f"{where}.vcpuHour") if "vcpuHour" in doc else base.vcpu_hour,
        _price(doc["gbHour"], f"{where}.gbHour") if "gbHour" in doc else base.gb_hour,
    )


_KEYS = {
    "fargate",
    "fargateArm",
    "fargateSpot",
    "instanceHour",
    "defaultInstanceHour",
    "fargateMinimumSeconds",
}


def price_table_from_mapping(
    doc: Mapping[str, Any], base: PriceTable = DEFAULT_PRICES
) -> PriceTable:
    """`base` with the overrides of a parsed price file (format in the module docstring)."""
    unknown = set(doc) - _KEYS
    if unknown:
        raise InvalidParameterException(f"price table: unknown key {sorted(unknown)[0]}.")
    table = base
    if "fargate" in doc:
        table = replace(table, fargate=_rate(doc["fargate"], base.fargate, "fargate"))
    if "fargateArm" in doc:
        table = replace(table, fargate_arm=_rate(doc["fargateArm"], base.fargate_arm, "fargateArm"))
    if "fargateSpot" in doc:
        table = replace(
            table, fargate_spot=_rate(doc["fargateSpot"], base.fargate_spot, "fargateSpot")
        )
    if "instanceHour" in doc:
        types = doc["instanceHour"]
        if not isinstance(types, Mapping):
            raise InvalidParameterException("price table: instanceHour must be an object.")
        merged = dict(base.instance_hour)
        merged.update({str(k): _price(v, f"instanceHour.{k}") for k, v in types.items()})
        table = replace(table, instance_hour=MappingProxyType(merged))
    if "defaultInstanceHour" in doc:
        table = replace(
            table, default_instance_hour=_price(doc["defaultInstanceHour"], "defaultInstanceHour")
        )
    if "fargateMinimumSeconds" in doc:
        minimum = doc["fargateMinimumSeconds"]
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
            raise InvalidParameterException(
                "price table: fargateMinimumSeconds must be a whole number of 0 or more."
            )
        table = replace(table, fargate_minimum_seconds=minimum)
    return table
