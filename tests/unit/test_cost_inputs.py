"""How cost questions are read: price files, times on the endpoint, durations on
the command line, and the table `openecs cost` prints."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from openecs.api.cost_endpoints import parse_time
from openecs.cli.cost import _when, report_table
from openecs.domain.errors import InvalidParameterException
from openecs.domain.prices import DEFAULT_PRICES
from openecs.usecases.cost import load_price_table

T0 = 1_764_115_200.0  # 2025-11-26T00:00:00Z


def test_no_price_file_means_aws_defaults() -> None:
    assert load_price_table("") is DEFAULT_PRICES
    assert load_price_table(None) is DEFAULT_PRICES


def test_a_toml_price_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        'defaultInstanceHour = 0.2\n[fargate]\nvcpuHour = 0.05\n[instanceHour]\n"x.big" = 2\n'
    )
    prices = load_price_table(str(path))
    assert prices.fargate.vcpu_hour == Decimal("0.05")
    assert prices.instance_rate("x.big") == Decimal("2")
    assert prices.instance_rate("unknown") == Decimal("0.2")


def test_a_json_price_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"fargateSpot": {"gbHour": 0.001}, "fargateMinimumSeconds": 0}')
    prices = load_price_table(path)
    assert prices.fargate_spot.gb_hour == Decimal("0.001")
    assert prices.fargate_minimum_seconds == 0


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"fargate": 3}'])
def test_a_broken_price_file_names_itself(tmp_path: Path, content: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(InvalidParameterException, match="price table"):
        load_price_table(path)


def test_a_missing_price_file_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterException, match=r"prices\.json"):
        load_price_table(tmp_path / "prices.json")


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        (None, None),
        ("", None),
        ("1764115200", T0),
        ("1764115200.25", T0 + 0.25),
        ("2025-11-26T00:00:00Z", T0),
        ("2025-11-26T01:00:00+01:00", T0),
        ("2025-11-26T00:00:30", T0 + 30),  # no offset: UTC
        ("2025-11-26", T0),
    ],
)
def test_the_endpoint_takes_epoch_seconds_or_iso_times(text: str | None, epoch: float) -> None:
    assert parse_time("since", text) == epoch


def test_the_endpoint_refuses_a_time_it_cannot_read() -> None:
    with pytest.raises(InvalidParameterException, match="since must be"):
        parse_time("since", "yesterday")


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("90m", repr(T0 - 5400)),
        ("24h", repr(T0 - 86400)),
        ("7d", repr(T0 - 7 * 86400)),
        ("30s", repr(T0 - 30)),
        ("2025-11-26T00:00:00Z", "2025-11-26T00:00:00Z"),
        (None, None),
    ],
)
def test_the_cli_turns_durations_into_times_back_from_now(text: str | None, sent: str) -> None:
    assert _when(text, T0) == sent


def test_the_cli_table_shows_each_line_and_the_total() -> None:
    table = report_table(
        {
            "groupBy": "service",
            "since": None,
            "until": T0,
            "total": 1.5,
            "taskCost": 1.25,
            "idleCost": 0.25,
            "lines": [
                {
                    "key": "web",
                    "cost": 1.25,
                    "taskCost": 1.25,
                    "idleCost": 0.0,
                    "taskSeconds": 7200.0,
                    "tasks": 2,
                },
                {
                    "key": "(idle EC2 capacity)",
                    "cost": 0.25,
                    "taskCost": 0.0,
                    "idleCost": 0.25,
                    "taskSeconds": 0.0,
                    "tasks": 0,
                },
            ],
        }
    )
    rows = table.splitlines()
    assert rows[0].split() == [
        "service",
        "tasks",
        "task",
        "time",
        "tasks",
        "cost",
        "idle",
        "cost",
        "total",
    ]
    assert rows[1].split() == ["web", "2", "2.0h", "$1.25", "$0.000000", "$1.25"]
    assert rows[3].split() == ["TOTAL", "$1.25", "$0.250000", "$1.50"]
    assert rows[4] == "(USD, since the beginning until 2025-11-26T00:00:00Z)"
