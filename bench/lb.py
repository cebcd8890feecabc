"""Load balancer overhead: one backend measured directly and through a listener, in one run.

Four backends, one after the other:

* `task`: what the issue names, one task's published port: a container on the
  local Docker engine (the test busybox image's `httpd`, one small file),
  published on 127.0.0.1 (direct: through Docker's port proxy). Through the LB
  it is the target OpenECS registers for a FARGATE (awsvpc) task on the LB's
  host: an `ip` target, the task's own address and container port, as on AWS;
* `task-bridge`: the same container as an EC2 bridge-mode task behind an
  `instance` target: the host port, through Docker's port proxy via the LB too;
* `python`: a Python `http.server` (threads, keep-alive), closer to an
  application written in Python than to a static file server;
* `haproxy`: a HAProxy instance of its own (one thread) answering every request
  with a fixed 200 and a 13-byte body — far faster than any application, so
  what the load balancer adds is not hidden behind it.

The load balancer is the real data plane (`openecs.lb.DataPlane`): a listener
forwarding to a target group holding that one backend, placed through the
runtime API.

The load generator is `wrk` (Debian's `wrk`, C, epoll, keep-alive): one thread,
K connections, for a bounded time after a warm-up; the request count is what
fits in that time, with wrk's own latency percentiles; direct and via-LB runs
alternate for `--rounds` rounds and the table shows medians. The script runs
at nice -10 when it may, so other work on a shared machine disturbs it less.
Everything is on 127.0.0.1. Two shapes are measured, each against both ports:

* c=1: latency without queueing (what one request costs through the LB);
* c=32: throughput under load.

    .venv/bin/python bench/lb.py [--duration 3] [--rounds 3] [--connections 32]

Prints a table (figure, target, met?) and writes bench/results/lb.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.lb_snapshots import (  # noqa: E402
    forward,
    listener,
    load_balancer,
    snapshot,
    target,
    target_group,
)

from openecs.domain.load_balancing import HealthCheck, TargetState  # noqa: E402
from openecs.lb.data_plane import DataPlane  # noqa: E402
from openecs.lb.haproxy_config import ConfigSettings  # noqa: E402

HAPROXY = "/usr/sbin/haproxy"
RESULTS = ROOT / "bench" / "results" / "lb.json"
BACKEND_CONFIG = """global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend backend
    bind 127.0.0.1:{port}
    http-request return status 200 content-type text/plain string "hello, world\\n"
"""


@dataclass
class Run:
    target: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # CPU time per request of wrk, of the backend and of the LB's HAProxy worker.
    client_us: float = 0.0
    backend_us: float = 0.0
    lb_us: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its reaped children have used so far
    (busybox httpd serves each connection in a child of its own)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, connections: int, duration: int, name: str, backend: int, lb: int) -> Run:
    """One wrk run; with the CPU time the client, the backend and the LB spent on it."""
    before = (
        resource.getrusage(resource.RUSAGE_CHILDREN),
        cpu_seconds(backend),
        cpu_seconds(lb),
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "--timeout",
            "5s",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(s|ms|m)", out)
    assert total is not None, out
    seconds = float(total[2]) * {"s": 1.0, "ms": 0.001, "m": 60.0}[total[3]]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    error_count = int(errors[1]) if errors else 0
    if socket_errors:
        error_count += sum(int(x) for x in socket_errors.groups())
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = usage.ru_utime + usage.ru_stime - before[0].ru_utime - before[0].ru_stime
    requests = max(int(total[1]), 1)
    return Run(
        client_us=client / requests * 1e6,
        backend_us=(cpu_seconds(backend) - before[1]) / requests * 1e6,
        lb_us=(cpu_seconds(lb) - before[2]) / requests * 1e6,
        target=name,
        connections=connections,
        requests=int(total[1]),
        seconds=seconds,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),  # type: ignore[index]
        p50_ms=_ms(re.search(r"\s50%\s+(\S+)", out)[1]),  # type: ignore[index]
        p99_ms=_ms(re.search(r"\s99%\s+(\S+)", out)[1]),  # type: ignore[index]
        errors=error_count,
    )


PYTHON_BACKEND = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "13")
        self.end_headers()
        self.wfile.write(b"hello, world\\n")
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass  # health checks hang up after the status line
Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


class TaskContainer:
    """A task's container with a published port, seen as a process (its main pid)."""

    def __init__(self, port: int) -> None:
        from tests.support.images import ensure_busybox_image

        image = ensure_busybox_image()
        script = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"
        publish = f"127.0.0.1:{port}:8080"
        self.id = subprocess.run(
            ["docker", "run", "-d", "--rm", "-p", publish, image, "sh", "-c", script],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.pid = int(
            subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Pid}}", self.id],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )

        self.address = subprocess.run(
            ["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", self.id],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    def terminate(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.id], capture_output=True, check=False)

    def wait(self) -> None:
        pass


