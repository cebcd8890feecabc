"""The scheduler end to end: boto3 → a real `openecs server` → real `openecs fleet`
processes (simulated container instances of varied sizes over three Availability
Zones, whose tasks report RUNNING at once, without Docker).

Expectations are computed from what the API says at the time (registered and
remaining resources, attributes), never from the fleet's generator, so the
tests hold whatever sizes the fleet draws. One server serves the module, with
a short agent timeout for the disconnected-fleet test; each concern gets a
cluster and a fleet of its own. Waits poll with deadlines; nothing sleeps to
synchronise.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openecs.scheduler.capacity_providers import split_by_capacity_provider
from tests.support.server import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    FleetProcess,
    ServerProcess,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scheduler-e2e")]

AGENT_TIMEOUT = 6.0
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
MEMBER_OF = "MemberOf placement constraint unsatisfied."
DISTINCT = "DistinctInstance placement constraint unsatisfied."
CLOSEST = re.compile(r"The closest matching container instance (\S+) (.+)\.$")


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("scheduler-server"),
        extra_args=["--agent-timeout", str(AGENT_TIMEOUT)],
    ).start(timeout=120)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ecs(server: ServerProcess) -> Any:
    return server.client("ecs")


@dataclass
class Cluster:
    name: str
    fleet: FleetProcess
    arns: list[str]


def start_fleet(
    server: ServerProcess, ecs: Any, tmp: Path, name: str, instances: int, seed: int
) -> Cluster:
    ecs.create_cluster(clusterName=name)
    fleet = FleetProcess(server.endpoint, name, instances, tmp / f"{name}.log", seed=seed)
    fleet.start()
    try:
        arns = fleet.wait_registered(ecs)
    except Exception:
        fleet.stop()
        raise
    return Cluster(name, fleet, arns)


@pytest.fixture(scope="module")
def shared(
    server: ServerProcess, ecs: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """30 instances (10 per zone) that most tests place on; each test uses a task group
    of its own and reads the capacity left when it starts."""
    cluster = start_fleet(server, ecs, tmp_path_factory.mktemp("fleets"), "sched", 30, seed=11)
    yield cluster
    cluster.fleet.stop()


def register(
    ecs: Any,
    family: str,
    *,
    cpu: int = 64,
    memory: int = 128,
    task_size: tuple[str, str] | None = None,
    **extra: Any,
) -> str:
    """A one-container task definition (of `task_size` CPU and memory, if given);
    `container` adds to the container, the rest of `extra` to the task definition."""
    if task_size is not None:
        extra.update(cpu=task_size[0], memory=task_size[1])
    container: dict[str, Any] = {
        "name": "app",
        "image": "busybox",
        "cpu": cpu,
        "memory": memory,
        "essential": True,
    }
    container.update(extra.pop("container", {}))
    td = ecs.register_task_definition(family=family, containerDefinitions=[container], **extra)
    return str(td["taskDefinition"]["taskDefinitionArn"])


@dataclass
class Instance:
    arn: str
    ec2_id: str
    zone: str
    status: str
    connected: bool
    cpu: int
    memory: int
    free_cpu: int
    free_memory: int
    # remainingResources' PORTS / PORTS_UDP: the host ports in use, as ECS lists them.
    tcp_in_use: set[str]
    udp_in_use: set[str]
    gpus: int
    attributes: dict[str, str | None]


def _resource(items: list[dict[str, Any]], name: str, default: Any = None) -> Any:
    found = next((r for r in items if r["name"] == name), None)
    if found is None:
        return default
    if found["type"] == "STRINGSET":
        return set(found.get("stringSetValue") or ())
    return found["integerValue"]


def _count(value: int | set[str]) -> int:
    """A GPU resource's count: an INTEGER, or a STRINGSET of GPU ids."""
    return value if isinstance(value, int) else len(value)


def describe(ecs: Any, cluster: str, arns: list[str]) -> dict[str, Instance]:
    out: dict[str, Instance] = {}
    for start in range(0, len(arns), 100):
        found = ecs.describe_container_instances(
            cluster=cluster, containerInstances=arns[start : start + 100]
        )
        assert not found["failures"]
        for ci in found["containerInstances"]:
            attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
            out[ci["containerInstanceArn"]] = Instance(
                arn=ci["containerInstanceArn"],
                ec2_id=ci["ec2InstanceId"],
                zone=str(attrs["ecs.availability-zone"]),
                status=ci["status"],
                connected=ci["agentConnected"],
                cpu=_resource(ci["registeredResources"], "CPU"),
                memory=_resource(ci["registeredResources"], "MEMORY"),
                free_cpu=_resource(ci["remainingResources"], "CPU"),
                free_memory=_resource(ci["remainingResources"], "MEMORY"),
                tcp_in_use=_resource(ci["remainingResources"], "PORTS"),
                udp_in_use=_resource(ci["remainingResources"], "PORTS_UDP"),
                gpus=_count(_resource(ci["registeredResources"], "GPU", 0)),
                attributes=attrs,
            )
    return out


