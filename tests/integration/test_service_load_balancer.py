"""A service behind the load balancer, end to end: boto3 → `openecs up` (server,
FARGATE agent, HAProxy) → Docker. Its tasks register as targets when RUNNING,
traffic reaches only healthy ones, a killed container costs no request, and a
rolling deployment under a bounded loopback load fails none.
"""

from __future__ import annotations

import functools
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.images import ensure_busybox_image
from tests.support.server import ServerProcess, free_port
from tests.support.waiting import until as wait_until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("service-load-balancer")]

T = TypeVar("T")
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}
DEADLINE = 120.0


# Waits here may take longer than the shared default.
until = functools.partial(wait_until, timeout=DEADLINE)


def _httpd(version: str) -> list[str]:
    # PID 1 exits on SIGTERM, so stopping takes no stopTimeout.
    return [
        "sh",
        "-c",
        f"mkdir -p /www && echo {version} > /www/index.html && "
        "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait",
    ]


@dataclass
class Shop:
    server: ServerProcess
    ecs: Any
    elbv2: Any
    cluster: str
    target_group: str
    port: int
    families: list[str] = field(default_factory=list)

    def register(self, version: str) -> str:
        family = f"web-{uuid.uuid4().hex[:6]}"
        self.families.append(family)
        arn: str = self.ecs.register_task_definition(
            family=family,
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": "web",
                    "image": "openecs-test/busybox:latest",
                    "command": _httpd(version),
                    "portMappings": [{"containerPort": 8080}],
                    "stopTimeout": 2,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        return arn

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs.describe_services(cluster=self.cluster, services=[name])[
            "services"
        ][0]
        return found

    def healthy_targets(self) -> int:
        health = self.elbv2.describe_target_health(TargetGroupArn=self.target_group)
        return sum(
            1 for t in health["TargetHealthDescriptions"] if t["TargetHealth"]["State"] == "healthy"
        )

    def get(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}/", timeout=5)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    ensure_busybox_image()
    server = ServerProcess(Path(tmp_path_factory.mktemp("lb-up")), command="up").start(timeout=180)
    try:
        ecs, elbv2 = server.client("ecs"), server.client("elbv2")
        cluster = f"lb-{uuid.uuid4().hex[:6]}"
        ecs.create_cluster(clusterName=cluster)
        lb = elbv2.create_load_balancer(Name=f"lb-{uuid.uuid4().hex[:6]}", Subnets=["subnet-1"])[
            "LoadBalancers"
        ][0]["LoadBalancerArn"]
        tg = elbv2.create_target_group(
            Name=f"tg-{uuid.uuid4().hex[:6]}",
            Protocol="HTTP",
            Port=8080,
            TargetType="ip",
            VpcId="vpc-1",
            HealthCheckPath="/",
            HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=tg,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "3"}],
        )
        port = free_port()
        elbv2.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTP",
            Port=port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
        yield Shop(server, ecs, elbv2, cluster, tg, port)
    finally:
        server.stop()


def _ensure_web(shop: Shop) -> str:
    """The module's load-balanced service "web" (4 tasks), created on first use."""
    name = "web"
    found = shop.ecs.describe_services(cluster=shop.cluster, services=[name])["services"]
    if found and found[0]["status"] == "ACTIVE":
        return name
    shop.ecs.create_service(
        cluster=shop.cluster,
        serviceName=name,
        taskDefinition=shop.register("v1"),
        desiredCount=4,
        launchType="FARGATE",
        networkConfiguration=SUBNETS,
        loadBalancers=[
            {"targetGroupArn": shop.target_group, "containerName": "web", "containerPort": 8080}
        ],
        deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
    )
    until(
        lambda: shop.service(name)["deployments"][0]["rolloutState"] == "COMPLETED",
        "the first deployment",
    )
    return name


