"""Feasibility filters and placement constraints: which instance each one turns
away, with which ECS reason, and how a plan explains its failures.

The first table breaks one requirement per row on an otherwise fitting
instance; the tests after it cover the order of the pipeline, distinctInstance
and memberOf over a plan, the failures[] detail, and the validation of the
API's placementConstraints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.errors import InvalidParameterException
from openecs.domain.resources import Capacity, Reservation
from openecs.scheduler.constraints import MAX_CONSTRAINTS, parse_constraints
from openecs.scheduler.filters import (
    AGENT,
    ATTRIBUTE,
    DISTINCT_INSTANCE,
    INSTANCE_STATUS,
    MEMBER_OF,
    RESOURCE_CPU,
    RESOURCE_GPU,
    RESOURCE_MEMORY,
    RESOURCE_PORTS,
    build_filters,
    reject_reason,
)
from openecs.scheduler.placement import NO_INSTANCES, place_tasks
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest


def view(
    name: str = "i1",
    *,
    cpu: int = 1024,
    memory: int = 2048,
    tcp: frozenset[int] = frozenset(),
    udp: frozenset[int] = frozenset(),
    gpus: int = 0,
    connected: bool = True,
    status: str = "ACTIVE",
    attributes: dict[str, str | None] | None = None,
    groups: dict[str, int] | None = None,
) -> InstanceView:
    attrs: list[dict[str, Any]] = [
        {"name": k} if v is None else {"name": k, "value": v} for k, v in (attributes or {}).items()
    ]
    capacity = Capacity(cpu, memory, tcp, udp, gpus)
    instance = ContainerInstance(
        instance_id=name,
        arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/c/{name}",
        account_id="123456789012",
        region="us-east-1",
        cluster="c",
        ec2_instance_id=f"i-{name}",
        capacity=capacity,
        registered_at=1_600_000_000.0,
        status=status,
        agent_connected=connected,
        attributes=attrs,
    )
    counted = Counter(groups or {})
    return InstanceView(instance, capacity, counted, sum(counted.values()))


def request(
    count: int = 1,
    *,
    cpu: int = 256,
    memory: int = 512,
    tcp: frozenset[int] = frozenset(),
    udp: frozenset[int] = frozenset(),
    gpus: int = 0,
    group: str | None = "family:web",
    required: tuple[str, ...] = (),
    constraints: tuple[tuple[str, str | None], ...] = (),
    is_service: bool = False,
) -> PlacementRequest:
    return PlacementRequest(
        count=count,
        reservation=Reservation(cpu, memory, tcp, udp, gpus),
        group=group,
        launch_type="EC2",
        required_attributes=required,
        constraints=constraints,
        is_service=is_service,
    )


ONE_REQUIREMENT_BROKEN = [
    ("fits", view(), request(), None),
    ("agent disconnected", view(connected=False), request(), AGENT),
    ("draining", view(status="DRAINING"), request(), INSTANCE_STATUS),
    (
        "required attribute missing",
        view(attributes={"ecs.capability.ecr-auth": None}),
        request(required=("ecs.capability.ecr-auth", "ecs.capability.task-eni")),
        ATTRIBUTE,
    ),
    (
        "required attributes present",
        view(attributes={"ecs.capability.ecr-auth": None, "ecs.capability.task-eni": None}),
        request(required=("ecs.capability.ecr-auth", "ecs.capability.task-eni")),
        None,
    ),
    ("one CPU unit short", view(cpu=255), request(cpu=256), RESOURCE_CPU),
    ("CPU exactly enough", view(cpu=256), request(cpu=256), None),
    ("one MiB short", view(memory=511), request(memory=512), RESOURCE_MEMORY),
    ("memory exactly enough", view(memory=512), request(memory=512), None),
    ("oversubscribed already", view(cpu=-10), request(cpu=0), RESOURCE_CPU),
    (
        "tcp host port taken",
        view(tcp=frozenset({22, 80})),
        request(tcp=frozenset({80})),
        RESOURCE_PORTS,
    ),
    (
        "udp host port taken",
        view(udp=frozenset({53})),
        request(udp=frozenset({53})),
        RESOURCE_PORTS,
    ),
    (
        "same number, other protocol",
        view(tcp=frozenset({53})),
        request(udp=frozenset({53})),
        None,
    ),
    ("no GPU left", view(gpus=1), request(gpus=2), RESOURCE_GPU),
    ("GPUs enough", view(gpus=2), request(gpus=2), None),
    (
        "memberOf not satisfied",
        view(attributes={"ecs.instance-type": "m5.large"}),
        request(constraints=(("memberOf", "attribute:ecs.instance-type =~ t2.*"),)),
        MEMBER_OF,
    ),
    (
        "memberOf satisfied",
        view(attributes={"ecs.instance-type": "t2.micro"}),
        request(constraints=(("memberOf", "attribute:ecs.instance-type =~ t2.*"),)),
        None,
    ),
    (
        "distinctInstance: a running task of the service",
        view(groups={"service:web": 1}),
        request(group="service:web", constraints=(("distinctInstance", None),), is_service=True),
        DISTINCT_INSTANCE,
    ),
    (
        "distinctInstance: a running task of another service",
        view(groups={"service:db": 1}),
        request(group="service:web", constraints=(("distinctInstance", None),), is_service=True),
        None,
    ),
    (
        "distinctInstance: a standalone task only avoids its own request's tasks",
        view(groups={"family:web": 3}),
        request(constraints=(("distinctInstance", None),)),
        None,
    ),
]


@pytest.mark.parametrize(
    ("instance", "req", "reason"),
    [row[1:] for row in ONE_REQUIREMENT_BROKEN],
    ids=[row[0] for row in ONE_REQUIREMENT_BROKEN],
)
def test_each_filter_rejects_with_ecs_reason(
    instance: InstanceView, req: PlacementRequest, reason: str | None
) -> None:
    assert reject_reason(instance, req) == reason
    plan = place_tasks(ClusterView([instance]), req)
    if reason is None:
        assert plan.placements == [instance.instance_id]
        assert plan.failures == []
    else:
        assert plan.placements == []
        assert plan.rejections == {instance.instance_id: reason}
        assert [r for r, _ in plan.failures] == [reason]


def test_filters_run_in_ecs_order_and_the_first_failure_is_the_reason() -> None:
    hopeless = view(connected=False, status="DRAINING", cpu=0, memory=0)
    assert reject_reason(hopeless, request()) == AGENT
    assert reject_reason(replace(hopeless, instance=_connected(hopeless)), request()) == (
        INSTANCE_STATUS
    )
    short_everywhere = view(cpu=0, memory=0, tcp=frozenset({80}), gpus=0)
    req = request(tcp=frozenset({80}), gpus=1)
    assert [f.reason for f in build_filters(req)] == [
        AGENT,
        INSTANCE_STATUS,
        RESOURCE_CPU,
        RESOURCE_MEMORY,
        RESOURCE_PORTS,
        RESOURCE_GPU,
    ]
    assert reject_reason(short_everywhere, req) == RESOURCE_CPU


def _connected(v: InstanceView) -> ContainerInstance:
    return replace(v.instance, agent_connected=True)


def test_port_and_gpu_filters_only_run_for_tasks_that_need_them() -> None:
    reasons = [f.reason for f in build_filters(request())]
    assert RESOURCE_PORTS not in reasons and RESOURCE_GPU not in reasons


def test_constraints_come_after_resources_and_each_memberof_is_its_own_filter() -> None:
    req = request(
        constraints=(
            ("memberOf", "attribute:a exists"),
            ("distinctInstance", None),
            ("memberOf", "attribute:b exists"),
            ("distinctInstance", None),
        )
    )
    filters = build_filters(req)
    assert [f.reason for f in filters][-3:] == [MEMBER_OF, DISTINCT_INSTANCE, MEMBER_OF]
    assert [f.explain for f in filters if f.reason == MEMBER_OF] == [
        "does not satisfy memberOf(attribute:a exists)",
        "does not satisfy memberOf(attribute:b exists)",
    ]


def test_a_plan_stops_placing_on_an_instance_once_it_is_full() -> None:
    small = view("small", cpu=600, memory=4096)
    plan = place_tasks(ClusterView([small]), request(3, cpu=256))
    assert plan.placements == ["small", "small"]
    assert plan.rejections == {"small": RESOURCE_CPU}
    assert small.remaining.cpu == 600 - 2 * 256
    assert [reason for reason, _ in plan.failures] == [RESOURCE_CPU]


def test_static_host_ports_allow_one_task_per_instance() -> None:
    instances = [view("a"), view("b")]
    plan = place_tasks(ClusterView(instances), request(3, tcp=frozenset({8080})))
    assert sorted(plan.placements) == ["a", "b"]
    assert plan.rejections == {"a": RESOURCE_PORTS, "b": RESOURCE_PORTS}
    assert [reason for reason, _ in plan.failures] == [RESOURCE_PORTS]


def test_distinct_instance_puts_each_task_of_a_request_on_its_own_instance() -> None:
    instances = [view(n, groups={"family:web": 2}) for n in ("a", "b", "c")]
    plan = place_tasks(
        ClusterView(instances), request(4, constraints=(("distinctInstance", None),))
    )
    assert sorted(plan.placements) == ["a", "b", "c"]
    assert set(plan.rejections.values()) == {DISTINCT_INSTANCE}
    assert [reason for reason, _ in plan.failures] == [DISTINCT_INSTANCE]


def test_distinct_instance_for_a_service_avoids_its_running_tasks() -> None:
    instances = [view("a", groups={"service:web": 1}), view("b"), view("c")]
    req = request(
        3, group="service:web", constraints=(("distinctInstance", None),), is_service=True
    )
    plan = place_tasks(ClusterView(instances), req)
    assert sorted(plan.placements) == ["b", "c"]
    assert plan.rejections == {
        "a": DISTINCT_INSTANCE,
        "b": DISTINCT_INSTANCE,
        "c": DISTINCT_INSTANCE,
    }
    assert len(plan.failures) == 1


def test_memberof_on_task_group_is_re_evaluated_as_tasks_land() -> None:
    # Anti-affinity with its own group: at most one task of it per instance.
    instances = [view("a"), view("b")]
    req = request(3, constraints=(("memberOf", "not(task:group == family:web)"),))
    plan = place_tasks(ClusterView(instances), req)
    assert sorted(plan.placements) == ["a", "b"]
    assert plan.rejections == {"a": MEMBER_OF, "b": MEMBER_OF}


def test_memberof_on_running_tasks_count_caps_each_instance() -> None:
    instances = [view("a", groups={"other": 1}), view("b")]
    req = request(5, constraints=(("memberOf", "runningTasksCount < 2"),))
    plan = place_tasks(ClusterView(instances), req)
    assert Counter(plan.placements) == {"a": 1, "b": 2}
    assert len(plan.failures) == 2


def test_memberof_task_affinity_selects_instances_hosting_the_group() -> None:
    instances = [view("a"), view("b", groups={"databases": 1}), view("c")]
    req = request(3, constraints=(("memberOf", "task:group == databases"),))
    plan = place_tasks(ClusterView(instances), req)
    assert plan.placements == ["b", "b", "b"]
    assert plan.rejections == {"a": MEMBER_OF, "c": MEMBER_OF}


def test_rejections_name_the_filter_for_every_instance_for_a_dry_run() -> None:
    instances = [
        view("gone", connected=False),
        view("draining", status="DRAINING"),
        view("tiny", memory=100),
        view("other-type", attributes={"ecs.instance-type": "m5.large"}),
        view("fits", attributes={"ecs.instance-type": "t2.small"}),
    ]
    req = request(1, constraints=(("memberOf", "attribute:ecs.instance-type =~ t2.*"),))
    plan = place_tasks(ClusterView(instances), req)
    assert plan.placements == ["fits"]
    assert plan.rejections == {
        "gone": AGENT,
        "draining": INSTANCE_STATUS,
        "tiny": RESOURCE_MEMORY,
        "other-type": MEMBER_OF,
    }
    assert plan.explanations["tiny"] == "has insufficient memory available"
    assert plan.rejection_counts == Counter(
        {AGENT: 1, INSTANCE_STATUS: 1, RESOURCE_MEMORY: 1, MEMBER_OF: 1}
    )


def test_a_failure_reports_the_closest_match_and_how_many_each_filter_rejected() -> None:
    instances = [
        view("gone-1", connected=False),
        view("gone-2", connected=False),
        view("small-1", memory=256),
        view("small-2", memory=300),
        view("small-3", memory=128),
        view("busy", tcp=frozenset({80})),
    ]
    plan = place_tasks(ClusterView(instances), request(2, tcp=frozenset({80})))
    assert plan.placements == []
    assert len(plan.failures) == 2
    reason, detail = plan.failures[0]
    assert reason == RESOURCE_PORTS  # "busy" passed every filter but the ports one
    assert plan.closest == "busy"  # the failure's arn names the instance the detail names
    assert detail == (
        "No container instance met all of the task's requirements (6 checked; rejected "
        f"3 by {RESOURCE_MEMORY}, 2 by {AGENT}, 1 by {RESOURCE_PORTS}). The closest matching "
        "container instance busy has a host port the task needs already in use."
    )


def test_a_cluster_without_instances_fails_every_task() -> None:
    plan = place_tasks(ClusterView([]), request(2))
    assert plan.failures == [NO_INSTANCES, NO_INSTANCES]
    assert plan.placements == []


def test_the_plan_accounts_every_placement_in_the_view() -> None:
    a = view("a", cpu=1024, memory=1024, groups={"family:web": 1})
    plan = place_tasks(ClusterView([a]), request(2, cpu=100, memory=200, tcp=frozenset()))
    assert plan.placements == ["a", "a"]
    assert (a.remaining.cpu, a.remaining.memory) == (824, 624)
    assert a.groups["family:web"] == 3
    assert a.task_count == 3


# ------------------------------------------------------------------ parse_constraints


def test_parse_constraints_puts_the_task_definitions_first() -> None:
    parsed = parse_constraints(
        [{"type": "distinctInstance"}],
        task_definition=[{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
    )
    assert parsed == (
        ("memberOf", "attribute:ecs.os-type == linux"),
        ("distinctInstance", None),
    )
    assert parse_constraints(None) == ()


INVALID_CONSTRAINTS = [
    ([{"expression": "attribute:a exists"}], "constraint.type should not be null or empty."),
    ([{"type": ""}], "constraint.type should not be null or empty."),
    (
        [{"type": "distinctInstance", "expression": ""}],
        "distinctInstance expression should not be specified.",
    ),
    (
        [{"type": "distinctInstance", "expression": "attribute:a exists"}],
        "distinctInstance expression should not be specified.",
    ),
    ([{"type": "memberOf"}], "constraint.expression should not be null or empty."),
    (
        [{"type": "memberOf", "expression": "  "}],
        "constraint.expression should not be null or empty.",
    ),
    (
        [{"type": "sameZone"}],
        "Invalid placement constraint type: sameZone. "
        "Valid types are distinctInstance and memberOf.",
    ),
    (
        [{"type": "memberOf", "expression": "attribute:a =="}],
        "Invalid cluster query expression 'attribute:a ==': the expression ends where a value "
        "was expected (at character 15).",
    ),
    (
        [{"type": "distinctInstance"}] * (MAX_CONSTRAINTS + 1),
        "Too many placement constraints: 11. A task can have at most 10, counting those of "
        "its task definition.",
    ),
]


@pytest.mark.parametrize(("items", "message"), INVALID_CONSTRAINTS)
def test_invalid_constraints_are_refused_with_aws_wording(
    items: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(InvalidParameterException) as raised:
        parse_constraints(items)
    assert raised.value.message == message


def test_the_constraint_limit_counts_the_task_definitions_ones() -> None:
    mine = [{"type": "memberOf", "expression": "attribute:a exists"}] * 5
    parse_constraints(mine, task_definition=mine)
    with pytest.raises(InvalidParameterException):
        parse_constraints(mine, task_definition=[*mine, {"type": "distinctInstance"}])


# ------------------------------------------------------------------ one snapshot, many requests


def _binpack(count: int, seed: int = 5) -> PlacementRequest:
    return replace(request(count, memory=300), strategy=(("binpack", "memory"),), seed=seed)


def _cluster() -> ClusterView:
    return ClusterView([view(f"i{n}", memory=600 + 250 * n) for n in range(6)])


def test_placing_one_task_at_a_time_matches_one_request_for_them_all() -> None:
    together = place_tasks(_cluster(), _binpack(12))
    one_by_one = _cluster()
    plans = [place_tasks(one_by_one, _binpack(1)) for _ in range(12)]
    assert [p for plan in plans for p in plan.placements] == together.placements
    assert plans[-1].rejections == together.rejections
    randomly = [replace(_binpack(1), strategy=(), seed=9) for _ in range(12)]
    fresh = _cluster()
    assert [place_tasks(fresh, r).placements[0] for r in randomly] == place_tasks(
        _cluster(), replace(_binpack(12), strategy=(), seed=9)
    ).placements


def test_a_placement_made_behind_the_schedulers_back_is_taken_into_account() -> None:
    cluster = _cluster()
    assert place_tasks(cluster, _binpack(1)).placements == ["i0"]
    # StartTask, say, puts a task on i2 directly: i2 (1100 MiB) is now fuller than i1.
    cluster.instances[2].take(Reservation(memory=700), "family:batch")
    assert place_tasks(cluster, _binpack(2)).placements == ["i0", "i2"]
    cluster.instances[3].take(Reservation(memory=cluster.instances[3].remaining.memory), None)
    plan = place_tasks(cluster, _binpack(6))
    assert "i3" not in plan.placements
    assert plan.rejections["i3"] == RESOURCE_MEMORY


def test_distinct_instance_of_standalone_tasks_binds_within_one_request_only() -> None:
    cluster = _cluster()
    distinct = replace(_binpack(1), constraints=(("distinctInstance", None),))
    assert place_tasks(cluster, distinct).placements == ["i0"]
    assert place_tasks(cluster, replace(distinct, count=2)).placements == ["i0", "i1"]


def test_an_instance_swapped_in_the_snapshot_is_checked_before_it_is_used() -> None:
    cluster = _cluster()
    place_tasks(cluster, _binpack(1))
    full = view("i0", memory=0)
    cluster.instances[0] = full
    plan = place_tasks(cluster, _binpack(1))
    assert plan.placements == ["i1"]
    assert plan.rejections["i0"] == RESOURCE_MEMORY
    assert full.remaining.memory == 0


def test_a_request_of_another_shape_starts_its_own_pass() -> None:
    cluster = _cluster()
    place_tasks(cluster, _binpack(1))
    distinct = replace(_binpack(3), constraints=(("distinctInstance", None),))
    plan = place_tasks(cluster, distinct)
    assert plan.placements == ["i0", "i1", "i2"]
    assert place_tasks(cluster, _binpack(1)).placements == ["i1"]


def test_an_instance_added_to_the_snapshot_starts_a_new_pass() -> None:
    cluster = _cluster()
    place_tasks(cluster, _binpack(1))
    cluster.instances.append(view("tight", memory=300))
    assert place_tasks(cluster, _binpack(1)).placements == ["tight"]
    plan = place_tasks(cluster, _binpack(40))
    assert len(plan.failures) > 0 and set(plan.rejections) == {
        v.instance_id for v in cluster.instances
    }


def test_a_constraint_handed_to_the_scheduler_raw_is_still_validated() -> None:
    for bad in [("sameZone", None), ("memberOf", None), ("memberOf", "attribute:a ==")]:
        with pytest.raises(InvalidParameterException):
            build_filters(request(constraints=(bad,)))