def run_task(ecs: Any, cluster: str, td: str, count: int = 1, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = ecs.run_task(cluster=cluster, taskDefinition=td, count=count, **params)
    return result


def placed_on(result: dict[str, Any]) -> list[str]:
    return [t["containerInstanceArn"] for t in result["tasks"]]


def group_tasks(ecs: Any, cluster: str, group: str) -> list[dict[str, Any]]:
    """Every not-stopped task of the cluster in `group`."""
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster):
        arns += page["taskArns"]
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
    return [t for t in tasks if t["group"] == group and t["lastStatus"] != "STOPPED"]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def closest_named(failure: dict[str, str]) -> tuple[str, str]:
    """(instance id, why) of the closest match a failure's detail names; its arn
    must name the same instance."""
    found = CLOSEST.search(failure["detail"])
    assert found is not None, failure
    assert failure["arn"].endswith("/" + found.group(1)), failure
    return found.group(1), found.group(2)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def openecs(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openecs.cli.main", *args, "--endpoint-url", server.endpoint],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def agent_call(server: ServerProcess, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A signed call on the agent channel, as `openecs agent` makes it."""
    url = server.endpoint + path
    body = json.dumps(payload).encode()
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ecs", REGION).add_auth(request)
    response = httpx.post(url, content=body, headers=dict(request.headers.items()), timeout=30)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


# --- strategies -----------------------------------------------------------------------


def test_binpack_memory_places_each_task_on_the_instance_with_least_memory_left(
    ecs: Any, shared: Cluster
) -> None:
    td = register(ecs, "binpack", cpu=16, memory=700)
    for _ in range(12):
        before = describe(ecs, shared.name, shared.arns)
        fits = [i for i in before.values() if i.free_memory >= 700 and i.free_cpu >= 16]
        least = min(i.free_memory for i in fits)
        result = run_task(
            ecs,
            shared.name,
            td,
            group="binpack",
            placementStrategy=[{"type": "binpack", "field": "memory"}],
        )
        [arn] = placed_on(result)
        assert before[arn].free_memory == least, "binpack chose an instance with more left"
    # Ten at once fill the fullest instances first too: each lands where, after the
    # ones before it, the least memory that still fits the task was left.
    before = describe(ecs, shared.name, shared.arns)
    free = {arn: i.free_memory for arn, i in before.items() if i.free_cpu >= 160}
    result = run_task(
        ecs,
        shared.name,
        td,
        count=10,
        group="binpack",
        placementStrategy=[{"type": "binpack", "field": "memory"}],
    )
    for arn in placed_on(result):
        assert free[arn] == min(m for m in free.values() if m >= 700)
        free[arn] -= 700


def test_spread_by_zone_then_instance_balances_both(ecs: Any, shared: Cluster) -> None:
    td = register(ecs, "spread")
    spread = [
        {"type": "spread", "field": "attribute:ecs.availability-zone"},
        {"type": "spread", "field": "instanceId"},
    ]
    zone_of = {arn: i.zone for arn, i in describe(ecs, shared.name, shared.arns).items()}
    per_zone: Counter[str] = Counter()
    per_instance: Counter[str] = Counter()
    for _ in range(5):
        result = run_task(ecs, shared.name, td, count=9, group="spread", placementStrategy=spread)
        assert not result["failures"]
        for arn in placed_on(result):
            per_zone[zone_of[arn]] += 1
            per_instance[arn] += 1
        assert max(per_zone.values()) - min(per_zone[z] for z in ZONES) <= 1
    # 45 tasks over 30 instances: one or two each, never three before every one has two.
    counts = [per_instance[arn] for arn in shared.arns]
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == 45


# --- constraints and the cluster query language ---------------------------------------


def test_distinct_instance_puts_each_task_of_the_request_on_its_own_instance(
    ecs: Any, shared: Cluster
) -> None:
    td = register(ecs, "distinct")
    result = run_task(
        ecs,
        shared.name,
        td,
        count=10,
        group="distinct",
        placementConstraints=[{"type": "distinctInstance"}],
    )
    assert len(set(placed_on(result))) == 10
    # One task more than rack r1 has instances: the last one has nowhere to go.
    instances = describe(ecs, shared.name, shared.arns)
    r1 = [
        arn
        for arn, i in instances.items()
        if i.attributes.get("rack") == "r1" and i.free_memory >= 128 and i.free_cpu >= 64
    ]
    result = run_task(
        ecs,
        shared.name,
        td,
        count=len(r1) + 1,
        group="distinct-r1",
        placementConstraints=[
            {"type": "memberOf", "expression": "attribute:rack == r1"},
            {"type": "distinctInstance"},
        ],
    )
    assert sorted(placed_on(result)) == sorted(r1)
    assert [f["reason"] for f in result["failures"]] == [DISTINCT]


@pytest.mark.parametrize(
    ("expression", "selects"),
    [
        ("attribute:rack == r3", lambda i: i.attributes.get("rack") == "r3"),
        (
            "attribute:ecs.instance-type =~ (m5|r5).*",
            lambda i: re.fullmatch(r"(m5|r5).*", str(i.attributes["ecs.instance-type"])),
        ),
        (
            "attribute:ecs.availability-zone in [us-east-1a, us-east-1c] and "
            "not(attribute:rack in [r0, r2])",
            lambda i: (
                i.zone in ("us-east-1a", "us-east-1c")
                and i.attributes.get("rack") not in ("r0", "r2")
            ),
        ),
        ("attribute:openecs.simulated exists", lambda i: True),
        ("attribute:stack exists", lambda i: False),
    ],
)
def test_member_of_and_the_list_filter_select_the_same_instances(
    ecs: Any, shared: Cluster, expression: str, selects: Callable[[Instance], bool]
) -> None:
    instances = describe(ecs, shared.name, shared.arns)
    expected = sorted(arn for arn, i in instances.items() if selects(i))
    listed = ecs.list_container_instances(cluster=shared.name, filter=expression)
    assert sorted(listed["containerInstanceArns"]) == expected
    td = register(ecs, "member-of")
    result = run_task(
        ecs,
        shared.name,
        td,
        count=10,
        group="member-of",
        placementConstraints=[{"type": "memberOf", "expression": expression}],
    )
    if expected:
        assert len(result["tasks"]) == 10
        assert set(placed_on(result)) <= set(expected)
    else:
        assert not result["tasks"]
        assert {f["reason"] for f in result["failures"]} == {MEMBER_OF}
        assert len(result["failures"]) == 10


def test_member_of_task_group_follows_the_tasks_of_another_group(ecs: Any, shared: Cluster) -> None:
    td = register(ecs, "follower")
    leaders = run_task(
        ecs,
        shared.name,
        td,
        count=3,
        group="leader",
        placementConstraints=[{"type": "distinctInstance"}],
    )
    led = set(placed_on(leaders))
    listed = ecs.list_container_instances(cluster=shared.name, filter="task:group == leader")
    assert set(listed["containerInstanceArns"]) == led
    result = run_task(
        ecs,
        shared.name,
        td,
        count=10,
        group="follower",
        placementConstraints=[{"type": "memberOf", "expression": "task:group == leader"}],
    )
    assert len(result["tasks"]) == 10
    assert set(placed_on(result)) <= led


def test_member_of_and_the_list_filter_match_custom_attributes_as_they_change(
    ecs: Any, shared: Cluster
) -> None:
    instances = describe(ecs, shared.name, shared.arns)
    roomy = [a for a, i in sorted(instances.items()) if i.free_memory >= 1280 and i.free_cpu >= 640]
    gold = roomy[:3]

    def tier(arn: str, value: str | None = None) -> dict[str, str]:
        item = {"name": "tier", "targetType": "container-instance", "targetId": arn}
        return item if value is None else {**item, "value": value}

    ecs.put_attributes(cluster=shared.name, attributes=[tier(arn, "gold") for arn in gold])
    expression = "attribute:tier == gold"
    listed = ecs.list_container_instances(cluster=shared.name, filter=expression)
    assert sorted(listed["containerInstanceArns"]) == sorted(gold)
    td = register(ecs, "custom-attributes")
    constraint = [{"type": "memberOf", "expression": expression}]
    result = run_task(ecs, shared.name, td, count=6, placementConstraints=constraint)
    assert len(result["tasks"]) == 6 and set(placed_on(result)) <= set(gold)
    # Taken off one instance: the very next placement no longer goes there.
    ecs.delete_attributes(cluster=shared.name, attributes=[tier(gold[0])])
    result = run_task(ecs, shared.name, td, count=6, placementConstraints=constraint)
    assert len(result["tasks"]) == 6 and set(placed_on(result)) <= set(gold[1:])
    ecs.put_attributes(cluster=shared.name, attributes=[tier(gold[1], "silver")])
    result = run_task(ecs, shared.name, td, count=4, placementConstraints=constraint)
    assert set(placed_on(result)) == {gold[2]}


@pytest.mark.parametrize(
    "expression",
    ["attribute:rack ==", "attribute:rack = r1", "(attribute:rack == r1", "colour == red"],
)
def test_an_invalid_expression_is_refused_with_invalid_parameter(
    ecs: Any, shared: Cluster, expression: str
) -> None:
    td = register(ecs, "invalid-expression")
    with pytest.raises(ClientError) as refused:
        run_task(
            ecs,
            shared.name,
            td,
            placementConstraints=[{"type": "memberOf", "expression": expression}],
        )
    assert error_code(refused) == "InvalidParameterException"
    with pytest.raises(ClientError) as refused:
        ecs.list_container_instances(cluster=shared.name, filter=expression)
    assert error_code(refused) == "InvalidParameterException"


# --- failures -------------------------------------------------------------------------


def test_tasks_that_fit_nowhere_fail_with_the_reason_ecs_gives(ecs: Any, shared: Cluster) -> None:
    instances = describe(ecs, shared.name, shared.arns)
    most_memory = max(i.memory for i in instances.values())
    most_cpu = max(i.cpu for i in instances.values())
    cases = [
        (register(ecs, "too-much-memory", memory=most_memory + 1), "RESOURCE:MEMORY"),
        (register(ecs, "too-much-cpu", cpu=most_cpu + 1), "RESOURCE:CPU"),
    ]
    for td, reason in cases:
        result = run_task(ecs, shared.name, td, count=3)
        assert not result["tasks"]
        assert [f["reason"] for f in result["failures"]] == [reason] * 3
        # ECS names the container instance that came closest.
        assert all(f["arn"] in instances for f in result["failures"])
    td = register(ecs, "nowhere")
    result = run_task(
        ecs,
        shared.name,
        td,
        count=2,
        placementConstraints=[{"type": "memberOf", "expression": "attribute:rack == r99"}],
    )
    assert [f["reason"] for f in result["failures"]] == [MEMBER_OF] * 2


def test_start_task_places_on_the_named_instances_only(ecs: Any, shared: Cluster) -> None:
    instances = describe(ecs, shared.name, shared.arns)
    small = min(instances.values(), key=lambda i: i.free_memory)
    roomy = sorted(
        (i for i in instances.values() if i.free_memory > small.free_memory),
        key=lambda i: i.arn,
    )[:2]
    td = register(ecs, "start-task", cpu=16, memory=small.free_memory + 1)
    missing = shared.arns[0].rsplit("/", 1)[0] + "/00000000000000000000000000000000"
    result = ecs.start_task(
        cluster=shared.name,
        taskDefinition=td,
        containerInstances=[roomy[0].arn, roomy[1].arn, small.arn, missing],
    )
    assert sorted(placed_on(result)) == sorted(i.arn for i in roomy)
    failures = {f["arn"]: f["reason"] for f in result["failures"]}
    assert failures == {small.arn: "RESOURCE:MEMORY", missing: "MISSING"}


def test_draining_instances_get_no_placements(ecs: Any, shared: Cluster) -> None:
    draining = shared.arns[:25]
    ecs.update_container_instances_state(
        cluster=shared.name, containerInstances=draining[:10], status="DRAINING"
    )
    ecs.update_container_instances_state(
        cluster=shared.name, containerInstances=draining[10:20], status="DRAINING"
    )
    ecs.update_container_instances_state(
        cluster=shared.name, containerInstances=draining[20:], status="DRAINING"
    )
    try:
        td = register(ecs, "while-draining")
        placed: list[str] = []
        for _ in range(3):
            placed += placed_on(run_task(ecs, shared.name, td, count=10, group="draining"))
        assert len(placed) == 30
        assert not set(placed) & set(draining)
        active = shared.arns[25:]
        all_drained = ecs.update_container_instances_state(
            cluster=shared.name, containerInstances=active, status="DRAINING"
        )
        assert {c["status"] for c in all_drained["containerInstances"]} == {"DRAINING"}
        result = run_task(ecs, shared.name, td, count=2)
        assert [f["reason"] for f in result["failures"]] == ["INSTANCE_STATUS"] * 2
    finally:
        for start in range(0, len(shared.arns), 10):
            ecs.update_container_instances_state(
                cluster=shared.name,
                containerInstances=shared.arns[start : start + 10],
                status="ACTIVE",
            )
    assert run_task(ecs, shared.name, td)["tasks"]


def test_a_frozen_fleet_is_shown_disconnected_gets_no_tasks_and_comes_back(
    server: ServerProcess, ecs: Any, tmp_path: Path
) -> None:
    cluster = start_fleet(server, ecs, tmp_path, "frozen", 5, seed=23)
    try:
        td = register(ecs, "frozen")
        assert len(run_task(ecs, cluster.name, td, count=2)["tasks"]) == 2
        cluster.fleet.signal(signal.SIGSTOP)

        def connected() -> set[bool]:
            return {i.connected for i in describe(ecs, cluster.name, cluster.arns).values()}

        wait_for("the fleet shown disconnected", lambda: connected() == {False}, 4 * AGENT_TIMEOUT)
        result = run_task(ecs, cluster.name, td, count=2)
        assert not result["tasks"]
        assert [f["reason"] for f in result["failures"]] == ["AGENT", "AGENT"]
        # Its next poll is its heartbeat: connected again without registering anew.
        cluster.fleet.signal(signal.SIGCONT)
        wait_for("the fleet reconnected", lambda: connected() == {True}, 4 * AGENT_TIMEOUT)
        assert len(run_task(ecs, cluster.name, td, count=2)["tasks"]) == 2
    finally:
        cluster.fleet.stop()


@pytest.fixture(scope="module")
def pair(
    server: ServerProcess, ecs: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """Two instances, for host ports: a fixed port fits on each once."""
    cluster = start_fleet(server, ecs, tmp_path_factory.mktemp("pair"), "ports", 2, seed=47)
    yield cluster
    cluster.fleet.stop()


def port_task(ecs: Any, family: str, *mappings: dict[str, Any]) -> str:
    return register(
        ecs,
        family,
        cpu=8,
        memory=16,
        networkMode="bridge",
        container={"portMappings": list(mappings)},
    )


def test_dynamic_host_ports_reserve_nothing_and_share_an_instance(ecs: Any, pair: Cluster) -> None:
    before = describe(ecs, pair.name, pair.arns)
    dynamic = port_task(
        ecs,
        "ports-dynamic",
        {"containerPort": 80},
        {"containerPort": 53, "hostPort": 0, "protocol": "udp"},
    )
    # binpack keeps them together: four tasks, one container port, one instance.
    result = run_task(
        ecs,
        pair.name,
        dynamic,
        count=4,
        placementStrategy=[{"type": "binpack", "field": "memory"}],
    )
    assert not result["failures"]
    assert list(Counter(placed_on(result)).values()) == [4]
    after = describe(ecs, pair.name, pair.arns)
    for instance in pair.arns:
        assert after[instance].tcp_in_use == before[instance].tcp_in_use == {"22"}
        assert after[instance].udp_in_use == before[instance].udp_in_use == set()


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_a_fixed_host_port_fits_once_per_instance_then_fails_with_resource_ports(
    ecs: Any, pair: Cluster, proto: str
) -> None:
    fixed = port_task(
        ecs, f"ports-fixed-{proto}", {"containerPort": 53, "hostPort": 5353, "protocol": proto}
    )
    result = run_task(ecs, pair.name, fixed, count=3)
    assert sorted(placed_on(result)) == sorted(pair.arns)
    [failure] = result["failures"]
    assert failure["reason"] == "RESOURCE:PORTS"
    assert "(2 checked; rejected 2 by RESOURCE:PORTS)" in failure["detail"]
    assert failure["arn"] in pair.arns
    assert closest_named(failure)[1] == "has a host port the task needs already in use"
    for instance in describe(ecs, pair.name, pair.arns).values():
        held = instance.tcp_in_use if proto == "tcp" else instance.udp_in_use
        assert "5353" in held
    # StartTask on a named instance: turned away for the port, naming it.
    result = ecs.start_task(
        cluster=pair.name, taskDefinition=fixed, containerInstances=pair.arns[:1]
    )
    assert [(f["arn"], f["reason"]) for f in result["failures"]] == [
        (pair.arns[0], "RESOURCE:PORTS")
    ]


def test_the_same_port_number_over_tcp_and_udp_are_two_host_ports(ecs: Any, pair: Cluster) -> None:
    both = port_task(
        ecs,
        "ports-7000",
        {"containerPort": 53, "hostPort": 7000, "protocol": "tcp"},
        {"containerPort": 54, "hostPort": 7000, "protocol": "udp"},
    )
    assert len(run_task(ecs, pair.name, both, count=2)["tasks"]) == 2
    for instance in describe(ecs, pair.name, pair.arns).values():
        assert "7000" in instance.tcp_in_use and "7000" in instance.udp_in_use


def test_a_task_needing_a_capability_no_instance_has_fails_with_attribute(
    ecs: Any, shared: Cluster
) -> None:
    td = register(
        ecs,
        "needs-ssm-secrets",
        executionRoleArn="arn:aws:iam::000000000000:role/exec",
        container={
            "secrets": [
                {"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/t"}
            ]
        },
    )
    result = run_task(ecs, shared.name, td, count=2)
    assert not result["tasks"]
    assert [f["reason"] for f in result["failures"]] == ["ATTRIBUTE"] * 2
    for failure in result["failures"]:
        assert f"rejected {len(shared.arns)} by ATTRIBUTE" in failure["detail"]
        assert closest_named(failure)[1] == "lacks an attribute the task requires"
        assert failure["arn"] in shared.arns


def test_tasks_requiring_the_agents_capabilities_place_on_simulated_instances(
    ecs: Any, shared: Cluster
) -> None:
    # awsvpc needs ecs.capability.task-eni, health checks and dependsOn their own:
    # the fleet registers what the real agent registers.
    td = register(
        ecs,
        "needs-capabilities",
        networkMode="awsvpc",
        container={
            "healthCheck": {"command": ["CMD", "true"]},
            "logConfiguration": {"logDriver": "json-file"},
        },
    )
    required = ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]
    assert {"ecs.capability.task-eni", "ecs.capability.container-health-check"} <= {
        a["name"] for a in required["requiresAttributes"]
    }
    result = run_task(
        ecs,
        shared.name,
        td,
        count=3,
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0001"]}},
    )
    assert len(result["tasks"]) == 3, result["failures"]


@dataclass
class GpuFleet(FleetProcess):
    """`openecs fleet --gpu-every N`: every n-th instance a g4dn.xlarge with one GPU."""

    gpu_every: int = 2

    def start(self) -> GpuFleet:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }
        args = [sys.executable, "-m", "openecs.cli.main", "fleet", "--endpoint", self.endpoint]
        args += ["--cluster", self.cluster, "--instances", str(self.instances)]
        args += ["--seed", str(self.seed), "--gpu-every", str(self.gpu_every)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self


def test_gpu_tasks_take_the_gpus_the_fleet_offers_then_fail_with_resource_gpu(
    server: ServerProcess, ecs: Any, tmp_path: Path
) -> None:
    ecs.create_cluster(clusterName="gpus")
    fleet = GpuFleet(server.endpoint, "gpus", 6, tmp_path / "gpus.log", seed=61, gpu_every=3)
    fleet.start()
    try:
        arns = fleet.wait_registered(ecs)
        instances = describe(ecs, "gpus", arns)
        with_gpu = sorted(arn for arn, i in instances.items() if i.gpus)
        assert len(with_gpu) == 2
        assert {instances[a].attributes["ecs.instance-type"] for a in with_gpu} == {"g4dn.xlarge"}
        td = register(
            ecs,
            "gpu",
            cpu=64,
            memory=128,
            container={"resourceRequirements": [{"type": "GPU", "value": "1"}]},
        )
        result = run_task(ecs, "gpus", td, count=3)
        assert sorted(placed_on(result)) == with_gpu
        [failure] = result["failures"]
        assert failure["reason"] == "RESOURCE:GPU"
        assert "rejected 6 by RESOURCE:GPU" in failure["detail"]
        assert closest_named(failure)[1] == "has insufficient GPUs available"
        # Tasks without GPUs still fit everywhere.
        plain = register(ecs, "no-gpu", cpu=64, memory=128)
        assert len(run_task(ecs, "gpus", plain, count=6)["tasks"]) == 6
    finally:
        fleet.stop()


# --- concurrency ----------------------------------------------------------------------


def test_concurrent_run_task_never_oversubscribes_an_instance(
    server: ServerProcess, ecs: Any, tmp_path: Path
) -> None:
    cluster = start_fleet(server, ecs, tmp_path, "crowd", 20, seed=31)
    try:
        heavy = register(ecs, "crowd-heavy", cpu=512, memory=1536)
        ported = register(
            ecs,
            "crowd-port",
            cpu=128,
            memory=256,
            networkMode="bridge",
            container={"portMappings": [{"containerPort": 80, "hostPort": 8080}]},
        )

        clients = [server.client("ecs") for _ in range(8)]

        def hammer(worker: int) -> int:
            client = clients[worker]
            placed = 0
            for n in range(6):
                td = ported if (worker + n) % 3 == 0 else heavy
                placed += len(run_task(client, cluster.name, td, count=10)["tasks"])
            return placed

        with ThreadPoolExecutor(8) as pool:
            placed = sum(pool.map(hammer, range(8)))
        assert placed > 0
        instances = describe(ecs, cluster.name, cluster.arns)
        tasks = group_tasks(ecs, cluster.name, "family:crowd-heavy") + group_tasks(
            ecs, cluster.name, "family:crowd-port"
        )
        assert len(tasks) == placed
        cpu: Counter[str] = Counter()
        memory: Counter[str] = Counter()
        ports: Counter[str] = Counter()
        for task in tasks:
            arn = task["containerInstanceArn"]
            cpu[arn] += int(task["cpu"])
            memory[arn] += int(task["memory"])
            ports[arn] += task["taskDefinitionArn"] == ported
        for arn, inst in instances.items():
            assert inst.free_cpu >= 0 and inst.free_memory >= 0
            assert cpu[arn] <= inst.cpu and memory[arn] <= inst.memory
            assert inst.free_cpu == inst.cpu - cpu[arn]
            assert inst.free_memory == inst.memory - memory[arn]
            assert ports[arn] <= 1
            assert ("8080" in inst.tcp_in_use) == (ports[arn] == 1)
        # Demand exceeded supply: the rejected tasks were turned away, not squeezed in.
        assert placed < 8 * 6 * 10
    finally:
        cluster.fleet.stop()


# A task definition shape Hypothesis draws: (cpu, memory, port mappings), each mapping
# (hostPort, protocol), hostPort 0 for a dynamic one.
Shape = tuple[int, int, tuple[tuple[int, str], ...]]
shapes = st.tuples(
    st.sampled_from([256, 1024, 2048]),
    st.sampled_from([512, 2048, 4096]),
    st.lists(
        st.tuples(st.sampled_from([0, 8080, 5353]), st.sampled_from(["tcp", "udp"])),
        max_size=2,
        unique=True,
    ).map(tuple),
)
# Per worker, its RunTask calls: (which of the example's shapes, count).
workloads = st.lists(
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 10)), min_size=1, max_size=2),
    min_size=2,
    max_size=4,
)


