"""Auto scaling end to end: boto3 → `openecs up` (server, FARGATE agent, HAProxy) →
Docker, with short scaling timings (`--scaling-interval 2`, two datapoints make a
breach, one datapoint below target scales in).

* ALBRequestCountPerTarget: a service behind a listener scales out under a
  bounded loopback load, its new tasks become healthy targets, and it scales back
  in once the load stops.
* ECSServiceAverageCPUUtilization: a task burning its CPU reservation (busybox
  `while :; do :; done`, 0.25 vCPU) makes the service scale out, by target
  tracking first and then by a step policy with an implicit alarm.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.integration.conftest import SESSION_LABEL
from tests.support.images import ensure_busybox_image
from tests.support.server import ServerProcess, free_port
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("autoscaling-e2e")]

T = TypeVar("T")
SESSION = uuid.uuid4().hex[:12]
LABELS = {"openecs.test": "1", SESSION_LABEL: SESSION}
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}
KIND = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount"}
SCALING_ARGS = [
    "--scaling-interval",
    "2",
    "--scaling-out-datapoints",
    "2",
    "--scaling-in-seconds",
    "10",
]


@dataclass
class Stack:
    up: ServerProcess
    ecs: Any
    elbv2: Any
    scaling: Any
    cluster: str

    def task_definition(self, family: str, command: list[str], port: int | None = None) -> str:
        container: dict[str, Any] = {
            "name": "app",
            "image": "openecs-test/busybox:latest",
            "command": command,
            "dockerLabels": LABELS,
            "stopTimeout": 2,
        }
        if port is not None:
            container["portMappings"] = [{"containerPort": port}]
        arn: str = self.ecs.register_task_definition(
            family=f"{family}-{uuid.uuid4().hex[:6]}",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
            containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]
        return arn

    def desired(self, service: str) -> int:
        found = self.ecs.describe_services(cluster=self.cluster, services=[service])
        return int(found["services"][0]["desiredCount"])

    def running(self, service: str) -> int:
        found = self.ecs.describe_services(cluster=self.cluster, services=[service])
        return int(found["services"][0]["runningCount"])

    def scale_on(self, service: str, high: int, policy: dict[str, Any]) -> str:
        resource = f"service/{self.cluster}/{service}"
        self.scaling.register_scalable_target(
            **KIND, ResourceId=resource, MinCapacity=1, MaxCapacity=high
        )
        self.scaling.put_scaling_policy(
            **KIND,
            ResourceId=resource,
            PolicyName=f"{service}-tracking",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=policy,
        )
        return resource

    def causes(self, resource: str) -> list[str]:
        found = self.scaling.describe_scaling_activities(
            ServiceNamespace="ecs", ResourceId=resource
        )
        return [a["Cause"] for a in found["ScalingActivities"]]

    def retire(self, service: str, resource: str) -> None:
        """No more scaling, no more tasks."""
        self.scaling.deregister_scalable_target(**KIND, ResourceId=resource)
        self.ecs.delete_service(cluster=self.cluster, service=service, force=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ensure_busybox_image()
    up = ServerProcess(
        Path(tmp_path_factory.mktemp("autoscale")) / "up", command="up", extra_args=SCALING_ARGS
    )
    cluster = f"scale-{uuid.uuid4().hex[:8]}"
    try:
        up.start(timeout=120)
        ecs = up.client("ecs")
        ecs.create_cluster(clusterName=cluster)
        yield Stack(up, ecs, up.client("elbv2"), up.client("application-autoscaling"), cluster)
    finally:
        up.stop()
        # The tasks' containers, and the pause containers of their network namespaces.
        ids = set()
        for label in (f"{SESSION_LABEL}={SESSION}", f"com.amazonaws.ecs.cluster={cluster}"):
            ids |= set(
                subprocess.run(
                    ["docker", "ps", "-aq", "--filter", f"label={label}"],
                    capture_output=True,
                    text=True,
                ).stdout.split()
            )
        if ids:
            subprocess.run(["docker", "rm", "-f", *sorted(ids)], capture_output=True)


def test_alb_request_count_per_target_scales_out_under_load_and_back_in(stack: Stack) -> None:
    elbv2 = stack.elbv2
    lb = elbv2.create_load_balancer(Name=f"as-{uuid.uuid4().hex[:6]}", Subnets=["subnet-1"])[
        "LoadBalancers"
    ][0]
    tg = elbv2.create_target_group(
        Name=f"as-{uuid.uuid4().hex[:6]}",
        Protocol="HTTP",
        Port=8080,
        TargetType="ip",
        VpcId="vpc-1",
        HealthCheckPath="/",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
    )["TargetGroups"][0]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=tg["TargetGroupArn"],
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}],
    )
    port = free_port()
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    httpd = (
        "mkdir -p /www && echo ok > /www/index.html && "
        "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"
    )
    stack.ecs.create_service(
        cluster=stack.cluster,
        serviceName="web",
        taskDefinition=stack.task_definition("web", ["sh", "-c", httpd], port=8080),
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=SUBNETS,
        loadBalancers=[
            {"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 8080}
        ],
    )

    def healthy() -> int:
        found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        return sum(
            1 for t in found["TargetHealthDescriptions"] if t["TargetHealth"]["State"] == "healthy"
        )

    until(lambda: healthy() == 1, "the first task healthy behind the listener", 60)
    label = (
        lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
        + "/"
        + tg["TargetGroupArn"].rsplit(":", 1)[1]
    )
    # 300 requests per target per minute is 5 a second: the load below is ~8x that.
    resource = stack.scale_on(
        "web",
        3,
        {
            "TargetValue": 300.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": label,
            },
            "ScaleOutCooldown": 0,
            "ScaleInCooldown": 0,
        },
    )

    # Bounded load on loopback: one client, at most 45 s or 3,000 requests.
    stop = threading.Event()
    answered: list[int] = []

    def load() -> None:
        started = time.monotonic()
        with httpx.Client(timeout=5) as client:
            for _ in range(3_000):
                if stop.is_set() or time.monotonic() - started > 45:
                    return
                try:
                    answered.append(client.get(f"http://127.0.0.1:{port}/").status_code)
                except httpx.HTTPError:
                    answered.append(0)
                time.sleep(0.02)

    loader = threading.Thread(target=load)
    started = time.monotonic()
    loader.start()
    try:
        until(lambda: stack.desired("web") == 3, "a scale-out to max capacity", 45)
        scaled_out = time.monotonic() - started
        until(lambda: healthy() == 3, "the new tasks healthy behind the listener", 30)
    finally:
        stop.set()
        loader.join(timeout=10)
    assert answered.count(200) > 100 and answered.count(200) == len(answered)
    # Idle now: a datapoint at zero requests per target brings it back to min.
    until(lambda: stack.desired("web") == 1, "a scale-in after the load", 45)
    causes = stack.causes(resource)
    assert any("AlarmHigh" in c and "triggered policy web-tracking" in c for c in causes), causes
    assert any("AlarmLow" in c for c in causes), causes
    print(f"scale-out {scaled_out:.1f} s after the load started")
    stack.retire("web", resource)


def test_a_cpu_burning_task_scales_its_service_out_by_tracking_then_by_a_step(
    stack: Stack,
) -> None:
    """Target tracking (70 %) fires on the second datapoint: 1 → 2. A step policy
    whose name spells its implicit alarm (CPU >= 60 for 3 datapoints) fires on the
    third: ExactCapacity 3."""
    burn = ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
    stack.ecs.create_service(
        cluster=stack.cluster,
        serviceName="burn",
        taskDefinition=stack.task_definition("burn", burn),
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=SUBNETS,
    )
    resource = ""
    try:
        # Policies in place before the first CPU figure (it needs two agent samples).
        resource = stack.scale_on(
            "burn",
            3,
            {
                # 70: one task at ~100 % asks for ceil(1 * 100 / 70) = 2 tasks, not 3.
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                },
                # Held by its cooldown after 1 → 2, so the step policy acts next.
                "ScaleOutCooldown": 300,
                "ScaleInCooldown": 300,
            },
        )
        step = "burn-step cpu>=60x3"
        stack.scaling.put_scaling_policy(
            **KIND,
            ResourceId=resource,
            PolicyName=step,
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ExactCapacity",
                "Cooldown": 0,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 3}],
            },
        )
        until(lambda: stack.desired("burn") >= 2, "a scale-out on CPU", 60)
        until(lambda: stack.desired("burn") == 3, "a step scale-out on CPU", 40)
        causes = stack.causes(resource)
        [tracked] = [c for c in causes if "AlarmHigh" in c]
        assert "triggered policy burn-tracking (ECSServiceAverageCPUUtilization" in tracked
        utilization = float(tracked.split("ECSServiceAverageCPUUtilization ")[1].split()[0])
        # 0.25 vCPU reserved and enforced: a busy loop uses all of it, no more.
        assert 80 <= utilization <= 130, tracked
        [stepped] = [c for c in causes if c.startswith("monitor alarm StepScaling-")]
        assert f"triggered policy {step} changing the desired capacity from 2 to 3" in stepped
    finally:
        if resource:
            stack.retire("burn", resource)
        else:
            stack.ecs.delete_service(cluster=stack.cluster, service="burn", force=True)
