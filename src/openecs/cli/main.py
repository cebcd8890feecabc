"""The `openecs` command."""

from __future__ import annotations

import argparse
import sys

from openecs.cli.agent import add_agent_arguments, run_agent
from openecs.cli.cost import add_cost_arguments, run_cost
from openecs.cli.fleet import add_fleet_arguments, run_fleet
from openecs.cli.plan import add_plan_arguments, run_plan
from openecs.cli.server_options import add_server_arguments, config_from_args
from openecs.demo.command import add_demo_arguments

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openecs", description="A self-hosted container orchestrator that speaks the ECS API."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run the control plane (ECS API) server")
    add_server_arguments(server)
    up = commands.add_parser(
        "up", help="server plus FARGATE capacity on the local Docker engine, for one machine"
    )
    add_server_arguments(up)
    up.add_argument(
        "--cleanup-delay",
        type=float,
        default=600.0,
        help="seconds after a task stops before its containers are removed",
    )
    agent = commands.add_parser("agent", help="offer this host's Docker engine to a cluster")
    add_agent_arguments(agent)
    fleet = commands.add_parser(
        "fleet", help="simulate N container instances whose tasks run without Docker"
    )
    add_fleet_arguments(fleet)
    plan = commands.add_parser(
        "plan", help="dry-run placement: where tasks would go and why not elsewhere"
    )
    add_plan_arguments(plan)
    demo = commands.add_parser(
        "demo", help="deploy the e-commerce shop on OpenECS (`demo blackfriday`: the spike)"
    )
    add_demo_arguments(demo)
    add_cost_arguments(commands.add_parser("cost", help="what tasks and instances cost"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "server":
        # The server stack is imported only by the commands that run it.
        from openecs.cli.server import run_server

        return run_server(config_from_args(args))
    if args.command == "up":
        from openecs.cli.up import run_up

        return run_up(config_from_args(args), args)
    if args.command == "agent":
        return run_agent(args)
    if args.command == "fleet":
        return run_fleet(args)
    if args.command == "plan":
        return run_plan(args)
    if args.command == "demo":
        from openecs.demo.command import run_demo

        return run_demo(args)
    if args.command == "cost":
        return run_cost(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