@pytest.fixture(scope="module")
def crowd(
    server: ServerProcess, ecs: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """16 instances, two per rack: each example of the property crowds one rack."""
    cluster = start_fleet(server, ecs, tmp_path_factory.mktemp("crowd"), "crowd-prop", 16, seed=53)
    yield cluster
    cluster.fleet.stop()


def register_shape(ecs: Any, shape: Shape) -> str:
    cpu, memory, ports = shape
    mappings = [
        {"containerPort": 80 + n, "hostPort": host, "protocol": proto}
        for n, (host, proto) in enumerate(ports)
    ]
    family = f"crowd-{cpu}-{memory}-" + "-".join(f"{h}{p}" for h, p in ports)
    return register(
        ecs,
        family,
        cpu=cpu,
        memory=memory,
        networkMode="bridge",
        container={"portMappings": mappings},
    )


def fixed_ports(shape: Shape) -> set[tuple[str, int]]:
    return {(proto, host) for host, proto in shape[2] if host}


def test_concurrent_run_task_never_oversubscribes_whatever_the_requests(
    server: ServerProcess, ecs: Any, crowd: Cluster
) -> None:
    """A property: any mix of task sizes and fixed or dynamic TCP and UDP host ports,
    requested by RunTask from several clients at once on the same instances, never
    hands out the same CPU, memory or host port twice, and accounts exactly what runs."""
    clients = [server.client("ecs") for _ in range(4)]
    racks = itertools.count()
    shape_of: dict[str, Shape] = {}

    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(example_shapes=st.lists(shapes, min_size=3, max_size=3), work=workloads)
    def crowd_one_rack(example_shapes: list[Shape], work: list[list[tuple[int, int]]]) -> None:
        tds = [register_shape(ecs, shape) for shape in example_shapes]
        shape_of.update(zip(tds, example_shapes, strict=True))
        rack = [{"type": "memberOf", "expression": f"attribute:rack == r{next(racks) % 8}"}]

        def calls(worker: int) -> list[tuple[int, list[dict[str, str]]]]:
            out = []
            for which, count in work[worker]:
                result = run_task(
                    clients[worker], crowd.name, tds[which], count, placementConstraints=rack
                )
                out.append((count - len(result["tasks"]), result["failures"]))
            return out

        with ThreadPoolExecutor(len(work)) as pool:
            results = [r for rs in pool.map(calls, range(len(work))) for r in rs]
        for unplaced, failures in results:
            assert len(failures) == unplaced
            for failure in failures:
                assert failure["reason"] in (
                    MEMBER_OF,
                    "RESOURCE:CPU",
                    "RESOURCE:MEMORY",
                    "RESOURCE:PORTS",
                )
                assert failure["arn"] in crowd.arns
                closest_named(failure)
        assert_accounted(ecs, crowd, shape_of)

    crowd_one_rack()


def assert_accounted(ecs: Any, cluster: Cluster, shape_of: dict[str, Shape]) -> None:
    """Every live task of the cluster fits its instance, no fixed host port is held
    twice, and each instance's remaining resources are what its tasks leave."""
    instances = describe(ecs, cluster.name, cluster.arns)
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster.name):
        arns += page["taskArns"]
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster.name, tasks=arns[start : start + 100])["tasks"]
    cpu: Counter[str] = Counter()
    memory: Counter[str] = Counter()
    held: dict[str, Counter[tuple[str, int]]] = {arn: Counter() for arn in instances}
    for task in tasks:
        if task["lastStatus"] == "STOPPED":
            continue
        arn = task["containerInstanceArn"]
        cpu[arn] += int(task["cpu"])
        memory[arn] += int(task["memory"])
        held[arn].update(fixed_ports(shape_of[task["taskDefinitionArn"]]))
    for arn, inst in instances.items():
        assert cpu[arn] <= inst.cpu and memory[arn] <= inst.memory
        assert (inst.free_cpu, inst.free_memory) == (inst.cpu - cpu[arn], inst.memory - memory[arn])
        assert all(n == 1 for n in held[arn].values()), held[arn]
        assert {str(p) for proto, p in held[arn] if proto == "tcp"} | {"22"} == inst.tcp_in_use
        assert {str(p) for proto, p in held[arn] if proto == "udp"} == inst.udp_in_use


