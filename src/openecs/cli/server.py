"""`openecs server`: the control plane on one port."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from openecs.api.agent_endpoints import agent_routes
from openecs.api.app import ApiGateway, RequestCounts, create_app
from openecs.api.auth import Authenticator
from openecs.api.cost_endpoints import cost_routes
from openecs.api.plan_endpoints import plan_routes
from openecs.api.prometheus import prometheus_routes
from openecs.api.registry import build_services
from openecs.cli.credentials import load_or_create_credentials
from openecs.cli.server_options import add_server_arguments, config_from_args
from openecs.console import console_routes
from openecs.controllers.housekeeping import housekeeping_steps
from openecs.controllers.load_balancer import LoadBalancerController
from openecs.controllers.log_retention import log_retention_steps
from openecs.controllers.loop import ControllerLoop
from openecs.controllers.metrics_retention import metrics_retention_steps
from openecs.controllers.scaling import scaling_steps
from openecs.controllers.scaling_decisions import Tuning
from openecs.controllers.services import service_steps
from openecs.platform.clock import SystemClock
from openecs.platform.config import ServerConfig, env_default
from openecs.platform.logging import configure_logging
from openecs.usecases.backend import Backend
from openecs.usecases.cost import load_price_table
from openecs.usecases.load_balancing import read_snapshot, record_target_health

__all__ = ["add_server_arguments", "build_app", "build_gateway", "config_from_args", "run_server"]


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


def build_app(config: ServerConfig) -> tuple[ASGIApp, Backend]:
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
        + scaling_steps(
            backend,
            interval=config.scaling_interval_seconds,
            tuning=Tuning(
                out_datapoints=config.scaling_out_datapoints,
                in_seconds=config.scaling_in_seconds,
                tolerance=config.scaling_tolerance,
            ),
        )
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
        *cost_routes(backend, auth, load_price_table(config.price_table)),
        *prometheus_routes(backend, request_counts),
        *console_routes(
            backend,
            [load_or_create_credentials(config.data_dir, config.account_id)[0]],
            config.default_region,
            load_price_table(config.price_table),
        ),
    ]
    app = create_app(gateway, routes, lifespan, request_counts, inline_reads=backend.db.is_sqlite)
    return app, backend


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
