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
    parser.add_argument(
        "--price-table",
        default=env_default("PRICE_TABLE", ""),
        help="cost accounting: a JSON or TOML file of prices overriding AWS's us-east-1 defaults",
    )
    parser.add_argument(
        "--scaling-interval",
        type=float,
        default=float(env_default("SCALING_INTERVAL_SECONDS", "10")),
        help="seconds between passes of the auto scaling controller (aligned to the clock: "
        "with 10, a pass just after each 10-second metric period closes)",
    )
    parser.add_argument(
        "--scaling-out-datapoints",
        type=int,
        default=int(env_default("SCALING_OUT_DATAPOINTS", "3")),
        help="consecutive 10-second datapoints above target that make a breach (scale-out)",
    )
    parser.add_argument(
        "--scaling-in-seconds",
        type=int,
        default=int(env_default("SCALING_IN_SECONDS", "300")),
        help="seconds every datapoint must stay below target before scaling in (a multiple of 10)",
    )
    parser.add_argument(
        "--scaling-tolerance",
        type=float,
        default=float(env_default("SCALING_TOLERANCE", "0.10")),
        help="fraction around a target value within which target tracking does nothing",
    )


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    if args.scaling_interval <= 0 or args.scaling_out_datapoints < 1:
        raise SystemExit("--scaling-interval must be positive and --scaling-out-datapoints >= 1")
    if args.scaling_in_seconds < 10 or args.scaling_in_seconds % 10:
        raise SystemExit("--scaling-in-seconds must be a positive multiple of 10")
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
        price_table=args.price_table,
        scaling_interval_seconds=args.scaling_interval,
        scaling_out_datapoints=args.scaling_out_datapoints,
        scaling_in_seconds=args.scaling_in_seconds,
        scaling_tolerance=args.scaling_tolerance,
    )
