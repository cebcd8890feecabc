"""`openecs agent`: run tasks on this host's Docker engine for a cluster."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from openecs.agent.agent import Agent, AgentConfig
from openecs.agent.docker_runtime import DockerRuntime
from openecs.platform.config import env_default
from openecs.platform.logging import configure_logging

__all__ = ["add_agent_arguments", "agent_config_from_args", "run_agent"]


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4580"),
        help="the OpenECS server (default: $AWS_ENDPOINT_URL)",
    )
    parser.add_argument("--cluster", default=env_default("CLUSTER", "default"))
    parser.add_argument(
        "--capacity", choices=["ec2", "fargate"], default=env_default("CAPACITY", "ec2")
    )
    parser.add_argument("--host-address", default=env_default("HOST_ADDRESS", "127.0.0.1"))
    parser.add_argument("--data-dir", default=env_default("AGENT_DATA_DIR", ".openecs-agent"))
    parser.add_argument("--availability-zone", default=env_default("AVAILABILITY_ZONE", ""))
    parser.add_argument("--instance-type", default=env_default("INSTANCE_TYPE", "openecs.local"))
    parser.add_argument("--allow-privileged", action="store_true")
    parser.add_argument(
        "--cleanup-delay",
        type=float,
        default=float(env_default("CONTAINER_CLEANUP_SECONDS", "600")),
        help="seconds after a task stops before its containers are removed",
    )
    parser.add_argument("--cpu-units", type=int, default=None, help="CPU units to offer")
    parser.add_argument("--memory-mib", type=int, default=None, help="memory to offer, MiB")
    parser.add_argument(
        "--poll-wait",
        type=float,
        default=float(env_default("POLL_WAIT_SECONDS", "20")),
        help="seconds a poll for desired tasks waits for a change; keep it well under "
        "the server's --agent-timeout",
    )
    parser.add_argument(
        "--task-cgroups",
        choices=["auto", "off"],
        default=env_default("TASK_CGROUPS", "auto"),
        help="task-level cpu/memory as a cgroup per task (auto: when the engine uses "
        "cgroupfs and the cgroup tree is writable); off: limit each container instead",
    )
    parser.add_argument("--log-level", default=env_default("LOG_LEVEL", "INFO"))


def agent_config_from_args(args: argparse.Namespace) -> AgentConfig:
    key = os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("OPENECS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or os.environ.get("OPENECS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise SystemExit(
            "openecs agent: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(the key pair `openecs server` printed)"
        )
    return AgentConfig(
        endpoint=args.endpoint,
        cluster=args.cluster,
        access_key=key,
        secret_key=secret,
        region=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
        capacity=args.capacity.upper(),
        host_address=args.host_address,
        data_dir=Path(args.data_dir),
        availability_zone=args.availability_zone or None,
        instance_type=args.instance_type,
        allow_privileged=args.allow_privileged,
        cleanup_delay=args.cleanup_delay,
        cpu_units=args.cpu_units,
        memory_mib=args.memory_mib,
        poll_wait=args.poll_wait,
        task_cgroups=args.task_cgroups == "auto",
    )


async def _main(config: AgentConfig) -> None:
    runtime = DockerRuntime(host_ip=config.host_address)
    agent = Agent(config, runtime)
    try:
        await agent.run()
        if agent.deregistered:
            print("openecs agent: the container instance was deregistered", file=sys.stderr)
    finally:
        await agent.aclose()
        await runtime.aclose()


def run_agent(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    config = agent_config_from_args(args)
    try:
        asyncio.run(_main(config))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        print(f"openecs agent: {exc}", file=sys.stderr)
        return 1
    return 0