# --- capacity providers and dry runs --------------------------------------------------


@contextlib.contextmanager
def fargate_host(server: ServerProcess, ec2_id: str, capabilities: list[str]) -> Iterator[None]:
    """FARGATE capacity without Docker: a host registered on the agent channel as
    `openecs agent --capacity fargate` registers itself (with `capabilities` as its
    attributes), kept connected by polls (its heartbeats) until the block ends."""
    registered = agent_call(
        server,
        "/agent/v1/register",
        {
            "capacity": "FARGATE",
            "instanceId": ec2_id,
            "availabilityZone": "us-east-1b",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 65536},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 262144},
            ],
            "attributes": [{"name": name} for name in capabilities],
        },
    )
    done = threading.Event()

    def heartbeats() -> None:
        while not done.is_set():
            agent_call(
                server, "/agent/v1/poll", {"instanceId": registered["instanceId"], "wait": 0.5}
            )

    beating = threading.Thread(target=heartbeats, daemon=True)
    beating.start()
    try:
        yield
    finally:
        done.set()
        beating.join(30)


def test_fargate_capacity_provider_strategy_splits_by_base_and_weight(
    server: ServerProcess, ecs: Any, tmp_path: Path
) -> None:
    ecs.create_cluster(clusterName="spot-split")
    ecs.put_cluster_capacity_providers(
        cluster="spot-split",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 4},
        ],
    )
    td = register(
        ecs,
        "spot-split",
        task_size=("256", "512"),
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
    )
    required = ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]
    with fargate_host(server, "fargate-sim-1", [a["name"] for a in required["requiresAttributes"]]):
        fargate_split(server, ecs, tmp_path, td)


