"""API latency and throughput of the control plane, with real SigV4 signing.

Starts a real `openecs server` (SQLite in a temporary data dir, or --database-url),
registers a few task definitions, then measures at concurrency 1 and 32:

* GET /healthz, unsigned: the floor (HTTP server, event loop, client) in the same run;
* DescribeTaskDefinition and ListTaskDefinitions: reads;
* RegisterTaskDefinition: a write, committed before it is answered.

The load generator is one process of threads, each with its own keep-alive
http.client connection. Every API request is signed when sent. botocore's
SigV4Auth costs ~0.5 ms a request, enough to distort c=32 on a small machine,
so requests are signed by a lean SigV4 signer that is checked at start-up to
produce exactly botocore's Authorization header.

    .venv/bin/python bench/api_latency.py [--duration 8] [--database-url URL]

Prints a table (figure, target, met?) and writes bench/results/api_latency.json.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess  # noqa: E402

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
CONTENT_TYPE = "application/x-amz-json-1.1"
FAMILIES = 5
REVISIONS = 4


# --- signing -------------------------------------------------------------------------


class Signer:
    """SigV4 for POST / with a JSON body: the four headers botocore signs, nothing more."""

    _SIGNED = "content-type;host;x-amz-date;x-amz-target"

    def __init__(self, host: str, key: str, secret: str, region: str, service: str) -> None:
        self.host, self.key, self.secret = host, key, secret
        self.region, self.service = region, service
        self._keys: dict[str, bytes] = {}

    def _signing_key(self, date: str) -> bytes:
        found = self._keys.get(date)
        if found is None:
            found = hmac.new(f"AWS4{self.secret}".encode(), date.encode(), hashlib.sha256).digest()
            for part in (self.region, self.service, "aws4_request"):
                found = hmac.new(found, part.encode(), hashlib.sha256).digest()
            self._keys[date] = found
        return found

    def headers(self, target: str, body: bytes, now: float | None = None) -> dict[str, str]:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        date = amz_date[:8]
        canonical = (
            f"POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{self.host}\n"
            f"x-amz-date:{amz_date}\nx-amz-target:{target}\n\n{self._SIGNED}\n"
            f"{hashlib.sha256(body).hexdigest()}"
        )
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(self._signing_key(date), to_sign.encode(), hashlib.sha256)
        return {
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": target,
            "X-Amz-Date": amz_date,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={self.key}/{scope}, "
                f"SignedHeaders={self._SIGNED}, Signature={signature.hexdigest()}"
            ),
        }


def check_signer_against_botocore(signer: Signer, endpoint: str) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    moment = datetime(2025, 11, 26, 12, 30, 45, tzinfo=UTC)
    body = b'{"taskDefinition": "bench-0:1"}'
    target = f"{TARGET_PREFIX}.DescribeTaskDefinition"
    request = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=body,
        headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": target},
    )
    naive = moment.replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive):
        SigV4Auth(Credentials(signer.key, signer.secret), signer.service, signer.region).add_auth(
            request
        )
    ours = signer.headers(target, body, now=moment.timestamp())
    if ours["Authorization"] != request.headers["Authorization"]:
        raise SystemExit(
            "bench signer disagrees with botocore:\n"
            f"  ours:     {ours['Authorization']}\n  botocore: {request.headers['Authorization']}"
        )


# --- load ----------------------------------------------------------------------------

Request = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers
MakeRequest = Callable[[int], Request]


@dataclass
class Result:
    name: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms: float  # server CPU time (user + system) per request


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    host: str,
    port: int,
    name: str,
    make: MakeRequest,
    concurrency: int,
    duration: float,
    server_pid: int,
) -> Result:
    """`concurrency` threads send requests back to back for `duration` seconds."""
    warm_until = time.perf_counter() + min(1.0, duration / 5)
    stop_at = warm_until + duration
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    ready = threading.Barrier(concurrency + 1)

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine = latencies[slot]
        i = slot
        ready.wait()
        while True:
            method, path, body, headers = make(i)
            i += concurrency
            started = time.perf_counter()
            if started >= stop_at:
                break
            try:
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=60)
                ok = False
            finished = time.perf_counter()
            if started >= warm_until:
                mine.append(finished - started)
                if not ok:
                    errors[slot] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait()
    while time.perf_counter() < warm_until:
        time.sleep(0.01)
    cpu_before = process_cpu_seconds(server_pid)
    for t in threads:
        t.join()
    cpu_used = process_cpu_seconds(server_pid) - cpu_before
    samples = sorted(x for per in latencies for x in per)
    if not samples:
        raise SystemExit(f"{name}: no samples")
    count = len(samples)

    def pct(p: float) -> float:
        return samples[min(count - 1, int(p * count))] * 1000

    return Result(
        name=name,
        concurrency=concurrency,
        requests=count,
        errors=sum(errors),
        seconds=round(duration, 2),
        rps=round(count / duration, 1),
        p50_ms=round(statistics.median(samples) * 1000, 2),
        p99_ms=round(pct(0.99), 2),
        max_ms=round(samples[-1] * 1000, 2),
        server_cpu_ms=round(cpu_used * 1000 / count, 3),
    )


def api_request(signer: Signer, operation: str, body_for: Callable[[int], bytes]) -> MakeRequest:
    target = f"{TARGET_PREFIX}.{operation}"

    def make(i: int) -> Request:
        body = body_for(i)
        return "POST", "/", body, signer.headers(target, body)

    return make


def task_definition(family: str, i: int) -> dict[str, Any]:
    return {
        "family": family,
        "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": "web",
                "image": f"public.ecr.aws/nginx/nginx:{i}",
                "essential": True,
                "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
                "environment": [{"name": "N", "value": str(i)}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/bench", "awslogs-region": REGION},
                },
            },
            {"name": "sidecar", "image": "busybox", "essential": False, "memory": 64},
        ],
        "tags": [{"key": "bench", "value": "yes"}],
    }


def prepare(host: str, port: int, signer: Signer) -> list[str]:
    """Register FAMILIES x REVISIONS task definitions; their family:revision references."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    refs = []
    target = f"{TARGET_PREFIX}.RegisterTaskDefinition"
    for f in range(FAMILIES):
        for r in range(REVISIONS):
            body = json.dumps(task_definition(f"bench-{f}", r)).encode()
            conn.request("POST", "/", body=body, headers=signer.headers(target, body))
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise SystemExit(f"RegisterTaskDefinition failed: {response.status} {payload!r}")
            arn = json.loads(payload)["taskDefinition"]["taskDefinitionArn"]
            refs.append(arn.rsplit("/", 1)[1])
    conn.close()
    return refs


