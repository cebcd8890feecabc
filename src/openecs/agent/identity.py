"""The agent's identity on this host, kept in its data dir: the one thing it
cannot rebuild from Docker's labels. An agent restarted with the same data
dir re-registers as the same container instance and re-adopts its tasks."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["AgentIdentity", "load_identity", "save_identity"]


@dataclass(slots=True)
class AgentIdentity:
    instance_id: str
    agent_id: str
    container_instance_arn: str | None = None


def load_identity(data_dir: Path) -> AgentIdentity:
    path = data_dir / "agent.json"
    if path.exists():
        return AgentIdentity(**json.loads(path.read_text()))
    identity = AgentIdentity(
        instance_id="i-" + secrets.token_hex(9)[:17], agent_id=secrets.token_hex(8)
    )
    save_identity(data_dir, identity)
    return identity


def save_identity(data_dir: Path, identity: AgentIdentity) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "agent.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(identity)))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