def test_a_fargate_service_growing_in_steps_keeps_the_split_of_its_strategy(
    server: ServerProcess, ecs: Any
) -> None:
    """Base 1 on FARGATE, then one FARGATE for every four FARGATE_SPOT, over the
    service's tasks as a whole: scaling out one task at a time does not put the
    base on FARGATE again each time."""
    strategy = [
        {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 4},
    ]
    ecs.create_cluster(clusterName="spot-grow", capacityProviders=["FARGATE", "FARGATE_SPOT"])
    td = register(
        ecs,
        "spot-grow",
        task_size=("256", "512"),
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
    )
    required = ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]

    def providers() -> Counter[str]:
        arns = ecs.list_tasks(cluster="spot-grow", serviceName="web")["taskArns"]
        if not arns:
            return Counter()
        found = ecs.describe_tasks(cluster="spot-grow", tasks=arns)["tasks"]
        return Counter(t["capacityProviderName"] for t in found)

    with fargate_host(server, "fargate-sim-1", [a["name"] for a in required["requiresAttributes"]]):
        ecs.create_service(
            cluster="spot-grow",
            serviceName="web",
            taskDefinition=td,
            desiredCount=1,
            capacityProviderStrategy=strategy,
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-0001"]}},
        )
        try:
            for desired in (1, 2, 3, 4, 5, 6, 7, 12):
                ecs.update_service(cluster="spot-grow", service="web", desiredCount=desired)
                wait_for(f"{desired} tasks", lambda n=desired: sum(providers().values()) == n)
                assert providers() == Counter(split_by_capacity_provider(strategy, desired))
        finally:
            ecs.update_service(cluster="spot-grow", service="web", desiredCount=0)
            ecs.delete_service(cluster="spot-grow", service="web", force=True)


