"""Where a service's task is registered in its target group (`target_of`): as on AWS,
an `ip` target is the task's own address and container port — when the task runs
on the load balancer's host (ports published on loopback); a task of an agent on
another host is its published address and port. An `instance` target is the EC2
id and the host port."""

from __future__ import annotations

from dataclasses import replace

import pytest

from openecs.domain.task import ContainerRun
from openecs.usecases.service_targets import target_of
from tests.support.lb_snapshots import target_group
from tests.support.service_fixtures import make_task

LB = {"containerName": "web", "containerPort": 8080}
TASK_IP = "172.30.0.7"


def web(bind_ip: str | None, *, eni: str | None = TASK_IP, port: int = 8080) -> ContainerRun:
    binding = {"containerPort": port, "hostPort": 32768, "protocol": "tcp"}
    if bind_ip is not None:
        binding["bindIP"] = bind_ip
    return ContainerRun(
        name="web",
        container_arn="arn:aws:ecs:us-east-1:000000000000:container/default/x/web",
        image="web:1",
        network_bindings=[binding],
        network_interfaces=[{"attachmentId": "a", "privateIpv4Address": eni}] if eni else [],
    )


@pytest.mark.parametrize(
    ("bind_ip", "eni", "expected"),
    [
        ("127.0.0.1", TASK_IP, (TASK_IP, 8080)),
        ("::1", TASK_IP, (TASK_IP, 8080)),
        ("0.0.0.0", TASK_IP, (TASK_IP, 8080)),
        (None, TASK_IP, (TASK_IP, 8080)),
        ("10.0.4.17", TASK_IP, ("10.0.4.17", 32768)),
        ("127.0.0.1", None, ("127.0.0.1", 32768)),
        ("0.0.0.0", None, ("127.0.0.1", 32768)),
    ],
)
def test_an_ip_target_is_the_tasks_own_address_on_the_load_balancers_host(
    bind_ip: str | None, eni: str | None, expected: tuple[str, int]
) -> None:
    task = replace(make_task("ecs-svc/1"), containers=[web(bind_ip, eni=eni)])
    assert target_of(task, LB, target_group("tg"), {}) == expected


def test_an_instance_target_is_the_ec2_id_and_host_port() -> None:
    group = replace(target_group("tg"), target_type="instance")
    task = replace(make_task("ecs-svc/1", instance="ci-1"), containers=[web("127.0.0.1")])
    assert target_of(task, LB, group, {"ci-1": "i-0abc"}) == ("i-0abc", 32768)
    assert target_of(task, LB, group, {}) is None


def test_a_task_without_the_load_balancers_container_port_is_no_target() -> None:
    task = replace(make_task("ecs-svc/1"), containers=[web("127.0.0.1", port=9090)])
    assert target_of(task, LB, target_group("tg"), {}) is None
    other = replace(make_task("ecs-svc/1"), containers=[])
    assert target_of(other, LB, target_group("tg"), {}) is None
