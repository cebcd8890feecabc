"""`openecs cost`: what ran cost, to the second (and what it would cost).

openecs cost [--cluster C] [--service S] [--since T] [--until T] [--group-by G] [--json]
openecs cost estimate --task-definition web:3 [--count N] [--json]
openecs cost forecast --cluster C --service S [--json]

G is task, service (default), cluster, launch-type, day or tag:KEY; T is epoch
seconds, ISO 8601, or a duration back from now ("90m", "24h", "7d"). Like every
client-side command it finds the server through --endpoint-url or
AWS_ENDPOINT_URL and signs with the usual AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import botocore.session
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from openecs.cli.signed_http import add_endpoint_argument

__all__ = ["add_cost_arguments", "run_cost"]

_AGO = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster")
    parser.add_argument("--service")
    parser.add_argument("--since", help="epoch seconds, ISO 8601, or back from now: 90m, 24h, 7d")
    parser.add_argument("--until", help="as --since; default now")
    parser.add_argument(
        "--group-by",
        default="service",
        help="task, service, cluster, launch-type, day or tag:KEY (default: service)",
    )
    parser.add_argument("--json", action="store_true", help="print the server's JSON")
    add_endpoint_argument(parser)
    what = parser.add_subparsers(dest="cost_of")
    estimate = what.add_parser("estimate", help="what tasks of a definition would cost")
    estimate.add_argument("--task-definition", required=True)
    estimate.add_argument("--count", type=int, default=1)
    estimate.add_argument("--json", action="store_true")
    add_endpoint_argument(estimate)
    forecast = what.add_parser("forecast", help="a service's monthly cost at its desired count")
    forecast.add_argument("--cluster")
    forecast.add_argument("--service", required=True)
    forecast.add_argument("--json", action="store_true")
    add_endpoint_argument(forecast)


def _when(text: str | None, now: float) -> str | None:
    """A time for the server: durations ("24h") become epoch seconds back from now."""
    if not text:
        return None
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return repr(now - float(ago.group(1)) * _UNIT[ago.group(2)])
    return text


def _get(endpoint: str, path: str, params: dict[str, Any]) -> tuple[int, Any]:
    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(the key pair `openecs up` printed)"
        )
    region = session.get_config_variable("region") or "us-east-1"
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    url = endpoint.rstrip("/") + path + (f"?{query}" if query else "")
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials.get_frozen_credentials(), "ecs", region).add_auth(request)
    response = httpx.get(url, headers=dict(request.headers.items()), timeout=60)
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = {"__type": "ServerException", "message": response.text[:200]}
    return response.status_code, body


def _usd(value: float) -> str:
    return f"${value:,.6f}" if abs(value) < 1 else f"${value:,.2f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def report_table(report: dict[str, Any]) -> str:
    header = report["groupBy"]
    keys = [line["key"] for line in report["lines"]]
    width = max([len(header), 5, *(len(k) for k in keys)])
    width = min(width, 90)
    lines = [
        f"{header:<{width}}  {'tasks':>5}  {'task time':>9}  {'tasks cost':>12}  "
        f"{'idle cost':>12}  {'total':>12}"
    ]
    for line in report["lines"]:
        lines.append(
            f"{line['key'][:width]:<{width}}  {line['tasks']:>5}  "
            f"{_duration(line['taskSeconds']):>9}  {_usd(line['taskCost']):>12}  "
            f"{_usd(line['idleCost']):>12}  {_usd(line['cost']):>12}"
        )
    lines.append(
        f"{'TOTAL':<{width}}  {'':>5}  {'':>9}  {_usd(report['taskCost']):>12}  "
        f"{_usd(report['idleCost']):>12}  {_usd(report['total']):>12}"
    )
    since = report.get("since")
    span = "since the beginning" if since is None else f"since {_iso(since)}"
    lines.append(f"(USD, {span} until {_iso(report['until'])})")
    return "\n".join(lines)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def estimate_table(estimate: dict[str, Any]) -> str:
    lines = [
        f"{estimate['taskDefinitionArn']}: {estimate['cpu']} CPU units, {estimate['memory']} MiB, "
        f"{estimate['count']} task(s)",
        f"{'pricing':<14} {'arch':<7} {'per task/h':>12} {'per hour':>12} {'per month':>12}",
    ]
    for o in estimate["options"]:
        lines.append(
            f"{o['pricing']:<14} {o['cpuArchitecture']:<7} {_usd(o['perTaskHourly']):>12} "
            f"{_usd(o['hourly']):>12} {_usd(o['monthly']):>12}"
        )
    lines.append(f"(USD; a month is {estimate['hoursPerMonth']} hours)")
    return "\n".join(lines)


def forecast_table(forecast: dict[str, Any]) -> str:
    split = ", ".join(f"{n} {p}" for p, n in sorted(forecast["tasksByPricing"].items()))
    lines = [
        f"service {forecast['service']} ({forecast['cluster']}): {forecast['desiredCount']} "
        f"task(s) of {forecast['cpu']} CPU units, {forecast['memory']} MiB "
        f"{forecast['cpuArchitecture']}" + (f" ({split})" if split else ""),
        f"per hour {_usd(forecast['hourly'])}, per month {_usd(forecast['monthly'])} "
        f"({forecast['hoursPerMonth']} h)",
    ]
    if forecast.get("note"):
        lines.append(forecast["note"])
    return "\n".join(lines)


def run_cost(args: argparse.Namespace) -> int:
    render: Callable[[dict[str, Any]], str]
    if args.cost_of == "estimate":
        status, body = _get(
            args.endpoint_url,
            "/cost/estimate",
            {"taskDefinition": args.task_definition, "count": args.count},
        )
        render = estimate_table
    elif args.cost_of == "forecast":
        status, body = _get(
            args.endpoint_url, "/cost/forecast", {"cluster": args.cluster, "service": args.service}
        )
        render = forecast_table
    else:
        now = time.time()
        status, body = _get(
            args.endpoint_url,
            "/cost",
            {
                "cluster": args.cluster,
                "service": args.service,
                "since": _when(args.since, now),
                "until": _when(args.until, now),
                "groupBy": args.group_by,
            },
        )
        render = report_table
    if status != 200:
        body = body if isinstance(body, dict) else {}
        print(f"An error occurred ({body.get('__type')}): {body.get('message')}", file=sys.stderr)
        return 254
    print(json.dumps(body, indent=2) if args.json else render(body))
    return 0