def fargate_split(server: ServerProcess, ecs: Any, tmp_path: Path, td: str) -> None:
    request = {
        "cluster": "spot-split",
        "taskDefinition": td,
        "count": 10,
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0001"]}},
    }
    path = tmp_path / "run-task.json"
    path.write_text(json.dumps(request))
    shown = openecs(server, "plan", "run-task", "--cli-input-json", f"file://{path}")
    assert shown.returncode == 0, shown.stderr
    assert "FARGATE: 10 of 10 task(s) placed" in shown.stdout
    # The base first, then one FARGATE for every four FARGATE_SPOT beyond it.
    vias = re.findall(r"via (FARGATE_SPOT|FARGATE)\b", shown.stdout)
    assert Counter(vias) == {"FARGATE": 3, "FARGATE_SPOT": 7}
    assert vias[0] == "FARGATE"
    assert "fargate-sim-1" in shown.stdout
    # The dry run changed nothing; RunTask itself splits the same way.
    assert not ecs.list_tasks(cluster="spot-split")["taskArns"]
    started = ecs.run_task(**request)
    providers = Counter(t["capacityProviderName"] for t in started["tasks"])
    assert providers == {"FARGATE": 3, "FARGATE_SPOT": 7}
    assert {t["launchType"] for t in started["tasks"]} == {"FARGATE"}


