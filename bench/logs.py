"""awslogs shipping: lines per second from one container to GetLogEvents, and the delay
of one line from Docker to GetLogEvents.

Starts a real `openecs server` (SQLite in a temporary data dir) and runs busybox
containers on the local Docker engine:

* throughput: a container writes `--lines` lines and exits; a LogShipper (as the
  agent runs it, blocking mode) ships them all. Beside it, the baselines: reading
  the same output raw from the Docker logs API (bare HTTP/1.0, newlines counted:
  Docker's own cost), and following it with the shipper's own reader (parsing, no
  shipping). Then every line is read back with GetLogEvents, page by page.
* delay: a container writes a line every 100 ms for `--seconds`; the benchmark
  polls GetLogEvents (forward tokens, every 25 ms) and records, per line, the time
  it became readable minus its Docker timestamp. Target: p99 < 2 s.

    .venv/bin/python bench/logs.py [--lines 200000] [--seconds 10] [--flush-interval 0.5]

Prints a table (figure, target, met?) and writes bench/results/logs.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.images import ensure_busybox_image  # noqa: E402
from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess  # noqa: E402

from openecs.agent.docker_api import DockerClient  # noqa: E402
from openecs.agent.log_shipper import (  # noqa: E402
    AwslogsOptions,
    DockerLogSource,
    LogsClient,
    LogShipper,
)

LABELS = {"openecs.bench": "logs"}
TASK_ARN = f"arn:aws:ecs:{REGION}:000000000000:task/bench/{uuid.uuid4().hex}"


async def run_container(docker: DockerClient, image: str, script: str) -> str:
    container = await docker.container_create(
        {
            "Image": image,
            "Cmd": ["sh", "-c", script],
            "Labels": LABELS,
            "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}},
        },
        name=f"openecs-bench-logs-{uuid.uuid4().hex[:8]}",
    )
    await docker.container_start(container)
    return container


def shipper_for(
    server: ServerProcess, docker: DockerClient, container: str, group: str, data_dir: Path,
    flush_interval: float,
) -> LogShipper:  # fmt: skip
    return LogShipper(
        source=DockerLogSource(docker),
        client=LogsClient(server.endpoint, ACCESS_KEY, SECRET_KEY, REGION),
        options=AwslogsOptions.parse(
            {
                "awslogs-group": group,
                "awslogs-region": REGION,
                "awslogs-stream-prefix": "bench",
                "awslogs-create-group": "true",
                "mode": "blocking",
            }
        ),
        container_id=container,
        task_arn=TASK_ARN,
        container_name=container[:12],
        data_dir=data_dir,
        flush_interval=flush_interval,
    )


async def read_raw(docker: DockerClient, container: str) -> int:
    """Docker's own cost: the whole log over a bare HTTP/1.0 connection, lines counted."""
    version = await docker.api_version()
    reader, writer = await asyncio.open_unix_connection(docker.socket_path)
    target = f"/v{version}/containers/{container}/logs?stdout=1&stderr=1&timestamps=1"
    writer.write(f"GET {target} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    count = 0
    while chunk := await reader.read(256 * 1024):
        count += chunk.count(b"\n")
    writer.close()
    return count


def read_back(logs: Any, group: str, stream: str) -> int:
    count = 0
    token: str | None = None
    while True:
        args: dict[str, Any] = {"logGroupName": group, "logStreamName": stream}
        if token:
            args["nextToken"] = token
        page = logs.get_log_events(startFromHead=True, **args)
        count += len(page["events"])
        if page["nextForwardToken"] == token:
            return count
        token = page["nextForwardToken"]


async def throughput(
    server: ServerProcess, docker: DockerClient, image: str, lines: int, work: Path, flush: float
) -> dict[str, float]:
    logs = server.client("logs")
    container = await run_container(docker, image, f"seq 1 {lines} | sed 's/^/bench line number /'")
    await docker.container_wait(container)

    started = time.perf_counter()
    raw_lines = await read_raw(docker, container)
    raw_seconds = time.perf_counter() - started
    assert raw_lines == lines, f"the container wrote {raw_lines} of {lines} lines"

    source = DockerLogSource(docker)
    started = time.perf_counter()
    followed = 0
    async for _ in source.follow(container, since_nanos=0):
        followed += 1
    follow_seconds = time.perf_counter() - started
    assert followed == lines

    group = f"/bench/{uuid.uuid4().hex[:8]}"
    shipper = shipper_for(server, docker, container, group, work, flush)
    started = time.perf_counter()
    await shipper.prepare()
    shipper.start()
    await shipper.wait()
    ship_seconds = time.perf_counter() - started
    assert shipper.shipped_events == lines

    started = time.perf_counter()
    stored = await asyncio.to_thread(read_back, logs, group, shipper.stream)
    read_seconds = time.perf_counter() - started
    assert stored == lines, f"GetLogEvents returned {stored} of {lines} lines"
    await docker.container_remove(container, force=True)
    return {
        "docker_raw_lines_per_s": lines / raw_seconds,
        "docker_follow_lines_per_s": lines / follow_seconds,
        "shipped_lines_per_s": lines / ship_seconds,
        "get_log_events_lines_per_s": lines / read_seconds,
        "ship_seconds": ship_seconds,
    }


def poll_delays(logs: Any, group: str, stream: str, expected: int, deadline: float) -> list[float]:
    """Seconds from each line's Docker time to the moment GetLogEvents first showed it."""
    delays: list[float] = []
    token: str | None = None
    while len(delays) < expected and time.time() < deadline:
        args: dict[str, Any] = {"logGroupName": group, "logStreamName": stream}
        if token:
            args["nextToken"] = token
        try:
            page = logs.get_log_events(startFromHead=True, **args)
        except logs.exceptions.ResourceNotFoundException:
            time.sleep(0.025)
            continue
        seen = time.time()
        delays += [seen - event["timestamp"] / 1000 for event in page["events"]]
        token = page["nextForwardToken"]
        time.sleep(0.025)
    return delays


async def delay(
    server: ServerProcess, docker: DockerClient, image: str, seconds: float, work: Path,
    flush: float,
) -> dict[str, float]:  # fmt: skip
    logs = server.client("logs")
    count = int(seconds * 10)
    script = f'i=0; while [ $i -lt {count} ]; do echo "tick $i"; i=$((i+1)); usleep 100000; done'
    container = await run_container(docker, image, script)
    group = f"/bench/{uuid.uuid4().hex[:8]}"
    shipper = shipper_for(server, docker, container, group, work, flush)
    await shipper.prepare()
    shipper.start()
    delays = await asyncio.to_thread(
        poll_delays, logs, group, shipper.stream, count, time.time() + seconds + 30
    )
    await shipper.wait()
    await docker.container_remove(container, force=True)
    assert len(delays) == count, f"saw {len(delays)} of {count} lines"
    ordered = sorted(delays)
    return {
        "lines": count,
        "p50_s": statistics.median(ordered),
        "p99_s": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max_s": ordered[-1],
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    image = ensure_busybox_image()
    work = Path(tempfile.mkdtemp(prefix="openecs-bench-logs-"))
    server = ServerProcess(work / "server").start(timeout=120)
    try:
        async with DockerClient() as docker:
            rates = await throughput(
                server, docker, image, args.lines, work / "agent", args.flush_interval
            )
            delays = await delay(
                server, docker, image, args.seconds, work / "agent", args.flush_interval
            )
    finally:
        server.stop()
    return {"throughput": rates, "delay": delays}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--flush-interval", type=float, default=0.5)
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    rates, delays = results["throughput"], results["delay"]
    rows = [
        ("Docker logs API, raw read (baseline)", f"{rates['docker_raw_lines_per_s']:,.0f}", "", ""),
        ("shipper's reader, parse only (baseline)",
         f"{rates['docker_follow_lines_per_s']:,.0f}", "", ""),
        ("shipped to the control plane", f"{rates['shipped_lines_per_s']:,.0f}", "", ""),
        ("read back with GetLogEvents", f"{rates['get_log_events_lines_per_s']:,.0f}", "", ""),
        ("delay Docker → GetLogEvents, p50", f"{delays['p50_s']:.2f} s", "< 2 s",
         "yes" if delays["p50_s"] < 2 else "**no**"),
        ("delay Docker → GetLogEvents, p99", f"{delays['p99_s']:.2f} s", "< 2 s",
         "yes" if delays["p99_s"] < 2 else "**no**"),
        ("delay Docker → GetLogEvents, max", f"{delays['max_s']:.2f} s", "", ""),
    ]  # fmt: skip
    print(f"{args.lines:,} lines, {delays['lines']} timed lines, flush {args.flush_interval} s")
    print("| figure | lines/s or delay | target | met? |")
    print("|---|---:|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs.json").write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load": os.getloadavg(),
                "args": vars(args),
                **results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
