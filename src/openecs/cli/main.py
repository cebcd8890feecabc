"""The `openecs` command."""

from __future__ import annotations

import argparse
import sys

from openecs.cli.server import add_server_arguments, config_from_args, run_server

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openecs", description="A self-hosted container orchestrator that speaks the ECS API."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="run the control plane (ECS API) server")
    add_server_arguments(server)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "server":
        return run_server(config_from_args(args))
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
