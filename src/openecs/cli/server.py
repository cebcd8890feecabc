"""`openecs server`: the control plane on one port."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from openecs.api.agent_endpoints import agent_routes
from openecs.api.app import ApiGateway, RequestCounts, create_app
from openecs.api.auth import Authenticator
from openecs.api.plan_endpoints import plan_routes
from openecs.api.prometheus import prometheus_routes
from openecs.api.registry import build_services
from openecs.cli.credentials import load_or_create_credentials
from openecs.controllers.housekeeping import housekeeping_steps
from openecs.controllers.load_balancer import LoadBalancerController
from openecs.controllers.log_retention import log_retention_steps
from openecs.controllers.loop import ControllerLoop
from openecs.controllers.metrics_retention import metrics_retention_steps
from openecs.controllers.scaling import scaling_steps
from openecs.controllers.services import service_steps
from openecs.platform.clock import SystemClock
from openecs.platform.config import ServerConfig, env_default
from openecs.platform.logging import configure_logging
from openecs.usecases.backend import Backend
from openecs.usecases.load_balancing import read_snapshot, record_target_health

__all__ = ["add_server_arguments", "build_app", "build_gateway", "config_from_args", "run_server"]


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=env_default("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env_default("PORT", "4580")))
    parser.add_argument("--data-dir", default=env_default("DATA_DIR", ".openecs"))
    parser.add_argument(
        "--database-url",
        default=env_default("DATABASE_URL", ""),
        help="SQLAlchemy URL; default SQLite in the data dir; postgresql+psycopg://... works",
    )
    parser.add_argument("--account-id", default=env_default("ACCOUNT_ID", "000000000000"))
    parser.add_argument("--region", default=env_default("REGION", "us-east-1"))
    parser.add_argument(
        "--clock-skew", type=int, default=int(env_default("CLOCK_SKEW_SECONDS", "300"))
    )
    parser.add_argument("--log-level", default=env_default("LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--agent-timeout",
        type=float,
        default=float(env_default("AGENT_TIMEOUT_SECONDS", "45")),
        help="seconds without a heartbeat before an agent is shown disconnected",
    )
    parser.add_argument(
        "--task-retention",
        type=float,
        default=float(env_default("TASK_RETENTION_SECONDS", "3600")),
        help="seconds a stopped task stays describable",
    )
    parser.add_argument(
        "--log-max-events-per-stream",
        type=int,
        default=int(env_default("LOG_MAX_EVENTS_PER_STREAM", "1000000")),
        help="CloudWatch Logs: a stream keeps at most this many events (the oldest go first)",
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host,
        port=args.port,
        data_dir=Path(args.data_dir),
        database_url=args.database_url,
        account_id=args.account_id,
        default_region=args.region,
        clock_skew_seconds=args.clock_skew,
        log_level=args.log_level,
        agent_timeout_seconds=args.agent_timeout,
        task_retention_seconds=args.task_retention,
        log_max_events_per_stream=args.log_max_events_per_stream,
    )


def build_gateway(config: ServerConfig) -> tuple[ApiGateway, Backend, Authenticator]:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    creds, created = load_or_create_credentials(config.data_dir, config.account_id)
    backend = Backend.open(config.effective_database_url, SystemClock())
    auth = Authenticator([creds], backend.clock, config.clock_skew_seconds)
    gateway = ApiGateway(backend, auth, build_services())
    endpoint = f"http://{config.host}:{config.port}"
    where = "generated and kept in " + str(config.data_dir) if created else "in use"
    print(
        f"OpenECS listening on {endpoint} (credentials {where})\n"
        f"  export AWS_ENDPOINT_URL={endpoint}\n"
        f"  export AWS_ACCESS_KEY_ID={creds.access_key_id}\n"
        f"  export AWS_SECRET_ACCESS_KEY={creds.secret_access_key}\n"
        f"  export AWS_DEFAULT_REGION={config.default_region}",
        file=sys.stderr,
        flush=True,
    )
    return gateway, backend, auth


def build_app(config: ServerConfig) -> tuple[Starlette, Backend]:
    """The whole server: APIs, agent channel, controllers (started with the app)."""
    gateway, backend, auth = build_gateway(config)
    # HAProxy, the ALB data plane: runs while some listener exists, files in <data-dir>/haproxy.
    load_balancer = LoadBalancerController(
        backend,
        read_snapshot,
        record_target_health,
        state_dir=config.data_dir / "haproxy",
        bind_address=env_default("LB_BIND_ADDRESS", "127.0.0.1"),
    )
    loop = ControllerLoop(
        housekeeping_steps(
            backend,
            agent_timeout=config.agent_timeout_seconds,
            task_retention=config.task_retention_seconds,
        )
        + service_steps(backend)
        + scaling_steps(backend)
        + load_balancer.steps()
        + metrics_retention_steps(backend)
        + log_retention_steps(
            backend, max_events_per_stream=config.log_max_events_per_stream, interval=60.0
        )
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop.start()
        try:
            yield
        finally:
            await loop.stop()
            await asyncio.to_thread(load_balancer.stop)

    ecs = next(s for s in gateway.by_prefix.values() if s.signing_name == "ecs")
    request_counts = RequestCounts()
    routes = [
        *agent_routes(backend, auth, agent_timeout=config.agent_timeout_seconds),
        *plan_routes(backend, auth, ecs),
        *prometheus_routes(backend, request_counts),
    ]
    return create_app(gateway, routes, lifespan, request_counts), backend


def run_server(config: ServerConfig) -> int:
    configure_logging(config.log_level)
    app, backend = build_app(config)
    try:
        uvicorn.run(
            app,
            host=config.host,
            port=config.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    finally:
        backend.close()
    return 0