def start_backend(kind: str, port: int, work: Path) -> subprocess.Popen[bytes] | TaskContainer:
    if kind in ("task", "task-bridge"):
        return TaskContainer(port)
    if kind == "haproxy":
        (work / "backend.cfg").write_text(BACKEND_CONFIG.format(port=port))
        return subprocess.Popen([HAPROXY, "-db", "-f", str(work / "backend.cfg")])
    return subprocess.Popen([sys.executable, "-c", PYTHON_BACKEND, str(port)])


async def place_backend(
    plane: DataPlane, address: str, backend_port: int, listener_port: int
) -> None:
    """The listener forwards to a group whose only target is the backend (slots change
    through the runtime API: the second backend costs no reload)."""
    group = target_group("bench", health=HealthCheck(interval_seconds=1, healthy_threshold=2))
    lb = load_balancer("bench")
    snap = snapshot(
        [lb],
        [listener(lb, listener_port, forward(group))],
        [group],
        [],
        [target(group, backend_port, address=address)],
    )
    deadline = time.monotonic() + 30
    while snap.targets[0].state != TargetState.HEALTHY:
        if time.monotonic() > deadline:
            raise SystemExit(f"the backend never turned healthy: {snap.targets[0]}")
        for update in await plane.apply(snap, time.time()):
            snap.targets[0].state = update[3]
        await asyncio.sleep(0.2)


def measure(
    kind: str, plane: DataPlane, listener_port: int, work: Path, args: argparse.Namespace
) -> list[Run]:
    backend_port = free_port()
    backend = start_backend(kind, backend_port, work)
    runs = []
    try:
        if kind == "task" and isinstance(backend, TaskContainer):
            # An awsvpc task on the LB's host: the task's own address and container port.
            asyncio.run(place_backend(plane, backend.address, 8080, listener_port))
        else:
            asyncio.run(place_backend(plane, "127.0.0.1", backend_port, listener_port))
        pids = {"backend": backend.pid, "lb": asyncio.run(plane.api.worker_pid())}
        targets = ((f"{kind} direct", backend_port), (f"{kind} via LB", listener_port))
        for name, port in targets:
            wrk(port, args.connections, 1, name, **pids)  # warm-up
        # Direct and via LB alternate, so a change of background load hits both.
        for _ in range(args.rounds):
            for connections in (1, args.connections):
                for name, port in targets:
                    runs.append(wrk(port, connections, args.duration, name, **pids))
    finally:
        backend.terminate()
        backend.wait()
    return runs


