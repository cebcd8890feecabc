"""Start and stop real `openecs server` (or `openecs up`) and `openecs agent`
processes for contract and integration tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ACCESS_KEY = "AKIAOPENECSTEST00001"
SECRET_KEY = "openecs-test-secret-key-0000000000000000"
REGION = "us-east-1"
ACCOUNT = "000000000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A real server on 127.0.0.1:port with its own data dir."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    database_url: str = ""
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    # `up` runs the server with its embedded FARGATE agent on the local Docker engine.
    command: str = "server"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for an AWS client (CLI or boto3) pointed at this server."""
        env = dict(os.environ)
        env.update(
            AWS_ENDPOINT_URL=self.endpoint,
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
        )
        env.pop("AWS_PROFILE", None)
        return env

    def start(self, timeout: float = 30.0) -> ServerProcess:
        env = dict(os.environ)
        env.update(OPENECS_ACCESS_KEY_ID=ACCESS_KEY, OPENECS_SECRET_ACCESS_KEY=SECRET_KEY)
        args = [
            sys.executable,
            "-m",
            "openecs.cli.main",
            self.command,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "WARNING",
            *self.extra_args,
        ]
        if self.database_url:
            args += ["--database-url", self.database_url]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            try:
                if httpx.get(self.endpoint + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start: {self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir / "server.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def client(self, service: str = "ecs", **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(retries={"max_attempts": 1}, **config),
        )


@dataclass
class AgentProcess:
    """A real `openecs agent` with its own data dir (its identity: keep the dir to
    restart it as the same container instance)."""

    endpoint: str
    data_dir: Path
    cluster: str
    capacity: str = "ec2"
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        """Start the process; it registers on its own (wait for it through the API)."""
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
        )
        args = [
            sys.executable,
            "-m",
            "openecs.cli.main",
            "agent",
            "--endpoint",
            self.endpoint,
            "--cluster",
            self.cluster,
            "--capacity",
            self.capacity,
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "INFO",
            *self.extra_args,
        ]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "agent.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    @property
    def identity(self) -> dict[str, Any]:
        """The agent's agent.json: `instance_id`, `agent_id`, `container_instance_arn`."""
        path = self.data_dir / "agent.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return data

    def log_tail(self, lines: int = 40) -> str:
        path = self.data_dir / "agent.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a test froze it
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@dataclass
class FleetProcess:
    """A real `openecs fleet`: `instances` simulated container instances in `cluster`
    whose tasks report RUNNING at once, without Docker."""

    endpoint: str
    cluster: str
    instances: int
    log_path: Path
    seed: int = 7
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FleetProcess:
        """Start the process; it registers its instances on its own (`wait_registered`)."""
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
        )
        args = [
            sys.executable,
            "-m",
            "openecs.cli.main",
            "fleet",
            "--endpoint",
            self.endpoint,
            "--cluster",
            self.cluster,
            "--instances",
            str(self.instances),
            "--seed",
            str(self.seed),
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_registered(self, ecs: Any, timeout: float = 90.0) -> list[str]:
        """The container instance ARNs, once all of them are listed."""
        deadline = time.monotonic() + timeout
        while True:
            arns: list[str] = []
            for page in ecs.get_paginator("list_container_instances").paginate(
                cluster=self.cluster
            ):
                arns += page["containerInstanceArns"]
            if len(arns) >= self.instances:
                return arns
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"fleet exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(arns)} of {self.instances} registered in {timeout}s")
            time.sleep(0.2)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a test froze it
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