def test_plan_run_task_shows_each_placement_and_every_instances_verdict(
    server: ServerProcess, ecs: Any, shared: Cluster, tmp_path: Path
) -> None:
    td = register(ecs, "plan-run")
    request = {
        "cluster": shared.name,
        "taskDefinition": td,
        "count": 4,
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:rack == r5"}],
        "placementStrategy": [{"type": "spread", "field": "instanceId"}],
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(request))
    before = ecs.list_tasks(cluster=shared.name)["taskArns"]
    table = openecs(server, "plan", "run-task", "--cli-input-json", f"file://{path}")
    assert table.returncode == 0, table.stderr
    as_json = openecs(
        server, "plan", "run-task", "--cli-input-json", f"file://{path}", "--output", "json"
    )
    report = json.loads(as_json.stdout)
    instances = describe(ecs, shared.name, shared.arns)
    r5 = {i.ec2_id for i in instances.values() if i.attributes.get("rack") == "r5"}
    assert len(report["placements"]) == 4
    assert {p["ec2InstanceId"] for p in report["placements"]} <= r5
    verdicts = {i["ec2InstanceId"]: i["rejectedBy"] for i in report["instances"]}
    assert set(verdicts) == {i.ec2_id for i in instances.values()}
    roomy = {i.ec2_id for i in instances.values() if i.free_memory >= 128 and i.free_cpu >= 64}
    assert all(verdicts[e] for e in verdicts if e not in r5)
    assert {v for e, v in verdicts.items() if e in roomy - r5} == {MEMBER_OF}
    # The table: a line per placed task and one per instance, with its verdict.
    assert "4 of 4 task(s) placed" in table.stdout
    assert len(re.findall(r"^  task +\d+ -> ", table.stdout, re.M)) == 4
    for ec2_id, verdict in verdicts.items():
        [line] = [row for row in table.stdout.splitlines() if row.startswith(ec2_id)]
        assert line.endswith(" ok") if verdict is None else f" {verdict}: " in line
    assert ecs.list_tasks(cluster=shared.name)["taskArns"] == before
    refused = openecs(
        server,
        "plan",
        "run-task",
        "--cli-input-json",
        json.dumps({**request, "placementConstraints": [{"type": "memberOf"}]}),
    )
    assert refused.returncode != 0
    assert "InvalidParameterException" in refused.stderr


