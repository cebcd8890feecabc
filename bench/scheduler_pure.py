"""The pure scheduler's speed: placements per second on synthetic clusters.

Builds 1,000, 2,000 and 5,000 container instances (four sizes, three
Availability Zones, an instance type and a custom attribute each, some tasks
already running) and, per scenario, places 10,000 tasks one after another in
one `place_tasks` call — each placement updates the view the next one sees.
Also reports the fixed cost of a one-task request (filters over every
instance, selector set-up), which bounds a single RunTask.

    .venv/bin/python bench/scheduler_pure.py [--tasks N] [--sizes 1000,2000,5000]

Target: 2,000 placements/s at 1,000 instances for every scenario.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Callable

from openecs.domain.container_instance import ContainerInstance
from openecs.domain.resources import Capacity, Reservation
from openecs.scheduler.constraints import parse_constraints
from openecs.scheduler.placement import place_tasks
from openecs.scheduler.strategies import parse_strategy
from openecs.scheduler.view import ClusterView, InstanceView, PlacementRequest

TARGET_PER_SECOND = 2_000
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
# (instance type, CPU units, MiB)
SIZES = (
    ("m5.large", 2048, 7680),
    ("m5.xlarge", 4096, 15616),
    ("c5.2xlarge", 8192, 15616),
    ("r5.4xlarge", 16384, 126976),
)
TASK = Reservation(cpu=64, memory=128)
GROUP = "service:web"


def build_cluster(count: int, seed: int) -> ClusterView:
    rng = random.Random(seed)
    views = []
    for n in range(count):
        kind, cpu, memory = SIZES[n % len(SIZES)]
        zone = ZONES[n % len(ZONES)]
        instance = ContainerInstance(
            instance_id=f"{n:08x}-0000-4000-8000-000000000000",
            arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/bench/{n:08x}",
            account_id="123456789012",
            region="us-east-1",
            cluster="bench",
            ec2_instance_id=f"i-{n:017x}",
            capacity=Capacity(cpu, memory),
            registered_at=1_700_000_000.0 + n,
            availability_zone=zone,
            instance_type=kind,
            attributes=[
                {"name": "ecs.availability-zone", "value": zone},
                {"name": "ecs.instance-type", "value": kind},
                {"name": "stack", "value": "prod" if n % 5 else "test"},
                {"name": "ecs.capability.docker-remote-api.1.40"},
            ],
            version_info={"agentVersion": "1.80.0"},
        )
        running = rng.randrange(4)
        used = Reservation(cpu=running * 128, memory=running * 256)
        groups = Counter({GROUP: running}) if running else Counter()
        views.append(InstanceView(instance, instance.capacity.remaining(used), groups, running))
    return ClusterView(views)


def request(
    count: int, strategy: list[dict[str, str]], constraints: list[dict[str, str]]
) -> PlacementRequest:
    return PlacementRequest(
        count=count,
        reservation=TASK,
        group=GROUP,
        launch_type="EC2",
        strategy=parse_strategy(strategy),
        constraints=parse_constraints(constraints),
        seed=7,
        is_service=True,
    )


SCENARIOS: dict[str, tuple[list[dict[str, str]], list[dict[str, str]]]] = {
    "binpack memory": ([{"type": "binpack", "field": "memory"}], []),
    "spread AZ, then instanceId": (
        [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "spread", "field": "instanceId"},
        ],
        [],
    ),
    "memberOf + random": (
        [{"type": "random"}],
        [
            {
                "type": "memberOf",
                "expression": "attribute:stack == prod and "
                "attribute:ecs.instance-type =~ (m5|r5).*",
            }
        ],
    ),
    "memberOf + spread AZ + binpack cpu": (
        [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "binpack", "field": "cpu"},
        ],
        [{"type": "memberOf", "expression": "not(attribute:ecs.instance-type == m5.large)"}],
    ),
}


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run(sizes: list[int], tasks: int) -> bool:
    ok = True
    print(
        f"{'instances':>9}  {'scenario':<36}{'placed':>8}{'placements/s':>14}"
        f"{'1-task request':>16}  target"
    )
    for size in sizes:
        for name, (strategy, constraints) in SCENARIOS.items():
            cluster = build_cluster(size, seed=size)
            req = request(tasks, strategy, constraints)
            plans = []
            seconds = timed(lambda: plans.append(place_tasks(cluster, req)))  # noqa: B023
            placed = len(plans[0].placements)
            rate = placed / seconds
            single = request(1, strategy, constraints)
            fresh = build_cluster(size, seed=size)
            one = min(timed(lambda: place_tasks(fresh, single)) for _ in range(5))  # noqa: B023
            verdict = ""
            if size == 1000:
                met = rate >= TARGET_PER_SECOND
                ok = ok and met
                verdict = f"{'met' if met else 'MISSED'} ({TARGET_PER_SECOND:,}/s)"
            print(
                f"{size:>9,}  {name:<36}{placed:>8,}{rate:>14,.0f}{one * 1000:>13.2f} ms  {verdict}"
            )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--sizes", default="1000,2000,5000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    return 0 if run(sizes, args.tasks) else 1


if __name__ == "__main__":
    sys.exit(main())
