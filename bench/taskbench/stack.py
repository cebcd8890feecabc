"""Real OpenECS processes for a benchmark, and the cleanup of all they ran.

`Stack` starts `openecs server` on a free loopback port with a temporary data
dir and any number of `openecs agent` processes (each its own process, so its
resident memory is its own). On exit it stops them (SIGTERM, then SIGKILL) and
force-removes every container labelled with one of its agents' ids or with
the benchmark's own run label, then deletes the data dir.
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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from openecs.agent import labels as agent_labels

from .ecs import EcsClient

__all__ = [
    "BENCH_LABEL",
    "AgentProcess",
    "CpuMeter",
    "Stack",
    "cpu_seconds",
    "free_port",
    "rss_kib",
]

ACCESS_KEY = "AKIAOPENECSBENCH0001"
SECRET_KEY = "openecs-bench-secret-key-000000000000000"
REGION = "us-east-1"
DOCKER_SOCKET = "/var/run/docker.sock"
# Every container a benchmark starts itself carries this label (value: the run id).
BENCH_LABEL = "openecs.bench.run"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _engine_pids() -> list[int]:
    """dockerd and containerd (not the shims): the engine's own CPU."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in ("dockerd", "containerd"):
            pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU seconds used by named processes between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int]) -> None:
        engine = _engine_pids()
        self.pids = {**pids, **({"docker engine": 0} if engine else {})}
        self._engine = engine
        self._before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.pids.items() if pid}
        out["benchmark"] = time.process_time()
        if self._engine:
            out["docker engine"] = sum(cpu_seconds(pid) for pid in self._engine)
        return out

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {name: after[name] - self._before.get(name, 0.0) for name in after}


def _stop_process(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@dataclass
class AgentProcess:
    name: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    agent_id: str = ""
    container_instance_arn: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_registered(self, timeout: float = 120.0) -> None:
        identity = self.data_dir / "agent.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent {self.name} exited: {_tail(self.log_path)}")
            try:
                data = json.loads(identity.read_text())
            except (OSError, ValueError):
                data = {}
            if data.get("container_instance_arn"):
                self.agent_id = str(data["agent_id"])
                self.container_instance_arn = str(data["container_instance_arn"])
                return
            time.sleep(0.05)
        raise RuntimeError(f"agent {self.name} did not register: {_tail(self.log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Stack:
    """A server and its agents; use as a context manager."""

    keep_logs: bool = False
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="openecs-bench-")))
    port: int = field(default_factory=free_port)
    server: subprocess.Popen[bytes] | None = None
    agents: list[AgentProcess] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> EcsClient:
        return EcsClient(self.endpoint, ACCESS_KEY, SECRET_KEY, REGION)

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

    def start_server(self, timeout: float = 120.0) -> None:
        data = self.root / "server"
        data.mkdir(parents=True)
        log = open(self.root / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self.server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openecs.cli.main",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(data),
                "--log-level",
                "WARNING",
            ],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"server exited: {_tail(self.root / 'server.log')}")
            try:
                if httpx.get(self.endpoint + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start: {_tail(self.root / 'server.log')}")

    def start_agent(
        self,
        name: str,
        *,
        capacity: str,
        cluster: str = "default",
        cpu_units: int = 1024 * 1024,
        memory_mib: int = 1024 * 1024,
    ) -> AgentProcess:
        data = self.root / f"agent-{name}"
        log_path = self.root / f"agent-{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - lives with the process
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openecs.cli.main",
                "agent",
                "--endpoint",
                self.endpoint,
                "--cluster",
                cluster,
                "--capacity",
                capacity,
                "--data-dir",
                str(data),
                "--cpu-units",
                str(cpu_units),
                "--memory-mib",
                str(memory_mib),
                # The benchmarks remove containers themselves, off the clock.
                "--cleanup-delay",
                "3600",
                "--log-level",
                "WARNING",
            ],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        agent = AgentProcess(name, proc, data, log_path)
        self.agents.append(agent)
        agent.wait_registered()
        return agent

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(failed=exc is not None)

    def close(self, *, failed: bool = False) -> None:
        for agent in self.agents:
            _stop_process(agent.proc, 5.0)
        if self.server is not None:
            _stop_process(self.server, 5.0)
        removed = remove_containers(
            [f"{agent_labels.AGENT}={a.agent_id}" for a in self.agents if a.agent_id]
            + [f"{BENCH_LABEL}={self.run_id}"]
        )
        if removed:
            print(f"(cleanup: removed {removed} leftover containers)", file=sys.stderr)
        if failed or self.keep_logs:
            print(f"(logs kept in {self.root})", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def _docker() -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=DOCKER_SOCKET), base_url="http://docker", timeout=60
    )


def containers_with(label: str) -> list[str]:
    with _docker() as docker:
        response = docker.get(
            "/containers/json", params={"all": "1", "filters": json.dumps({"label": [label]})}
        )
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()
    return [str(c["Id"]) for c in items]


def remove_containers(labels: list[str]) -> int:
    """Force-remove every container carrying one of `labels` (`key=value`)."""
    removed = 0
    with _docker() as docker:
        for label in labels:
            response = docker.get(
                "/containers/json",
                params={"all": "1", "filters": json.dumps({"label": [label]})},
            )
            response.raise_for_status()
            for item in response.json():
                gone = docker.delete(f"/containers/{item['Id']}", params={"force": "1", "v": "1"})
                if gone.status_code in (204, 404):
                    removed += 1
    return removed
