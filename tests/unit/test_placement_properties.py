"""Invariants of placement, over clusters and requests Hypothesis makes up.

Each property replays the plan against a copy of the snapshot taken before
placing (never against the view the scheduler updated), so the scheduler's
own bookkeeping cannot vouch for itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.errors import InvalidParameterException
from openecs.domain.resources import Capacity, Reservation
from openecs.scheduler.capacity_providers import split_by_capacity_provider
from openecs.scheduler.filters import reject_reason
from openecs.scheduler.placement import Plan, place_tasks
from openecs.scheduler.query_language import compile_expression
from openecs.scheduler.strategies import Strategy
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest

AZ = "attribute:ecs.availability-zone"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
GROUP = "service:web"
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


@dataclass(frozen=True)
class Spec:
    """What an instance looks like before the plan (the oracle's copy)."""

    name: str
    cpu: int
    memory: int
    gpus: int
    tcp: frozenset[int]
    udp: frozenset[int]
    zone: str
    rack: str | None
    connected: bool
    status: str
    running: int  # tasks of GROUP already there

    @property
    def ports(self) -> set[tuple[str, int]]:
        return held(Reservation(tcp_ports=self.tcp, udp_ports=self.udp))

    def view(self) -> InstanceView:
        attributes: list[dict[str, Any]] = [{"name": "ecs.availability-zone", "value": self.zone}]
        if self.rack is not None:
            attributes.append({"name": "rack", "value": self.rack})
        capacity = Capacity(self.cpu, self.memory, self.tcp, self.udp, self.gpus)
        instance = ContainerInstance(
            instance_id=self.name,
            arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/c/{self.name}",
            account_id="123456789012",
            region="us-east-1",
            cluster="c",
            ec2_instance_id=f"i-{self.name}",
            capacity=capacity,
            registered_at=1_600_000_000.0,
            status=self.status,
            agent_connected=self.connected,
            attributes=attributes,
        )
        groups = Counter({GROUP: self.running}) if self.running else Counter()
        return InstanceView(instance, capacity, groups, self.running)


@st.composite
def specs(draw: st.DrawFn, *, ample: bool = False, healthy: bool = False) -> list[Spec]:
    count = draw(st.integers(1, 12))
    found = []
    for n in range(count):
        found.append(
            Spec(
                name=f"i{n}",
                cpu=10**6 if ample else draw(st.integers(0, 4096)),
                memory=10**7 if ample else draw(st.integers(0, 8192)),
                gpus=draw(st.integers(0, 2)),
                tcp=frozenset(draw(st.sets(st.sampled_from([22, 80, 443, 8080]), max_size=2))),
                udp=frozenset(draw(st.sets(st.sampled_from([53, 80, 5353]), max_size=2))),
                zone=draw(st.sampled_from(ZONES)),
                rack=draw(st.sampled_from([None, "r1", "r2"])),
                connected=True if healthy else draw(st.booleans()),
                status="ACTIVE" if healthy else draw(st.sampled_from(["ACTIVE", "DRAINING"])),
                running=draw(st.integers(0, 3)),
            )
        )
    return found


RULES = [
    ("binpack", "cpu"),
    ("binpack", "memory"),
    ("spread", "instanceId"),
    ("spread", AZ),
    ("spread", "attribute:rack"),
    ("random", None),
]
chains = st.lists(st.sampled_from(RULES), max_size=5).map(tuple)
EXPRESSIONS = [
    "attribute:ecs.availability-zone != us-east-1c",
    "attribute:rack exists",
    "not(task:group == service:web)",
    "runningTasksCount < 4",
    "attribute:ecs.availability-zone in [us-east-1a, us-east-1b] or attribute:rack == r2",
]
constraint_lists = st.lists(
    st.one_of(
        st.just(("distinctInstance", None)),
        st.sampled_from(EXPRESSIONS).map(lambda e: ("memberOf", e)),
    ),
    max_size=3,
).map(tuple)
reservations = st.builds(
    Reservation,
    cpu=st.integers(0, 1024),
    memory=st.integers(1, 2048),
    tcp_ports=st.sets(st.sampled_from([80, 443, 9000]), max_size=2).map(frozenset),
    # The same numbers over UDP too: a port is taken only over its own protocol.
    udp_ports=st.sets(st.sampled_from([53, 80]), max_size=2).map(frozenset),
    gpus=st.integers(0, 1),
)


def held(res: Reservation) -> set[tuple[str, int]]:
    """The (protocol, host port) pairs a reservation holds."""
    return {("tcp", p) for p in res.tcp_ports} | {("udp", p) for p in res.udp_ports}


def plan_for(
    cluster: list[Spec],
    reservation: Reservation,
    count: int,
    strategy: Strategy = (),
    constraints: tuple[tuple[str, str | None], ...] = (),
    *,
    seed: int = 0,
    is_service: bool = False,
) -> Plan:
    req = PlacementRequest(
        count=count,
        reservation=reservation,
        group=GROUP,
        launch_type="EC2",
        strategy=strategy,
        constraints=constraints,
        seed=seed,
        is_service=is_service,
    )
    return place_tasks(ClusterView([s.view() for s in cluster]), req)


@PROPERTY_SETTINGS
@given(
    cluster=specs(),
    reservation=reservations,
    count=st.integers(1, 25),
    strategy=chains,
    constraints=constraint_lists,
    seed=st.integers(0, 2**32),
    is_service=st.booleans(),
)
def test_a_plan_never_oversubscribes_cpu_memory_gpus_or_ports(
    cluster: list[Spec],
    reservation: Reservation,
    count: int,
    strategy: Strategy,
    constraints: tuple[tuple[str, str | None], ...],
    seed: int,
    is_service: bool,
) -> None:
    plan = plan_for(
        cluster, reservation, count, strategy, constraints, seed=seed, is_service=is_service
    )
    assert len(plan.placements) + len(plan.failures) == count
    by_name = {s.name: s for s in cluster}
    for name, tasks in Counter(plan.placements).items():
        spec = by_name[name]
        assert spec.connected and spec.status == "ACTIVE"
        assert tasks * reservation.cpu <= spec.cpu
        assert tasks * reservation.memory <= spec.memory
        assert tasks * reservation.gpus <= spec.gpus
        if reservation.tcp_ports or reservation.udp_ports:
            assert tasks == 1
            assert not held(reservation) & spec.ports
    if plan.failures:
        # A task fails only when no instance can take it: each one says why.
        assert set(plan.rejections) == set(by_name)
        # The failure is the closest instance's, which its detail names.
        reason, detail = plan.failures[0]
        assert plan.closest is not None and plan.rejections[plan.closest] == reason
        assert f"The closest matching container instance {plan.closest} " in detail


@PROPERTY_SETTINGS
@given(
    cluster=specs(ample=True),
    count=st.integers(1, 15),
    strategy=chains,
    seed=st.integers(0, 2**32),
    is_service=st.booleans(),
)
def test_distinct_instance_never_puts_two_tasks_on_one_instance(
    cluster: list[Spec], count: int, strategy: Strategy, seed: int, is_service: bool
) -> None:
    plan = plan_for(
        cluster,
        Reservation(1, 1),
        count,
        strategy,
        (("distinctInstance", None),),
        seed=seed,
        is_service=is_service,
    )
    assert len(set(plan.placements)) == len(plan.placements)
    usable = [s for s in cluster if s.connected and s.status == "ACTIVE"]
    if is_service:  # nor next to a task of the service already running
        assert all(s.running == 0 for s in cluster if s.name in plan.placements)
        usable = [s for s in usable if s.running == 0]
    assert len(plan.placements) == min(count, len(usable))


def _spread_is_even(final: dict[Any, int], landed: set[Any]) -> bool:
    """Water-filling: a task only ever went to a value with the fewest tasks."""
    lowest = min(final.values())
    return all(final[value] <= lowest + 1 for value in landed)


@PROPERTY_SETTINGS
@given(
    cluster=specs(ample=True, healthy=True),
    count=st.integers(1, 40),
    field=st.sampled_from([AZ, "attribute:rack", "instanceId"]),
    tail=st.lists(st.sampled_from(RULES), max_size=3).map(tuple),
    seed=st.integers(0, 2**32),
)
def test_spread_keeps_counts_per_value_within_one(
    cluster: list[Spec], count: int, field: str, tail: Strategy, seed: int
) -> None:
    plan = plan_for(cluster, Reservation(1, 1), count, (("spread", field), *tail), seed=seed)
    assert len(plan.placements) == count

    def value(spec: Spec) -> Any:
        if field == "instanceId":
            return spec.name
        return spec.zone if field == AZ else spec.rack

    by_name = {s.name: s for s in cluster}
    final: Counter[Any] = Counter()
    for spec in cluster:
        final[value(spec)] += spec.running
    landed = set()
    for name in plan.placements:
        final[value(by_name[name])] += 1
        landed.add(value(by_name[name]))
    assert _spread_is_even(final, landed)
    if all(s.running == 0 for s in cluster):
        assert max(final.values()) - min(final.values()) <= 1


@PROPERTY_SETTINGS
@given(cluster=specs(ample=True, healthy=True), count=st.integers(1, 40), seed=st.integers(0, 99))
def test_spread_by_zone_then_instance_is_even_at_both_levels(
    cluster: list[Spec], count: int, seed: int
) -> None:
    empty = [
        Spec(s.name, s.cpu, s.memory, 0, frozenset(), frozenset(), s.zone, None, True, "ACTIVE", 0)
        for s in cluster
    ]
    plan = plan_for(empty, Reservation(1, 1), count, (("spread", AZ), ("spread", "instanceId")))
    zone_of = {s.name: s.zone for s in empty}
    per_zone = Counter({zone: 0 for zone in zone_of.values()})
    per_zone.update(zone_of[name] for name in plan.placements)
    assert max(per_zone.values()) - min(per_zone.values()) <= 1
    for zone in per_zone:
        here = Counter({s.name: 0 for s in empty if s.zone == zone})
        here.update(name for name in plan.placements if zone_of[name] == zone)
        assert max(here.values()) - min(here.values()) <= 1


@dataclass
class Left:
    cpu: int
    memory: int
    gpus: int
    ports: set[tuple[str, int]]


@PROPERTY_SETTINGS
@given(
    cluster=specs(),
    reservation=reservations,
    count=st.integers(1, 25),
    field=st.sampled_from(["cpu", "memory"]),
    seed=st.integers(0, 2**32),
)
def test_binpack_fills_the_fullest_feasible_instance_first(
    cluster: list[Spec], reservation: Reservation, count: int, field: str, seed: int
) -> None:
    plan = plan_for(cluster, reservation, count, (("binpack", field),), seed=seed)
    left = {s.name: Left(s.cpu, s.memory, s.gpus, s.ports) for s in cluster}
    healthy = {s.name for s in cluster if s.connected and s.status == "ACTIVE"}

    def fits(name: str) -> bool:
        room = left[name]
        return (
            reservation.cpu <= room.cpu
            and reservation.memory <= room.memory
            and reservation.gpus <= room.gpus
            and not held(reservation) & room.ports
        )

    def measure(name: str) -> int:
        return left[name].cpu if field == "cpu" else left[name].memory

    for name in plan.placements:
        feasible = [n for n in healthy if fits(n)]
        assert name in feasible
        assert measure(name) == min(measure(n) for n in feasible)
        room = left[name]
        room.cpu -= reservation.cpu
        room.memory -= reservation.memory
        room.gpus -= reservation.gpus
        room.ports |= held(reservation)
    if plan.failures:
        assert not [n for n in healthy if fits(n)]


@PROPERTY_SETTINGS
@given(
    weights=st.lists(st.integers(0, 5), min_size=1, max_size=4),
    base=st.integers(0, 5),
    count=st.integers(0, 60),
)
def test_capacity_providers_get_their_base_then_at_least_their_share(
    weights: list[int], base: int, count: int
) -> None:
    if len(weights) > 1 and not any(weights):
        weights[0] = 1
    strategy = [
        {"capacityProvider": f"cp{n}", "weight": w, "base": base if n == 0 else 0}
        for n, w in enumerate(weights)
    ]
    chosen = Counter(split_by_capacity_provider(strategy, count))
    assert sum(chosen.values()) == count
    assert chosen["cp0"] >= min(base, count)
    beyond = count - min(base, count)
    total = sum(weights)
    for n, weight in enumerate(weights):
        mine = chosen[f"cp{n}"] - (min(base, count) if n == 0 else 0)
        if len(weights) > 1 and weight == 0:
            assert mine == 0
        elif total:
            assert mine >= beyond * weight // total


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("attribute:ecs.x =!~<>[](),'\"&|nod 1*")), max_size=60
    )
)
def test_any_text_either_compiles_or_is_an_invalid_parameter(text: str) -> None:
    try:
        compiled = compile_expression(text)
    except InvalidParameterException:
        return
    negated = compile_expression(f"not({text})")
    sample = Spec("s", 1, 1, 0, frozenset(), "us-east-1a", "r1", True, "ACTIVE", 1).view()
    assert negated.matches(sample) is not compiled.matches(sample)


