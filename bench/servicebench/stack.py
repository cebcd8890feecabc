"""Real OpenECS processes for the service benchmarks, and the cleanup of all they ran.

`ServiceStack` starts `openecs up` (server + embedded FARGATE agent) or a plain
`openecs server`, plus any `openecs agent --capacity ec2` processes, on a free
loopback port with a temporary data dir. On exit it stops them and
force-removes every container labelled with one of its agents' ids or with
the benchmark's own label, then deletes the data dir.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import boto3
import httpx
from botocore.config import Config

__all__ = ["BENCH_LABEL", "ServiceStack", "remove_labelled", "until", "write_results"]

ACCESS_KEY = "AKIAOPENECSSVCBENCH01"
SECRET_KEY = "openecs-service-bench-secret-00000000000"
REGION = "us-east-1"
BENCH_LABEL = "openecs.bench.service-run"
DOCKER_SOCKET = "/var/run/docker.sock"

T = TypeVar("T")


def until(
    check: Callable[[], T | None], what: str, timeout: float = 120.0, every: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def write_results(name: str, figures: dict[str, Any]) -> Path:
    """Raw numbers of a run, with when and where, to bench/results/NAME (ignored by git)."""
    out = Path(__file__).resolve().parents[1] / "results" / name
    out.parent.mkdir(exist_ok=True)
    figures = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        **figures,
    }
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def remove_labelled(labels: list[str]) -> int:
    """Force-remove every container carrying one of `labels` (`key=value`)."""
    removed = 0
    transport = httpx.HTTPTransport(uds=DOCKER_SOCKET)
    with httpx.Client(transport=transport, base_url="http://docker", timeout=60) as docker:
        for label in labels:
            listed = docker.get(
                "/containers/json", params={"all": "1", "filters": json.dumps({"label": [label]})}
            )
            listed.raise_for_status()
            for item in listed.json():
                gone = docker.delete(f"/containers/{item['Id']}", params={"force": "1", "v": "1"})
                removed += gone.status_code in (204, 404)
    return removed


@dataclass
class ServiceStack:
    """`openecs up` (or `openecs server`) and EC2 agents; use as a context manager."""

    up: bool = True
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="openecs-svcbench-")))
    port: int = field(default_factory=_free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    agent_dirs: list[Path] = field(default_factory=list)
    ecs: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENECS_"))}
        env.update(
            OPENECS_ACCESS_KEY_ID=ACCESS_KEY,
            OPENECS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
        )
        return env

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "openecs.cli.main", *args],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def start(self) -> ServiceStack:
        command = "up" if self.up else "server"
        extra = ["--cleanup-delay", "2"] if self.up else []
        server = self._spawn(
            "server",
            command,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.root / "server"),
            "--log-level",
            "WARNING",
            *extra,
        )

        def healthy() -> bool:
            if server.poll() is not None:
                raise RuntimeError(f"server exited: {_tail(self.root / 'server.log')}")
            try:
                return httpx.get(self.endpoint + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        until(healthy, "the server to answer", timeout=180)
        self.ecs = boto3.client(
            "ecs",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"max_attempts": 3}),
        )
        if self.up:
            self.agent_dirs.append(self.root / "server" / "fargate-agent")
            until(
                lambda: _identity(self.agent_dirs[0]).get("container_instance_arn"),
                "the FARGATE agent to register",
                timeout=180,
            )
        return self

    def ec2_agent(self, cluster: str, *, cpu_units: int, memory_mib: int) -> str:
        """Start an EC2 agent in `cluster`; its container instance ARN once registered."""
        data = self.root / f"agent-{len(self.agent_dirs)}"
        self.agent_dirs.append(data)
        self._spawn(
            data.name,
            "agent",
            "--endpoint",
            self.endpoint,
            "--cluster",
            cluster,
            "--capacity",
            "ec2",
            "--data-dir",
            str(data),
            "--cpu-units",
            str(cpu_units),
            "--memory-mib",
            str(memory_mib),
            "--cleanup-delay",
            "2",
            "--log-level",
            "WARNING",
        )
        arn: str = until(
            lambda: _identity(data).get("container_instance_arn"),
            "the EC2 agent to register",
            timeout=180,
        )
        return arn

    def __enter__(self) -> ServiceStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        owners = [_identity(d).get("agent_id") for d in self.agent_dirs]
        for proc in reversed(self.procs):
            _stop(proc)
        labels = [f"openecs.agent={o}" for o in owners if o] + [f"{BENCH_LABEL}={self.run_id}"]
        removed = remove_labelled(labels)
        print(f"(cleanup: removed {removed} containers)", file=sys.stderr)
        if exc is not None:
            print(f"(logs kept in {self.root})", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def _identity(data_dir: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((data_dir / "agent.json").read_text())
    except (OSError, ValueError):
        return {}
    return data
