"""Process configuration: flags first, then OPENECS_* environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ServerConfig", "env_default"]


def env_default(name: str, default: str) -> str:
    return os.environ.get(f"OPENECS_{name}", default)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 4580
    data_dir: Path = field(default_factory=lambda: Path(".openecs"))
    database_url: str = ""
    account_id: str = "000000000000"
    default_region: str = "us-east-1"
    clock_skew_seconds: int = 300
    log_level: str = "INFO"
    # An agent silent this long is shown agentConnected=false and gets no tasks.
    agent_timeout_seconds: float = 45.0
    # Stopped tasks stay describable this long (ECS: at least one hour).
    task_retention_seconds: float = 3600.0
    # CloudWatch Logs: the oldest events of a stream beyond this many are expired.
    log_max_events_per_stream: int = 1_000_000
    # Cost accounting: a JSON or TOML file overriding AWS's default prices ("" = defaults).
    price_table: str = ""
    # Auto scaling: how often the controller runs, how many consecutive 10-second
    # datapoints above target make a breach, how long below target before scaling
    # in, and the band around the target where nothing moves.
    scaling_interval_seconds: float = 10.0
    scaling_out_datapoints: int = 3
    scaling_in_seconds: int = 300
    scaling_tolerance: float = 0.10

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'openecs.db').resolve()}"