steps = st.lists(
    st.one_of(
        st.tuples(st.just("binpack"), st.integers(1, 4)),
        st.tuples(st.just("spread"), st.integers(1, 4)),
        st.tuples(st.just("distinct"), st.integers(1, 4)),
        st.tuples(st.just("outside"), st.integers(0, 11)),
    ),
    min_size=1,
    max_size=12,
)


@PROPERTY_SETTINGS
@given(cluster=specs(), steps=steps, seed=st.integers(0, 2**32))
def test_many_requests_on_one_snapshot_never_oversubscribe_it(
    cluster: list[Spec], steps: list[tuple[str, int]], seed: int
) -> None:
    """Requests of several shapes, and placements made outside the scheduler,
    share one snapshot: each request sees every placement made before it."""
    snapshot = ClusterView([s.view() for s in cluster])
    small = Reservation(128, 256, frozenset({443}), frozenset({53}))
    large = Reservation(512, 1024)
    left = {s.name: Left(s.cpu, s.memory, s.gpus, s.ports) for s in cluster}
    healthy = {s.name for s in cluster if s.connected and s.status == "ACTIVE"}

    def account(name: str, res: Reservation) -> None:
        room = left[name]
        assert res.cpu <= room.cpu and res.memory <= room.memory
        assert not held(res) & room.ports
        room.cpu -= res.cpu
        room.memory -= res.memory
        room.ports |= held(res)

    for kind, arg in steps:
        if kind == "outside":  # e.g. StartTask on a named instance
            target = snapshot.instances[arg % len(cluster)]
            if reject_reason(target, _request(1, large, (), (), seed)) is None:
                target.take(large, "family:batch")
                account(target.instance_id, large)
            continue
        if kind == "binpack":
            req = _request(arg, small, (("binpack", "memory"),), (), seed)
        elif kind == "spread":
            req = _request(arg, large, (("spread", AZ), ("spread", "instanceId")), (), seed)
        else:
            req = _request(arg, large, (), (("distinctInstance", None),), seed)
        plan = place_tasks(snapshot, req)
        for name in plan.placements:
            assert name in healthy
            if kind == "binpack":
                feasible = [
                    n
                    for n in healthy
                    if small.cpu <= left[n].cpu
                    and small.memory <= left[n].memory
                    and not held(small) & left[n].ports
                ]
                assert left[name].memory == min(left[n].memory for n in feasible)
            account(name, req.reservation)
        if kind == "distinct":
            assert len(set(plan.placements)) == len(plan.placements)
        if plan.failures:
            assert set(plan.rejections) == set(left)


def _request(
    count: int,
    reservation: Reservation,
    strategy: Strategy,
    constraints: tuple[tuple[str, str | None], ...],
    seed: int,
) -> PlacementRequest:
    return PlacementRequest(
        count=count,
        reservation=reservation,
        group=GROUP,
        launch_type="EC2",
        strategy=strategy,
        constraints=constraints,
        seed=seed,
    )