def median_runs(runs: list[Run]) -> dict[tuple[str, int], Run]:
    """Per (target, connections): the median of each figure; requests and errors summed."""
    groups: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.target, run.connections), []).append(run)
    return {
        key: Run(
            target=key[0],
            connections=key[1],
            requests=sum(r.requests for r in group),
            seconds=sum(r.seconds for r in group),
            rps=statistics.median(r.rps for r in group),
            p50_ms=statistics.median(r.p50_ms for r in group),
            p99_ms=statistics.median(r.p99_ms for r in group),
            errors=sum(r.errors for r in group),
            client_us=statistics.median(r.client_us for r in group),
            backend_us=statistics.median(r.backend_us for r in group),
            lb_us=statistics.median(r.lb_us for r in group),
        )
        for key, group in groups.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--lb-threads", type=int, default=1, help="nbthread of the LB")
    parser.add_argument("--backends", default="task,task-bridge,python,haproxy")
    args = parser.parse_args()
    if shutil.which("wrk") is None or not os.access(HAPROXY, os.X_OK):
        print("bench/lb.py: skipped, needs wrk and haproxy (apt-get install wrk haproxy)")
        return 0

    with contextlib.suppress(PermissionError):
        # Ahead of other work on a shared machine; wrk, the backend and HAProxy inherit it.
        os.nice(-10)
    work = Path(tempfile.mkdtemp(prefix="lbbench-", dir="/tmp"))
    listener_port = free_port()
    plane = DataPlane(ConfigSettings(state_dir=work / "lb", threads=args.lb_threads))
    kinds = args.backends.split(",")
    runs: list[Run] = []
    try:
        for kind in kinds:
            runs.extend(measure(kind, plane, listener_port, work, args))
    finally:
        plane.stop()
        shutil.rmtree(work, ignore_errors=True)

    by = median_runs(runs)
    header = ("target", "conns", "requests", "req/s", "p50 ms", "p99 ms", "errors")
    cpu = ("wrk us", "backend us", "LB us")
    print(f"medians of {args.rounds} runs of {args.duration} s each; CPU time per request")
    print("{:<20}{:>6}{:>10}{:>10}{:>9}{:>9}{:>8}{:>8}{:>11}{:>7}".format(*header, *cpu))
    for r in by.values():
        print(
            f"{r.target:<20}{r.connections:>6}{r.requests:>10}{r.rps:>10.0f}"
            f"{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}{r.errors:>8}"
            f"{r.client_us:>8.1f}{r.backend_us:>11.1f}{r.lb_us:>7.1f}"
        )
    loaded = args.connections
    summary: dict[str, dict[str, float]] = {}
    print()
    for kind in kinds:
        direct, via = f"{kind} direct", f"{kind} via LB"
        ratio = by[(via, loaded)].rps / by[(direct, loaded)].rps
        added_idle = by[(via, 1)].p50_ms - by[(direct, 1)].p50_ms
        added_loaded = by[(via, loaded)].p50_ms - by[(direct, loaded)].p50_ms
        # On an idle machine throughput is bound by CPU: the whole chain's CPU per request.
        d, v = by[(direct, loaded)], by[(via, loaded)]
        cpu_ratio = (d.client_us + d.backend_us) / (v.client_us + v.backend_us + v.lb_us)
        print(
            f"{kind}: CPU per request (c={loaded}): direct {d.client_us + d.backend_us:.1f} us,"
            f" via LB {v.client_us + v.backend_us + v.lb_us:.1f} us (LB {v.lb_us:.1f} us):"
            f" CPU-bound via LB / direct = {cpu_ratio:.0%}"
        )
        summary[kind] = {
            "cpu_bound_ratio": cpu_ratio,
            "throughput_ratio": ratio,
            "added_p50_ms_c1": added_idle,
            f"added_p50_ms_c{loaded}": added_loaded,
        }
        checks = [
            (f"{kind}: via LB / direct req/s (c={loaded})", f"{ratio:.0%}", ">= 80%", ratio >= 0.8),
            (f"{kind}: added p50, c=1", f"{added_idle:.3f} ms", "< 1 ms", added_idle < 1.0),
            (
                f"{kind}: added p50, c={loaded}",
                f"{added_loaded:.3f} ms",
                "< 1 ms",
                added_loaded < 1.0,
            ),
        ]
        for figure, value, target_text, met in checks:
            print(f"{figure:<45}{value:>10}  target {target_text:<8} {'met' if met else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
                "load_average": os.getloadavg(),
                "runs": [asdict(r) for r in runs],
                "summary": summary,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
