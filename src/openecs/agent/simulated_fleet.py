"""A simulated fleet: N container instances whose tasks "run" without Docker.

For exercising the scheduler and the API at scale (1,000 to 5,000 instances) on
one machine. The instances vary in size, spread over three availability
zones and carry instance-type attributes and the capabilities the real agent
registers (so tasks that require them, awsvpc's `ecs.capability.task-eni` for
one, place here as on real hosts); optionally every n-th one offers a GPU.
The fleet registers them in one call, long-polls the tasks that wait for any
of them in one call, and reports each task RUNNING the moment it is placed
and STOPPED the moment it is asked to stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

import httpx

# The real agent's list, so the two never drift apart.
from openecs.agent.agent import AGENT_CAPABILITIES
from openecs.agent.control_client import ControlPlaneClient, ControlPlaneError

__all__ = ["FleetConfig", "SimulatedFleet", "fleet_instances"]

log = logging.getLogger("openecs.agent.fleet")

# (instance type, vCPUs, MiB): a small mix of general-purpose sizes.
_SIZES = (
    ("t3.medium", 2, 4096),
    ("t3.large", 2, 8192),
    ("m5.large", 2, 8192),
    ("m5.xlarge", 4, 16384),
    ("c5.2xlarge", 8, 16384),
    ("r5.xlarge", 4, 32768),
)
# The size of the instances that offer a GPU (FleetConfig.gpu_every).
_GPU_SIZE = ("g4dn.xlarge", 4, 16384)


@dataclass
class FleetConfig:
    cluster: str
    instances: int
    region: str = "us-east-1"
    seed: int = 7
    poll_wait: float = 20.0
    # Every n-th instance is a g4dn.xlarge with one GPU; 0 for none. The other
    # instances are the same as without GPUs (the same seed draws the same sizes).
    gpu_every: int = 0


def fleet_instances(config: FleetConfig) -> list[dict[str, Any]]:
    """The registrations of a fleet: deterministic for a seed."""
    rng = random.Random(config.seed)
    zones = [f"{config.region}{z}" for z in "abc"]
    out = []
    for i in range(config.instances):
        itype, vcpus, mib = rng.choice(_SIZES)
        gpus: list[str] = []
        if config.gpu_every > 0 and i % config.gpu_every == config.gpu_every - 1:
            itype, vcpus, mib = _GPU_SIZE
            gpus = [f"GPU-sim{config.seed:04x}{i:09x}-0"]
        zone = zones[i % len(zones)]
        resources: list[dict[str, Any]] = [
            {"name": "CPU", "type": "INTEGER", "integerValue": vcpus * 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": mib - 256},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22"]},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
        ]
        if gpus:
            # As the ECS agent registers GPUs: their ids.
            resources.append({"name": "GPU", "type": "STRINGSET", "stringSetValue": gpus})
        out.append(
            {
                "instanceId": f"i-sim{config.seed:04x}{i:09x}",
                "availabilityZone": zone,
                "instanceType": itype,
                "totalResources": resources,
                "attributes": [
                    {"name": "ecs.os-type", "value": "linux"},
                    {"name": "ecs.os-family", "value": "LINUX"},
                    {"name": "ecs.cpu-architecture", "value": "x86_64"},
                    {"name": "openecs.simulated", "value": "true"},
                    {"name": "rack", "value": f"r{i % 8}"},
                    *({"name": name} for name in AGENT_CAPABILITIES),
                ],
            }
        )
    return out


class SimulatedFleet:
    def __init__(self, config: FleetConfig, control: ControlPlaneClient) -> None:
        self.config = config
        self.control = control
        self.instance_ids: list[str] = []
        # task ARN → last status we reported
        self.known: dict[str, str] = {}
        self.ready = asyncio.Event()

    async def register(self) -> None:
        regs = fleet_instances(self.config)
        ids: list[str] = []
        for start in range(0, len(regs), 500):
            result = await self.control.call(
                "/agent/v1/fleet/register",
                {"cluster": self.config.cluster, "instances": regs[start : start + 500]},
            )
            ids.extend(str(i["instanceId"]) for i in result["instances"])
        self.instance_ids = ids
        log.info("fleet registered", extra={"instances": len(ids)})
        self.ready.set()

    async def run(self) -> None:
        await self.register()
        digest: str | None = None
        backoff = 0.1
        while True:
            try:
                result = await self.control.call(
                    "/agent/v1/fleet/poll",
                    {
                        "cluster": self.config.cluster,
                        "instanceIds": self.instance_ids,
                        "digest": digest,
                        "wait": self.config.poll_wait,
                    },
                )
                reported_all = await self._reconcile(result.get("tasks") or [])
                # Once every task it was given is reported, nothing should wait: ask to
                # be woken when something does (the server's digest of nothing is "").
                digest = "" if reported_all else str(result["digest"])
                backoff = 0.1
            except (ControlPlaneError, httpx.HTTPError, OSError) as exc:
                log.warning("fleet poll failed", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                digest = None

    async def _reconcile(self, tasks: list[dict[str, Any]]) -> bool:
        """Report what the poll's tasks wait for; True if every one was reported now.

        `known` holds what was reported earlier and still waits on the server's
        side (a report it did not apply): those are not sent again."""
        reports = []
        pending: dict[str, str] = {}
        for task in tasks:
            arn = str(task["taskArn"])
            status = "STOPPED" if task.get("desiredStatus") == "STOPPED" else "RUNNING"
            if self.known.get(arn) == status:
                continue
            pending[arn] = status
            reports.append(
                {
                    "taskArn": arn,
                    "instanceId": task["instanceId"],
                    "lastStatus": status,
                    "containers": [
                        {
                            "name": c["name"],
                            "lastStatus": status,
                            "exitCode": 0 if status == "STOPPED" else None,
                        }
                        for c in task.get("containers") or ()
                    ],
                }
            )
        waiting = {str(t["taskArn"]) for t in tasks}
        for arn in [a for a in self.known if a not in waiting]:
            del self.known[arn]
        for start in range(0, len(reports), 1000):
            await self.control.call(
                "/agent/v1/fleet/report", {"tasks": reports[start : start + 1000]}
            )
        self.known.update(pending)
        return len(pending) == len(tasks)
