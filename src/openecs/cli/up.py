"""`openecs up`: everything on one machine for a newcomer — the server, and an
embedded agent offering FARGATE capacity on the local Docker engine."""

from __future__ import annotations

import argparse
import asyncio
import sys

import uvicorn

from openecs.agent.agent import Agent, AgentConfig
from openecs.agent.docker_runtime import DockerRuntime
from openecs.cli.credentials import load_or_create_credentials
from openecs.cli.server import build_app
from openecs.platform.config import ServerConfig, env_default
from openecs.platform.logging import configure_logging

__all__ = ["run_up"]


async def _serve(config: ServerConfig, args: argparse.Namespace) -> None:
    app, backend = build_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    creds, _ = load_or_create_credentials(config.data_dir, config.account_id)
    runtime = DockerRuntime(host_ip="127.0.0.1")
    agent = Agent(
        AgentConfig(
            endpoint=f"http://{config.host}:{config.port}",
            cluster="",
            access_key=creds.access_key_id,
            secret_key=creds.secret_access_key,
            region=config.default_region,
            capacity="FARGATE",
            data_dir=config.data_dir / "fargate-agent",
            instance_type="openecs.fargate",
            cleanup_delay=args.cleanup_delay,
            # The server marks an agent lost when it has not polled for agent_timeout.
            poll_wait=min(20.0, max(config.agent_timeout_seconds / 3, 0.5)),
            task_cgroups=env_default("TASK_CGROUPS", "auto") != "off",
        ),
        runtime,
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.02)
    agent_task = asyncio.create_task(agent.run())
    done, _ = await asyncio.wait({serving, agent_task}, return_when=asyncio.FIRST_COMPLETED)
    for task in (serving, agent_task):
        if task not in done:
            server.should_exit = True
            task.cancel()
    await asyncio.gather(serving, agent_task, return_exceptions=True)
    await agent.aclose()
    await runtime.aclose()
    backend.close()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def run_up(config: ServerConfig, args: argparse.Namespace) -> int:
    configure_logging(config.log_level)
    try:
        asyncio.run(_serve(config, args))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        print(f"openecs up: {exc}", file=sys.stderr)
        return 1
    return 0
