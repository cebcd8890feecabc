"""`openecs demo` (deploy the shop) and `openecs demo blackfriday` (deploy, then the
load burst and its report). Both are safe to run again: they reuse what exists."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from botocore.exceptions import ClientError

from openecs.demo.blackfriday import BlackFriday, describe_result, run_blackfriday
from openecs.demo.cost import server_cost
from openecs.demo.deploy import DeployError, Shop, ShopClients, deploy_shop
from openecs.demo.images import ImageBuildError, build_images, default_sources
from openecs.demo.launcher import Connection, LaunchError, connect
from openecs.demo.load import LoadError, LoadProfile
from openecs.demo.shop_spec import ShopSettings

__all__ = ["add_demo_arguments", "run_demo"]


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("deploy", "blackfriday", "images"),
        default="deploy",
        help="deploy the shop (default), deploy it and run the Black Friday load, "
        "or only build (or find cached) the shop's images",
    )
    where = parser.add_argument_group("where")
    where.add_argument(
        "--endpoint",
        default=os.environ.get("OPENECS_DEMO_ENDPOINT", "http://127.0.0.1:4580"),
        help="the OpenECS server; `openecs up` is started there when nothing answers",
    )
    where.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".openecs"),
        help="the server's data dir: its credentials.json, and `openecs up`'s if started "
        "(default: .openecs)",
    )
    where.add_argument("--region", default="us-east-1", help="(default: us-east-1)")
    where.add_argument(
        "--no-start", action="store_true", help="fail instead of starting `openecs up`"
    )
    where.add_argument(
        "--skip-system-deps",
        action="store_true",
        help="do not run scripts/system-deps.sh (installs what is missing, starts dockerd)",
    )
    shop = parser.add_argument_group("shop")
    shop.add_argument(
        "--name", default="shop", help="cluster and resource name prefix (default: shop)"
    )
    shop.add_argument(
        "--shop-port", type=int, default=8000, help="the listener's port (default: 8000)"
    )
    shop.add_argument("--min-tasks", type=int, default=2, help="backend tasks (default: 2)")
    shop.add_argument("--max-tasks", type=int, default=10, help="backend tasks (default: 10)")
    shop.add_argument(
        "--requests-per-target",
        type=float,
        default=400.0,
        help="target tracking: requests per backend task per minute (default: 400)",
    )
    shop.add_argument("--scale-out-cooldown", type=int, default=30, help="seconds (default: 30)")
    shop.add_argument("--scale-in-cooldown", type=int, default=60, help="seconds (default: 60)")
    shop.add_argument(
        "--scaling-in-seconds",
        type=int,
        default=None,
        help="how long below target before scaling in, for the `openecs up` the demo "
        "starts (a multiple of 10; default: the server's, 300)",
    )
    load = parser.add_argument_group("blackfriday")
    load.add_argument(
        "--duration", type=float, default=180.0, help="seconds of load (default: 180)"
    )
    load.add_argument(
        "--peak-rate", type=float, default=30.0, help="requests per second (default: 30)"
    )
    load.add_argument(
        "--base-rate",
        type=float,
        default=2.0,
        help="requests per second at the start and the end (default: 2)",
    )
    load.add_argument(
        "--workers", type=int, default=16, help="requests in flight, at most (default: 16)"
    )
    load.add_argument(
        "--settle",
        type=float,
        default=420.0,
        help="seconds to wait after the load for the backend to scale back in "
        "(default: 420; 0: don't wait)",
    )
    load.add_argument(
        "--stop-at-scale-out",
        action="store_true",
        help="a quick check: end the load as soon as the backend scales out",
    )
    load.add_argument(
        "--chart",
        type=Path,
        default=Path("blackfriday.png"),
        help="where to write the PNG chart (default: blackfriday.png)",
    )


def _settings(args: argparse.Namespace) -> ShopSettings:
    return ShopSettings(
        name=args.name,
        shop_port=args.shop_port,
        region=args.region,
        backend_min=args.min_tasks,
        backend_max=args.max_tasks,
        requests_per_target=args.requests_per_target,
        scale_out_cooldown=args.scale_out_cooldown,
        scale_in_cooldown=args.scale_in_cooldown,
    )


def _say(message: str) -> None:
    print(message, flush=True)


def _welcome(connection: Connection, shop: Shop, args: argparse.Namespace) -> str:
    lines = [
        "",
        f"The shop is open:  {shop.url}",
        f"Console:           {connection.endpoint}/console",
        "Credentials (aws CLI, boto3, console):",
        *(f"  {line}" for line in connection.exports().splitlines()),
        "",
        f"Try:  aws ecs describe-services --cluster {shop.cluster} "
        f"--services {args.name}-backend --query 'services[0].[desiredCount,runningCount]'",
        "      make demo-blackfriday      # the traffic spike, the scale-out, the report",
        "      docs/tutorial.md           # ECS's concepts, shown in this shop",
    ]
    if connection.started_pid is not None:
        lines.append(
            f"OpenECS runs in the background (pid {connection.started_pid}, log "
            f"{args.data_dir / 'openecs-up.log'}); stop it with: kill {connection.started_pid}"
        )
    return "\n".join(lines)


def run_demo(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        profile = LoadProfile(args.duration, args.peak_rate, args.base_rate)
        sources = default_sources()
        if not args.skip_system_deps:
            # Docker (started if not running), HAProxy, debootstrap, node and npm.
            subprocess.run([str(sources.parent / "scripts" / "system-deps.sh")], check=True)
        _say("demo: building the shop's images (cached once built) ...")
        images = build_images(sources, log=_say)
        if args.action == "images":
            _say(f"demo: images {images.frontend} {images.backend} {images.database}")
            return 0
        up_args = []
        if args.scaling_in_seconds is not None:
            up_args = ["--scaling-in-seconds", str(args.scaling_in_seconds)]
        connection = connect(
            args.endpoint,
            args.data_dir,
            region=args.region,
            start=not args.no_start,
            up_args=up_args,
        )
        if up_args and connection.started_pid is None:
            _say(
                "demo: --scaling-in-seconds applies to an OpenECS the demo starts; the "
                f"one at {connection.endpoint} keeps its own setting"
            )
        clients = ShopClients.of(connection)
        _say(f"demo: deploying the shop on {connection.endpoint} ...")
        shop = deploy_shop(clients, settings, images, log=lambda m: _say(f"  {m}"))
        _say(_welcome(connection, shop, args))
        if args.action == "blackfriday":
            result = run_blackfriday(
                clients,
                settings,
                shop.url,
                BlackFriday(
                    profile=profile,
                    settle=args.settle,
                    workers=args.workers,
                    chart=args.chart,
                    stop_at_scale_out=args.stop_at_scale_out,
                ),
                cost=server_cost(connection, settings.cluster),
                log=_say,
            )
            _say("")
            _say(describe_result(result))
    except (
        ImageBuildError,
        LaunchError,
        DeployError,
        LoadError,
        ClientError,
        subprocess.CalledProcessError,
    ) as error:
        print(f"openecs demo: {error}", file=sys.stderr)
        return 1
    return 0
