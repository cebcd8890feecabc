"""Reach an OpenECS server for the demo: reuse the one answering at the endpoint,
or start `openecs up` in the background on it, and find its credentials.

Credentials: OPENECS_ACCESS_KEY_ID / OPENECS_SECRET_ACCESS_KEY when set, else the
data dir's credentials.json (which `openecs up` writes on first start), else
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["Connection", "LaunchError", "connect", "server_answers"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LaunchError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Connection:
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    started_pid: int | None = None  # the `openecs up` this run started, if any

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def exports(self) -> str:
        return (
            f"export AWS_ENDPOINT_URL={self.endpoint}\n"
            f"export AWS_ACCESS_KEY_ID={self.access_key}\n"
            f"export AWS_SECRET_ACCESS_KEY={self.secret_key}\n"
            f"export AWS_DEFAULT_REGION={self.region}"
        )


def server_answers(endpoint: str) -> bool:
    try:
        return httpx.get(f"{endpoint}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _credentials(data_dir: Path) -> tuple[str, str]:
    """The server's key pair, in the order `openecs up` itself picks it: OPENECS_*
    variables, the data dir's credentials.json; then AWS_* for a server elsewhere."""
    for prefix in ("OPENECS_", "AWS_"):
        key = os.environ.get(f"{prefix}ACCESS_KEY_ID")
        secret = os.environ.get(f"{prefix}SECRET_ACCESS_KEY")
        if key and secret:
            return key, secret
        path = data_dir / "credentials.json"
        if prefix == "OPENECS_" and path.exists():
            stored = json.loads(path.read_text())
            return str(stored["accessKeyId"]), str(stored["secretAccessKey"])
    raise LaunchError(
        "no credentials: point --data-dir at the server's data dir (credentials.json), "
        "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def _start_up(endpoint: str, data_dir: Path, timeout: float, up_args: list[str]) -> int:
    parts = urlsplit(endpoint)
    if parts.hostname not in _LOOPBACK or parts.port is None:
        raise LaunchError(
            f"nothing answers at {endpoint}, and the demo starts OpenECS only on "
            "this machine (http://127.0.0.1:PORT)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "openecs-up.log"
    command = [
        sys.executable,
        "-m",
        "openecs.cli.main",
        "up",
        "--host",
        "127.0.0.1",
        "--port",
        str(parts.port),
        "--data-dir",
        str(data_dir),
        *up_args,
    ]
    print(f"demo: starting OpenECS in the background (log: {log_path})", flush=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    (data_dir / "openecs-up.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while not server_answers(endpoint):
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise LaunchError("openecs up exited:\n" + "\n".join(tail))
        if time.monotonic() > deadline:
            raise LaunchError(f"openecs up did not answer within {timeout:.0f}s ({log_path})")
        time.sleep(0.25)
    return proc.pid


def connect(
    endpoint: str,
    data_dir: Path,
    *,
    region: str = "us-east-1",
    start: bool = True,
    timeout: float = 180.0,
    up_args: list[str] | None = None,
) -> Connection:
    """A connection to the server at `endpoint`, starting one there when none answers
    (`openecs up` with `up_args` added)."""
    pid = None
    if not server_answers(endpoint):
        if not start:
            raise LaunchError(f"no OpenECS server answers at {endpoint}")
        pid = _start_up(endpoint, data_dir, timeout, up_args or [])
    key, secret = _credentials(data_dir)
    return Connection(endpoint, key, secret, region, pid)
