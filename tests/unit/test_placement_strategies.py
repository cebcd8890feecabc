"""Placement strategies, one table per rule, and the capacity provider split.

Each case builds a small cluster, places tasks with a chain of strategies and
checks where they land (in order where the chain decides it, as a multiset
where a random draw does). Validation of the API's placementStrategy and
split_by_capacity_provider close the file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.errors import InvalidParameterException
from openecs.domain.resources import Capacity, Reservation
from openecs.scheduler.capacity_providers import split_by_capacity_provider
from openecs.scheduler.placement import place_tasks
from openecs.scheduler.strategies import (
    FARGATE_STRATEGY,
    RUN_TASK_DEFAULT_STRATEGY,
    SERVICE_DEFAULT_STRATEGY,
    Strategy,
    effective_strategy,
    normalize_strategy,
    parse_strategy,
)
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest

AZ = "attribute:ecs.availability-zone"


def view(
    name: str,
    *,
    zone: str | None = "us-east-1a",
    cpu: int = 4096,
    memory: int = 8192,
    groups: dict[str, int] | None = None,
    attributes: dict[str, str] | None = None,
) -> InstanceView:
    instance = ContainerInstance(
        instance_id=name,
        arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/c/{name}",
        account_id="123456789012",
        region="us-east-1",
        cluster="c",
        ec2_instance_id=f"i-{name}",
        capacity=Capacity(cpu, memory),
        registered_at=1_600_000_000.0,
        availability_zone=zone,
        attributes=[{"name": k, "value": v} for k, v in (attributes or {}).items()],
    )
    counted = Counter(groups or {})
    return InstanceView(instance, instance.capacity, counted, sum(counted.values()))


def place(
    instances: list[InstanceView],
    strategy: Strategy,
    count: int,
    *,
    cpu: int = 256,
    memory: int = 512,
    group: str | None = "service:web",
    seed: int = 1,
    is_service: bool = False,
) -> list[str]:
    req = PlacementRequest(
        count=count,
        reservation=Reservation(cpu, memory),
        group=group,
        launch_type="EC2",
        strategy=strategy,
        seed=seed,
        is_service=is_service,
    )
    plan = place_tasks(ClusterView(instances), req)
    assert not plan.failures
    return plan.placements


BINPACK_MEMORY: Strategy = (("binpack", "memory"),)
BINPACK_CPU: Strategy = (("binpack", "cpu"),)
SPREAD_INSTANCE: Strategy = (("spread", "instanceId"),)
SPREAD_AZ: Strategy = (("spread", AZ),)

ORDERED_CASES: list[tuple[str, list[InstanceView], Strategy, int, list[str]]] = [
    (
        "binpack memory: least memory left that still fits, first",
        [view("roomy", memory=8192), view("snug", memory=1024), view("too-small", memory=256)],
        BINPACK_MEMORY,
        3,
        ["snug", "snug", "roomy"],
    ),
    (
        "binpack cpu: least CPU left first",
        [view("a", cpu=4096), view("b", cpu=600), view("c", cpu=2048)],
        BINPACK_CPU,
        4,
        ["b", "b", "c", "c"],
    ),
    (
        "binpack cpu ignores memory",
        [view("a", cpu=1024, memory=512), view("b", cpu=2048, memory=8192)],
        BINPACK_CPU,
        1,
        ["a"],
    ),
    (
        "binpack memory, ties broken by binpack cpu",
        [view("a", cpu=4096, memory=2048), view("b", cpu=1024, memory=2048)],
        (("binpack", "memory"), ("binpack", "cpu")),
        2,
        ["b", "b"],
    ),
    (
        "spread instanceId counts the group's running tasks, not other groups'",
        [
            view("busy", groups={"service:web": 3}),
            view("one", groups={"service:web": 2}),
            view("idle", groups={"service:other": 5}),
        ],
        SPREAD_INSTANCE,
        2,
        ["idle", "idle"],
    ),
    (
        "spread host is spread instanceId",
        [view("a", groups={"service:web": 1}), view("b")],
        parse_strategy([{"type": "spread", "field": "host"}]),
        1,
        ["b"],
    ),
    (
        "spread instanceId, ties broken by binpack memory",
        [view("a", memory=4096), view("b", memory=2048), view("c", memory=8192)],
        (("spread", "instanceId"), ("binpack", "memory")),
        4,
        ["b", "a", "c", "b"],
    ),
    (
        "spread AZ goes to the zone with the fewest of the group's tasks",
        [
            view("a1", zone="us-east-1a", groups={"service:web": 4}),
            view("b1", zone="us-east-1b", groups={"service:web": 2}),
            view("c1", zone="us-east-1c", groups={"service:other": 9}),
        ],
        SPREAD_AZ,
        2,
        ["c1", "c1"],
    ),
    (
        "spread AZ then instanceId then binpack memory",
        [
            view("a1", zone="us-east-1a", groups={"service:web": 1}),
            view("a2", zone="us-east-1a", memory=4096),
            view("b1", zone="us-east-1b", groups={"service:web": 3}),
        ],
        (("spread", AZ), ("spread", "instanceId"), ("binpack", "memory")),
        2,
        ["a2", "a2"],
    ),
    (
        "binpack memory, ties broken by spread AZ",
        [
            view("a1", zone="us-east-1a", groups={"service:web": 1}),
            view("b1", zone="us-east-1b"),
        ],
        (("binpack", "memory"), ("spread", AZ)),
        1,
        ["b1"],
    ),
    (
        "spread on a custom attribute; instances without it form a value of their own",
        [
            view("rack-1", attributes={"rack": "r1"}, groups={"service:web": 2}),
            view("rack-2", attributes={"rack": "r2"}, groups={"service:web": 2}),
            view("no-rack", memory=4096),
        ],
        (("spread", "attribute:rack"), ("binpack", "memory")),
        2,
        ["no-rack", "no-rack"],
    ),
]


@pytest.mark.parametrize(
    ("instances", "strategy", "count", "expected"),
    [case[1:] for case in ORDERED_CASES],
    ids=[case[0] for case in ORDERED_CASES],
)
def test_strategies_place_in_ecs_order(
    instances: list[InstanceView], strategy: Strategy, count: int, expected: list[str]
) -> None:
    assert place(instances, strategy, count) == expected


MULTISET_CASES: list[tuple[str, list[InstanceView], Strategy, int, dict[str, int]]] = [
    (
        "spread AZ then binpack memory: the fullest instance of each zone",
        [
            view("a-big", zone="us-east-1a", memory=8192),
            view("a-small", zone="us-east-1a", memory=2048),
            view("b-big", zone="us-east-1b", memory=8192),
            view("b-small", zone="us-east-1b", memory=1024),
        ],
        (("spread", AZ), ("binpack", "memory")),
        4,
        {"a-small": 2, "b-small": 2},
    ),
    (
        "spread AZ then instanceId: even zones, even instances",
        [
            view("a1", zone="us-east-1a"),
            view("a2", zone="us-east-1a"),
            view("b1", zone="us-east-1b"),
            view("c1", zone="us-east-1c"),
        ],
        (("spread", AZ), ("spread", "instanceId")),
        6,
        {"a1": 1, "a2": 1, "b1": 2, "c1": 2},
    ),
    (
        "spread AZ over zones with running tasks evens them out",
        [
            view("a1", zone="us-east-1a", groups={"service:web": 3}),
            view("b1", zone="us-east-1b", groups={"service:web": 1}),
            view("c1", zone="us-east-1c"),
        ],
        SPREAD_AZ,
        5,
        {"b1": 2, "c1": 3},
    ),
    (
        "binpack spills over to the next fullest instance when one is full",
        [view("a", memory=1024), view("b", memory=1536), view("c", memory=8192)],
        BINPACK_MEMORY,
        5,
        {"a": 2, "b": 3},
    ),
]


@pytest.mark.parametrize(
    ("instances", "strategy", "count", "expected"),
    [case[1:] for case in MULTISET_CASES],
    ids=[case[0] for case in MULTISET_CASES],
)
def test_strategies_share_tasks_as_ecs_does(
    instances: list[InstanceView], strategy: Strategy, count: int, expected: dict[str, int]
) -> None:
    assert Counter(place(instances, strategy, count)) == expected


def test_without_a_group_spread_counts_every_task_of_the_instance() -> None:
    instances = [view("a", groups={"x": 2}), view("b", groups={"y": 1})]
    assert place(instances, SPREAD_INSTANCE, 1, group=None) == ["b"]


def test_a_spread_by_zone_after_another_rule_breaks_its_ties_as_tasks_land() -> None:
    for seed in range(20):
        instances = [
            view("a1", zone="us-east-1a"),
            view("a2", zone="us-east-1a"),
            view("b1", zone="us-east-1b"),
        ]
        first, second, third = place(
            instances, (("spread", "instanceId"), ("spread", AZ)), 3, seed=seed
        )
        # After the first task, the other zone is the emptier one.
        assert first[0] != second[0]
        assert {first, second, third} == {"a1", "a2", "b1"}


def test_spread_keeps_zone_counts_within_one() -> None:
    instances = [view(f"{zone}-{n}", zone=f"us-east-1{zone}") for zone in "abc" for n in range(3)]
    placements = place(instances, (("spread", AZ), ("spread", "instanceId")), 10)
    by_zone = Counter(p.split("-")[0] for p in placements)
    assert max(by_zone.values()) - min(by_zone.values()) <= 1
    by_instance = Counter(placements)
    assert max(by_instance.values()) - min(by_instance.values()) <= 1


def test_spread_skips_a_zone_without_room_and_fills_the_others_evenly() -> None:
    instances = [
        view("a1", zone="us-east-1a", memory=256),
        view("b1", zone="us-east-1b"),
        view("c1", zone="us-east-1c"),
    ]
    placements = place(instances, SPREAD_AZ, 4)
    assert Counter(placements) == {"b1": 2, "c1": 2}


def test_random_draws_among_every_candidate_reproducibly() -> None:
    instances = [view(f"i{n}") for n in range(4)]
    first = place(instances, RUN_TASK_DEFAULT_STRATEGY, 12, seed=42)
    again = place([view(f"i{n}") for n in range(4)], RUN_TASK_DEFAULT_STRATEGY, 12, seed=42)
    assert first == again
    assert set(first) == {"i0", "i1", "i2", "i3"}
    other_seeds = {
        tuple(place([view(f"i{n}") for n in range(4)], (("random", None),), 12, seed=s))
        for s in range(5)
    }
    assert len(other_seeds) > 1


def test_random_is_close_to_uniform() -> None:
    instances = [view(f"i{n}", cpu=10**6, memory=10**7) for n in range(5)]
    placements = place(instances, (("random", None),), 5000, seed=3)
    counts = Counter(placements)
    assert all(850 <= counts[f"i{n}"] <= 1150 for n in range(5))


def test_rules_after_random_are_never_consulted() -> None:
    assert normalize_strategy((("random", None), ("binpack", "memory"))) == (("random", None),)


def test_equal_rank_ties_fall_to_a_seeded_draw() -> None:
    seen = {tuple(place([view("a"), view("b")], BINPACK_MEMORY, 1, seed=s)) for s in range(20)}
    assert seen == {("a",), ("b",)}


@pytest.mark.parametrize(
    ("is_service", "expected"),
    [(False, RUN_TASK_DEFAULT_STRATEGY), (True, SERVICE_DEFAULT_STRATEGY)],
)
def test_an_empty_strategy_means_ecs_default(is_service: bool, expected: Strategy) -> None:
    assert effective_strategy((), is_service=is_service) == expected


def test_the_service_default_spreads_zones_then_instances() -> None:
    assert SERVICE_DEFAULT_STRATEGY == (("spread", AZ), ("spread", "instanceId"))
    instances = [
        view("a1", zone="us-east-1a"),
        view("a2", zone="us-east-1a"),
        view("b1", zone="us-east-1b"),
    ]
    placements = place(instances, (), 4, is_service=True)
    assert Counter(placements) == {"a1": 1, "a2": 1, "b1": 2}


def test_fargate_capacity_is_spread_across_zones() -> None:
    hosts = [view(f"{z}{n}", zone=f"eu-west-1{z}") for z in "abc" for n in range(2)]
    placements = place(hosts, FARGATE_STRATEGY, 6, group="family:api")
    assert Counter(p[0] for p in placements) == {"a": 2, "b": 2, "c": 2}
    assert len(set(placements)) == 6


# ------------------------------------------------------------------ parse_strategy


def test_parse_strategy_normalizes_fields() -> None:
    assert parse_strategy(
        [
            {"type": "binpack", "field": "MEMORY"},
            {"type": "binpack", "field": "Cpu"},
            {"type": "spread", "field": "host"},
            {"type": "spread", "field": AZ},
            {"type": "random", "field": "ignored"},
        ]
    ) == (
        ("binpack", "memory"),
        ("binpack", "cpu"),
        ("spread", "instanceId"),
        ("spread", AZ),
        ("random", None),
    )
    assert parse_strategy(None) == ()


INVALID_STRATEGIES: list[tuple[list[dict[str, Any]], str]] = [
    ([{"field": "memory"}], "strategy.type should not be null or empty."),
    (
        [{"type": "pack", "field": "memory"}],
        "Invalid placement strategy type: pack. Valid types are random, spread and binpack.",
    ),
    (
        [{"type": "binpack"}],
        "strategy.field should not be null or empty for the binpack strategy.",
    ),
    (
        [{"type": "spread", "field": " "}],
        "strategy.field should not be null or empty for the spread strategy.",
    ),
    (
        [{"type": "binpack", "field": "disk"}],
        "Invalid binpack field: disk. Valid values are cpu and memory.",
    ),
    (
        [{"type": "spread", "field": "zone"}],
        "Invalid spread field: zone. Valid values are instanceId, host or "
        "attribute:<attribute name>.",
    ),
    (
        [{"type": "spread", "field": "attribute:"}],
        "Invalid spread field: attribute:. Valid values are instanceId, host or "
        "attribute:<attribute name>.",
    ),
    (
        [{"type": "random"}] * 6,
        "Too many placement strategies: 6. A task or service can have at most 5.",
    ),
]


@pytest.mark.parametrize(("items", "message"), INVALID_STRATEGIES)
def test_invalid_strategies_are_refused(items: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(InvalidParameterException) as raised:
        parse_strategy(items)
    assert raised.value.message == message


def test_five_strategies_are_allowed() -> None:
    assert len(parse_strategy([{"type": "spread", "field": "instanceId"}] * 5)) == 5


def test_place_tasks_validates_a_strategy_it_is_handed_raw() -> None:
    with pytest.raises(InvalidParameterException):
        place([view("a")], (("binpack", "disk"),), 1)


# ------------------------------------------------------------------ capacity providers

FARGATE_BASE_1 = {"capacityProvider": "FARGATE", "base": 1, "weight": 1}
SPOT_4 = {"capacityProvider": "FARGATE_SPOT", "weight": 4}

SPLITS: list[tuple[str, list[dict[str, Any]], int, dict[str, int], dict[str, int]]] = [
    ("base first", [FARGATE_BASE_1, SPOT_4], 1, {}, {"FARGATE": 1}),
    ("base then 1:4", [FARGATE_BASE_1, SPOT_4], 6, {}, {"FARGATE": 2, "FARGATE_SPOT": 4}),
    ("ten tasks", [FARGATE_BASE_1, SPOT_4], 10, {}, {"FARGATE": 3, "FARGATE_SPOT": 7}),
    (
        "base already met by running tasks",
        [FARGATE_BASE_1, SPOT_4],
        5,
        {"FARGATE": 1},
        {"FARGATE": 1, "FARGATE_SPOT": 4},
    ),
    (
        "equal weights split evenly",
        [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "B", "weight": 1}],
        6,
        {},
        {"A": 3, "B": 3},
    ),
    (
        "running tasks are caught up first",
        [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "B", "weight": 1}],
        4,
        {"A": 5},
        {"B": 4},
    ),
    (
        "weight 0 gets only its base",
        [
            {"capacityProvider": "A", "base": 2, "weight": 0},
            {"capacityProvider": "B", "weight": 1},
        ],
        5,
        {},
        {"A": 2, "B": 3},
    ),
    (
        "a lone provider takes everything whatever its weight",
        [{"capacityProvider": "FARGATE", "weight": 0}],
        3,
        {},
        {"FARGATE": 3},
    ),
    ("nothing to place", [FARGATE_BASE_1, SPOT_4], 0, {}, {}),
]


@pytest.mark.parametrize(
    ("strategy", "count", "running", "expected"),
    [case[1:] for case in SPLITS],
    ids=[case[0] for case in SPLITS],
)
def test_split_by_capacity_provider_honours_base_then_weights(
    strategy: list[dict[str, Any]], count: int, running: dict[str, int], expected: dict[str, int]
) -> None:
    chosen = split_by_capacity_provider(strategy, count, running)
    assert len(chosen) == count
    assert Counter(chosen) == expected


def test_split_places_the_base_before_the_weighted_share() -> None:
    assert split_by_capacity_provider([SPOT_4, FARGATE_BASE_1], 3)[0] == "FARGATE"


def test_split_keeps_the_weighted_ratio_at_every_step() -> None:
    chosen = split_by_capacity_provider(
        [{"capacityProvider": "A", "weight": 1}, {"capacityProvider": "B", "weight": 3}], 40
    )
    for n in range(4, 41, 4):
        assert Counter(chosen[:n]) == {"A": n // 4, "B": 3 * n // 4}


def test_split_refuses_a_strategy_whose_weights_are_all_zero() -> None:
    zero = [{"capacityProvider": "A", "weight": 0}, {"capacityProvider": "B", "weight": 0}]
    with pytest.raises(InvalidParameterException) as raised:
        split_by_capacity_provider(zero, 1)
    assert raised.value.message == (
        "At least one capacity provider in a capacity provider strategy "
        "must have a weight greater than zero."
    )
    assert split_by_capacity_provider(
        [{"capacityProvider": "A", "base": 1, "weight": 0}, {"capacityProvider": "B"}], 1
    ) == ["A"]


def test_split_refuses_an_empty_strategy() -> None:
    with pytest.raises(InvalidParameterException):
        split_by_capacity_provider([], 1)
