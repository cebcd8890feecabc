"""`openecs fleet`: a simulated fleet of container instances, for scale work."""

from __future__ import annotations

import argparse
import asyncio
import os

from openecs.agent.control_client import ControlPlaneClient
from openecs.agent.simulated_fleet import FleetConfig, SimulatedFleet
from openecs.platform.logging import configure_logging

__all__ = ["add_fleet_arguments", "run_fleet"]


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4580")
    )
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--gpu-every",
        type=int,
        default=0,
        metavar="N",
        help="every N-th instance is a g4dn.xlarge with one GPU (default 0: no GPUs)",
    )
    parser.add_argument("--log-level", default="WARNING")


async def _main(args: argparse.Namespace) -> None:
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    control = ControlPlaneClient(
        args.endpoint,
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        region,
    )
    fleet = SimulatedFleet(
        FleetConfig(
            args.cluster, args.instances, region=region, seed=args.seed, gpu_every=args.gpu_every
        ),
        control,
    )
    try:
        await fleet.run()
    finally:
        await control.aclose()


def run_fleet(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 0
    return 0
