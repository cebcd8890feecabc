"""`openecs server` / `openecs up` options: flags, with OPENECS_* environment
variables as alternatives. Kept apart from the server itself, so that parsing a
command line does not import the whole server (an agent's memory stays small)."""

from __future__ import annotations

import argparse
from pathlib import Path

from openecs.platform.config import ServerConfig, env_default

__all__ = ["add_server_arguments", "config_from_args"]


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
