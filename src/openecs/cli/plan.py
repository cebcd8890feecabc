"""`openecs plan`: where would these tasks go, and why not elsewhere? (a dry run)

openecs plan run-task --cli-input-json file://run-task.json
openecs plan service --cluster shop --service web
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from openecs.cli.signed_http import SignedClient, add_endpoint_argument

__all__ = ["add_plan_arguments", "run_plan"]


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_subparsers(dest="plan_of", required=True)
    run = what.add_parser("run-task", help="plan a RunTask request without running it")
    run.add_argument("--cli-input-json", required=True, help="file://path or inline JSON")
    run.add_argument("--cluster", help="overrides the request's cluster")
    run.add_argument("--output", choices=["table", "json"], default="table")
    add_endpoint_argument(run)
    svc = what.add_parser("service", help="plan the tasks a service still needs")
    svc.add_argument("--cluster")
    svc.add_argument("--service", required=True)
    svc.add_argument("--output", choices=["table", "json"], default="table")
    add_endpoint_argument(svc)


def _load(text: str) -> dict[str, Any]:
    raw = Path(text[len("file://") :]).read_text() if text.startswith("file://") else text
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise SystemExit("--cli-input-json must hold a JSON object")
    return data


def _table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['launchType']}: {len(report['placements'])} of {report['requested']} "
        "task(s) placed"
    ]
    for p in report["placements"]:
        lines.append(
            f"  task {p['task']:>2} -> {p['ec2InstanceId']} ({p['availabilityZone']})"
            + (f" via {p['capacityProvider']}" if p.get("capacityProvider") else "")
        )
    for f in report["failures"]:
        lines.append(f"  not placed: {f['reason']} - {f.get('detail', '')}")
    lines.append("")
    lines.append(
        f"{'instance':<24} {'az':<12} {'placed':>6}  {'cpu':>6} {'MiB':>7}  "
        "verdict for one more task"
    )
    for i in report["instances"]:
        verdict = "ok" if not i["rejectedBy"] else f"{i['rejectedBy']}: {i['explanation'] or ''}"
        lines.append(
            f"{i['ec2InstanceId']:<24} {i['availabilityZone'] or '-':<12} {i['tasksPlaced']:>6}  "
            f"{i['remainingCpu']:>6} {i['remainingMemory']:>7}  {verdict}"
        )
    return "\n".join(lines)


def run_plan(args: argparse.Namespace) -> int:
    client = SignedClient(args.endpoint_url)
    if args.plan_of == "run-task":
        payload = _load(args.cli_input_json)
        if args.cluster:
            payload["cluster"] = args.cluster
        status, body = client.post("/openecs/v1/plan/run-task", payload)
    else:
        status, body = client.post(
            "/openecs/v1/plan/service", {"cluster": args.cluster, "service": args.service}
        )
    if status != 200:
        print(f"An error occurred ({body.get('__type')}): {body.get('message')}", file=sys.stderr)
        return 254
    print(json.dumps(body, indent=2) if args.output == "json" else _table(body))
    return 0