def test_a_service_rolls_to_a_new_revision_under_load_without_a_failed_request(
    shop: Shop,
) -> None:
    v1 = shop.register("v1")
    name = "web"
    shop.ecs.create_service(
        cluster=shop.cluster,
        serviceName=name,
        taskDefinition=v1,
        desiredCount=4,
        launchType="FARGATE",
        networkConfiguration=SUBNETS,
        loadBalancers=[
            {"targetGroupArn": shop.target_group, "containerName": "web", "containerPort": 8080}
        ],
        deploymentConfiguration={"maximumPercent": 200, "minimumHealthyPercent": 100},
    )
    until(
        lambda: shop.service(name)["deployments"][0]["rolloutState"] == "COMPLETED",
        "the first deployment",
    )
    assert shop.healthy_targets() == 4
    assert shop.get().text.strip() == "v1"

    # Bounded load on loopback: one client, at most 60 s or 20,000 requests.
    answers: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=5) as client:
            started = time.monotonic()
            for _ in range(20_000):
                if stop.is_set() or time.monotonic() - started > 60:
                    return
                try:
                    response = client.get(f"http://127.0.0.1:{shop.port}/")
                    if response.status_code == 200:
                        answers[response.text.strip()] += 1
                    else:
                        failures.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                time.sleep(0.005)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        time.sleep(1)
        v2 = shop.register("v2")
        shop.ecs.update_service(cluster=shop.cluster, service=name, taskDefinition=v2)
        until(
            lambda: (
                (d := shop.service(name)["deployments"])
                and len(d) == 1
                and d[0]["taskDefinition"] == v2
                and d[0]["rolloutState"] == "COMPLETED"
            ),
            "the rolling deployment to v2",
        )
        until(lambda: answers["v2"] > 50, "answers from v2")
    finally:
        stop.set()
        loader.join(timeout=30)
    assert failures == [], f"{len(failures)} failed requests, first: {failures[:3]}"
    assert answers["v1"] > 0 and answers["v2"] > 0


def test_a_killed_container_costs_no_request_and_is_replaced(shop: Shop) -> None:
    name = _ensure_web(shop)
    until(lambda: shop.healthy_targets() == 4, "four healthy targets")
    tasks = shop.ecs.list_tasks(cluster=shop.cluster, serviceName=name)["taskArns"]
    described = shop.ecs.describe_tasks(cluster=shop.cluster, tasks=tasks)["tasks"]
    victim = described[0]
    runtime_id = victim["containers"][0]["runtimeId"]
    failures = 0
    with httpx.Client(timeout=5) as client:
        subprocess.run(["docker", "kill", runtime_id], check=True, capture_output=True)
        for _ in range(200):
            try:
                if client.get(f"http://127.0.0.1:{shop.port}/").status_code != 200:
                    failures += 1
            except httpx.HTTPError:
                failures += 1
            time.sleep(0.01)
    assert failures == 0
    until(
        lambda: (
            victim["taskArn"]
            not in shop.ecs.list_tasks(cluster=shop.cluster, serviceName=name)["taskArns"]
            and len(shop.ecs.list_tasks(cluster=shop.cluster, serviceName=name)["taskArns"]) == 4
            and shop.healthy_targets() == 4
        ),
        "the replacement task healthy behind the load balancer",
    )


def test_a_task_protects_itself_through_the_agent_endpoint(shop: Shop) -> None:
    name = _ensure_web(shop)
    task = shop.ecs.describe_tasks(
        cluster=shop.cluster,
        tasks=shop.ecs.list_tasks(cluster=shop.cluster, serviceName=name)["taskArns"][:1],
    )["tasks"][0]
    body = '{"ProtectionEnabled":true,"ExpiresInMinutes":30}'
    # busybox has no HTTP client that PUTs: speak HTTP/1.0 through nc, as a task could.
    script = (
        "u=${ECS_AGENT_URI#http://}; hp=${u%%/*}; path=/${u#*/}; "
        f"body='{body}'; "
        '(printf "PUT $path/task-protection/v1/state HTTP/1.0\\r\\n'
        'Content-Type: application/json\\r\\nContent-Length: ${#body}\\r\\n\\r\\n$body"; '
        "sleep 3) | nc ${hp%:*} ${hp#*:}"
    )
    answer = subprocess.run(
        ["docker", "exec", task["containers"][0]["runtimeId"], "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert '"ProtectionEnabled":true' in answer.stdout, answer.stdout + answer.stderr
    protected = shop.ecs.get_task_protection(cluster=shop.cluster, tasks=[task["taskArn"]])
    assert protected["protectedTasks"][0]["protectionEnabled"] is True