def test_plan_service_explains_the_tasks_a_service_cannot_place(
    server: ServerProcess, ecs: Any, tmp_path: Path
) -> None:
    cluster = start_fleet(server, ecs, tmp_path, "svc-plan", 16, seed=41)
    try:
        td = register(ecs, "svc-plan")
        instances = describe(ecs, cluster.name, cluster.arns)
        r2 = {i.ec2_id for i in instances.values() if i.attributes.get("rack") == "r2"}
        ecs.create_service(
            cluster=cluster.name,
            serviceName="web",
            taskDefinition=td,
            desiredCount=len(r2) + 2,
            placementConstraints=[
                {"type": "memberOf", "expression": "attribute:rack == r2"},
                {"type": "distinctInstance"},
            ],
        )

        def running() -> int:
            svc = ecs.describe_services(cluster=cluster.name, services=["web"])["services"][0]
            return int(svc["runningCount"])

        wait_for("the placeable tasks running", lambda: running() == len(r2), 60)
        shown = openecs(
            server,
            "plan",
            "service",
            "--cluster",
            cluster.name,
            "--service",
            "web",
            "--output",
            "json",
        )
        assert shown.returncode == 0, shown.stderr
        report = json.loads(shown.stdout)
        assert report["requested"] == 2
        assert report["placements"] == []
        assert [f["reason"] for f in report["failures"]] == [DISTINCT, DISTINCT]
        verdicts = {i["ec2InstanceId"]: i["rejectedBy"] for i in report["instances"]}
        assert {v for e, v in verdicts.items() if e in r2} == {DISTINCT}
        assert {v for e, v in verdicts.items() if e not in r2} == {MEMBER_OF}
        table = openecs(server, "plan", "service", "--cluster", cluster.name, "--service", "web")
        assert "0 of 2 task(s) placed" in table.stdout
        ecs.update_service(cluster=cluster.name, service="web", desiredCount=0)
        ecs.delete_service(cluster=cluster.name, service="web")
    finally:
        cluster.fleet.stop()
