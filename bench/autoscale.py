"""Auto scaling reaction time: a step of load on a service behind the load balancer,
from the start of the breach to the desiredCount change and to the new tasks
serving as healthy targets, beside a baseline measured in the same run.

Starts a real `openecs up` (server, FARGATE agent on the local Docker engine,
HAProxy) with its DEFAULT scaling timings (pass `--server-arg` to try others),
a listener on 127.0.0.1 and a target group checked every 5 s, healthy after 2
checks (elbv2's minimum interval; its defaults, 30 s x 5, alone would take
150 s). The service "web" runs 2 busybox httpd tasks (FARGATE, awsvpc).

* baseline: UpdateService desiredCount 2 → 3 by hand, until 3 healthy targets
  (task start + health checks: what any scale-out costs after its decision);
  then back to 2.
* rounds: a target tracking policy, ALBRequestCountPerTarget, target 600
  requests per target per minute (ScaleOutCooldown 0 so rounds can follow each
  other). A light load (`--idle-rps`, far below target) runs for 15 s, then a
  step to `--breach-rps` (3x the target across 2 targets) at t0. Measured from
  t0: the scaling activity (server time), desiredCount seen changed, the first
  and the last new target healthy. Round i starts its step (i + 0.5) * 10 /
  rounds seconds into a 10-second metric period, so the rounds sweep the phase.
  Then the load stops and, once the metric is calm again, the count goes back
  to 2 by hand for the next round.

Load goes to 127.0.0.1:<listener> only, from one client thread, bounded in time
(`--breach-seconds`, 90 s at most) and in requests.

    .venv/bin/python bench/autoscale.py [--rounds 3] [--server-arg=--scaling-interval=2]

Prints a table (figure, target, met?) and writes bench/results/autoscale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.images import ensure_busybox_image  # noqa: E402
from tests.support.server import ServerProcess, free_port  # noqa: E402

SESSION = uuid.uuid4().hex[:12]
LABELS = {"openecs.bench": "autoscale", "openecs.bench.session": SESSION}
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}
KIND = {"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount"}
TARGET_PER_MINUTE = 600.0
BASE = 2
TARGET_SECONDS = 45.0
HTTPD = (
    "mkdir -p /www && echo ok > /www/index.html && "
    "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"
)


class Load:
    """One client thread at a steady rate to the listener; the rate can change."""

    def __init__(self, port: int, rps: float, limit_seconds: float) -> None:
        self.port = port
        self.rps = rps
        self.limit = limit_seconds
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        started = time.monotonic()
        due = started
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set() and time.monotonic() - started < self.limit:
                if self.sent >= 20_000:
                    return
                due += 1.0 / self.rps
                try:
                    if client.get(f"http://127.0.0.1:{self.port}/").status_code != 200:
                        self.failed += 1
                except httpx.HTTPError:
                    self.failed += 1
                self.sent += 1
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)


@dataclass
class Shop:
    up: ServerProcess
    ecs: Any
    elbv2: Any
    scaling: Any
    cluster: str
    target_group: str = ""
    label: str = ""
    port: int = 0
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def desired(self) -> int:
        found = self.ecs.describe_services(cluster=self.cluster, services=["web"])
        return int(found["services"][0]["desiredCount"])

    def healthy(self) -> int:
        found = self.elbv2.describe_target_health(TargetGroupArn=self.target_group)
        return sum(
            1 for t in found["TargetHealthDescriptions"] if t["TargetHealth"]["State"] == "healthy"
        )

    def registered(self) -> int:
        found = self.elbv2.describe_target_health(TargetGroupArn=self.target_group)
        return len(found["TargetHealthDescriptions"])


def wait(check: Any, what: str, timeout: float, poll: float = 0.2) -> float:
    """Monotonic time at which `check()` first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(poll)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def set_up(server_args: list[str]) -> Shop:
    ensure_busybox_image()
    work = Path(tempfile.mkdtemp(prefix="openecs-bench-autoscale-"))
    up = ServerProcess(work / "up", command="up", extra_args=server_args).start(timeout=180)
    shop = Shop(
        up,
        up.client("ecs"),
        up.client("elbv2"),
        up.client("application-autoscaling"),
        f"bench-{SESSION[:8]}",
    )
    shop.ecs.create_cluster(clusterName=shop.cluster)
    lb = shop.elbv2.create_load_balancer(Name="bench", Subnets=["subnet-1"])["LoadBalancers"][0]
    tg = shop.elbv2.create_target_group(
        Name="web",
        Protocol="HTTP",
        Port=8080,
        TargetType="ip",
        VpcId="vpc-1",
        HealthCheckPath="/",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
    )["TargetGroups"][0]
    shop.target_group = tg["TargetGroupArn"]
    shop.elbv2.modify_target_group_attributes(
        TargetGroupArn=shop.target_group,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}],
    )
    shop.port = free_port()
    shop.elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=shop.port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": shop.target_group}],
    )
    shop.label = (
        lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
        + "/"
        + shop.target_group.rsplit(":", 1)[1]
    )
    td = shop.ecs.register_task_definition(
        family="web",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "web",
                "image": "openecs-test/busybox:latest",
                "command": ["sh", "-c", HTTPD],
                "portMappings": [{"containerPort": 8080}],
                "dockerLabels": LABELS,
                "stopTimeout": 2,
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    shop.ecs.create_service(
        cluster=shop.cluster,
        serviceName="web",
        taskDefinition=td,
        desiredCount=BASE,
        launchType="FARGATE",
        networkConfiguration=SUBNETS,
        loadBalancers=[
            {"targetGroupArn": shop.target_group, "containerName": "web", "containerPort": 8080}
        ],
    )
    wait(lambda: shop.healthy() == BASE, "the first tasks healthy", 120)
    return shop


def back_to_base(shop: Shop) -> None:
    shop.ecs.update_service(cluster=shop.cluster, service="web", desiredCount=BASE)
    wait(lambda: shop.registered() == BASE and shop.healthy() == BASE, "back to 2 targets", 90)


def baseline(shop: Shop) -> dict[str, float]:
    """By hand: desiredCount + 1 until the new task is a healthy target."""
    started = time.monotonic()
    shop.ecs.update_service(cluster=shop.cluster, service="web", desiredCount=BASE + 1)
    registered = wait(lambda: shop.registered() == BASE + 1, "the new target registered", 60, 0.05)
    healthy = wait(lambda: shop.healthy() == BASE + 1, "the new target healthy", 60, 0.05)
    back_to_base(shop)
    return {"registered_s": registered - started, "healthy_s": healthy - started}


def scale_round(shop: Shop, args: argparse.Namespace, phase: float) -> dict[str, Any]:
    resource = f"service/{shop.cluster}/web"
    before = {
        a["ActivityId"]
        for a in shop.scaling.describe_scaling_activities(
            ServiceNamespace="ecs", ResourceId=resource
        )["ScalingActivities"]
    }
    load = Load(shop.port, args.idle_rps, args.breach_seconds + 30).start()
    try:
        time.sleep(15)
        # The step starts `phase` seconds into a 10-second metric period.
        time.sleep((phase - time.time() % 10) % 10)
        t0_wall, t0 = time.time(), time.monotonic()
        load.rps = args.breach_rps
        changed = wait(lambda: shop.desired() > BASE, "desiredCount changed", args.breach_seconds)
        desired = shop.desired()
        first = wait(lambda: shop.healthy() > BASE, "a new target healthy", 90, 0.1)
        last = wait(lambda: shop.healthy() >= desired, "all new targets healthy", 90, 0.1)
    finally:
        load.stop()
    activities = [
        a
        for a in shop.scaling.describe_scaling_activities(
            ServiceNamespace="ecs", ResourceId=resource
        )["ScalingActivities"]
        if a["ActivityId"] not in before
    ]
    decided = min(a["StartTime"].timestamp() for a in activities) - t0_wall
    result = {
        "decided_s": decided,
        "desired_seen_s": changed - t0,
        "first_healthy_s": first - t0,
        "all_healthy_s": last - t0,
        "desired": desired,
        "requests": load.sent,
        "failed": load.failed,
        "t0_in_period_s": t0_wall % 10,
    }
    # Let the metric go calm first (else the breach's last datapoints scale it out
    # again), then back to 2 by hand.
    time.sleep(35)
    back_to_base(shop)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle-rps", type=float, default=2.0)
    parser.add_argument("--breach-rps", type=float, default=60.0)
    parser.add_argument("--breach-seconds", type=float, default=90.0)
    parser.add_argument("--server-arg", action="append", default=[])
    args = parser.parse_args()
    args.breach_seconds = min(args.breach_seconds, 90.0)
    load_before = os.getloadavg()
    shop = set_up(args.server_arg)
    try:
        base = [baseline(shop) for _ in range(2)]
        shop.scaling.register_scalable_target(
            **KIND, ResourceId=f"service/{shop.cluster}/web", MinCapacity=BASE, MaxCapacity=4
        )
        shop.scaling.put_scaling_policy(
            **KIND,
            ResourceId=f"service/{shop.cluster}/web",
            PolicyName="requests",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": TARGET_PER_MINUTE,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ALBRequestCountPerTarget",
                    "ResourceLabel": shop.label,
                },
                "ScaleOutCooldown": 0,
            },
        )
        # The idle load's datapoints first: a breach must start from a calm metric.
        time.sleep(20)
        # Phases spread over the period: where the breach starts in its first
        # period decides whether that partial period already counts as breaching.
        phases = [(i + 0.5) * 10 / args.rounds for i in range(args.rounds)]
        rounds = [scale_round(shop, args, phase) for phase in phases]
    finally:
        shop.up.stop()
        # The tasks' containers and the pause containers of their network namespaces.
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.amazonaws.ecs.cluster={shop.cluster}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)

    def med(key: str, runs: list[dict[str, Any]]) -> float:
        return float(statistics.median(r[key] for r in runs))

    worst = max(r["all_healthy_s"] for r in rounds)
    typical = med("all_healthy_s", rounds)
    goal = f"< {TARGET_SECONDS:.0f} s"
    by_hand = "baseline: desiredCount+1 by hand →"
    rows = [
        (f"{by_hand} target registered", f"{med('registered_s', base):.1f} s", "", ""),
        (f"{by_hand} healthy target", f"{med('healthy_s', base):.1f} s", "", ""),
        ("breach → scaling activity (server)", f"{med('decided_s', rounds):.1f} s", "", ""),
        ("breach → desiredCount changed (seen)", f"{med('desired_seen_s', rounds):.1f} s", "", ""),
        ("breach → first new task healthy", f"{med('first_healthy_s', rounds):.1f} s", "", ""),
        ("breach → all new tasks healthy, median", f"{typical:.1f} s", goal,
         "yes" if typical < TARGET_SECONDS else "**no**"),
        ("breach → all new tasks healthy, worst", f"{worst:.1f} s", goal,
         "yes" if worst < TARGET_SECONDS else "**no**"),
    ]  # fmt: skip
    print(f"server args: {args.server_arg or 'defaults'}; {args.rounds} rounds; "
          f"load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| figure | median | target | met? |")
    print("|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    for i, r in enumerate(rounds, 1):
        print(
            f"round {i}: t0 at {r['t0_in_period_s']:.1f} s into its period; activity "
            f"{r['decided_s']:.1f} s, seen {r['desired_seen_s']:.1f} s, first healthy "
            f"{r['first_healthy_s']:.1f} s, all {r['all_healthy_s']:.1f} s → {r['desired']} "
            f"tasks; {r['requests']} requests, {r['failed']} failed"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "autoscale.json").write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load": [load_before, os.getloadavg()],
                "args": vars(args),
                "baseline": base,
                "rounds": rounds,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