# --- report --------------------------------------------------------------------------


@dataclass
class Target:
    figure: str  # "p99_ms" or "rps"
    limit: float

    def describe(self) -> str:
        return f"p99 < {self.limit:g} ms" if self.figure == "p99_ms" else f">= {self.limit:g} req/s"

    def met(self, result: Result) -> bool:
        if result.errors:
            return False
        if self.figure == "p99_ms":
            return result.p99_ms < self.limit
        return result.rps >= self.limit


TARGETS: dict[tuple[str, int], Target] = {
    ("DescribeTaskDefinition", 1): Target("p99_ms", 20),
    ("ListTaskDefinitions", 1): Target("p99_ms", 20),
    ("DescribeTaskDefinition", 32): Target("rps", 500),
    ("ListTaskDefinitions", 32): Target("rps", 500),
    ("RegisterTaskDefinition", 1): Target("p99_ms", 50),
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, {platform.system()}"


def print_table(results: list[Result]) -> None:
    header = (
        f"{'benchmark':<24}{'c':>4}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>8}{'cpu ms/req':>12}  {'target':<18}{'met?':<5}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        target = TARGETS.get((r.name, r.concurrency))
        shown = target.describe() if target else "(baseline)" if "healthz" in r.name else "-"
        met = ("yes" if target.met(r) else "NO") if target else ""
        print(
            f"{r.name:<24}{r.concurrency:>4}{r.rps:>10.1f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}"
            f"{r.max_ms:>9.2f}{r.errors:>8}{r.server_cpu_ms:>12.2f}  {shown:<18}{met:<5}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    parser.add_argument(
        "--log-level", default="INFO", help="server log level (INFO, the default, logs requests)"
    )
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "api_latency.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="openecs-bench-") as data_dir:
        server = ServerProcess(
            Path(data_dir),
            database_url=args.database_url,
            extra_args=["--log-level", args.log_level],
        )
        server.start(timeout=300)
        assert server.proc is not None
        server_pid = server.proc.pid
        try:
            host, port = "127.0.0.1", server.port
            signer = Signer(f"{host}:{port}", ACCESS_KEY, SECRET_KEY, REGION, "ecs")
            check_signer_against_botocore(signer, server.endpoint)
            refs = prepare(host, port, signer)

            healthz: MakeRequest = lambda i: ("GET", "/healthz", b"", {})  # noqa: E731
            describe = api_request(
                signer,
                "DescribeTaskDefinition",
                lambda i: json.dumps({"taskDefinition": refs[i % len(refs)]}).encode(),
            )
            listing = api_request(
                signer,
                "ListTaskDefinitions",
                lambda i: json.dumps({"familyPrefix": f"bench-{i % FAMILIES}"}).encode(),
            )
            register = api_request(
                signer,
                "RegisterTaskDefinition",
                lambda i: json.dumps(task_definition(f"bench-write-{i % 8}", i)).encode(),
            )
            plan: list[tuple[str, MakeRequest]] = [
                ("GET /healthz", healthz),
                ("DescribeTaskDefinition", describe),
                ("ListTaskDefinitions", listing),
                ("RegisterTaskDefinition", register),
            ]
            results = []
            for concurrency in (1, 32):
                for name, make in plan:
                    result = run_load(
                        host, port, name, make, concurrency, args.duration, server_pid
                    )
                    results.append(result)
                    print(
                        f"  {name} c={concurrency}: {result.rps} req/s, "
                        f"p50 {result.p50_ms} ms, p99 {result.p99_ms} ms",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            server.stop()

    print()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"database: {args.database_url or 'SQLite (WAL, synchronous=FULL)'}")
    print()
    print_table(results)
    missed = [
        (r.name, r.concurrency)
        for r in results
        if (target := TARGETS.get((r.name, r.concurrency))) and not target.met(r)
    ]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "database": args.database_url or "sqlite",
                "results": [asdict(r) for r in results],
                "missed": missed,
            },
            indent=2,
        )
    )
    if missed:
        print(f"\ntargets missed: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
