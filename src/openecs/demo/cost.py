"""The cost of a Black Friday run, from the server's signed `GET /cost` endpoint.

Nothing is estimated here: when the server has no cost endpoint (or it fails),
the line says "cost: not available".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from openecs.demo.launcher import Connection

__all__ = ["NOT_AVAILABLE", "CostFetcher", "format_cost", "server_cost"]

NOT_AVAILABLE = "cost: not available"
CostFetcher = Callable[[float, float], str]


def signed_get(connection: Connection, path: str, params: Mapping[str, str]) -> httpx.Response:
    """GET `path` signed with SigV4, as the server's other endpoints expect."""
    url = str(httpx.URL(connection.endpoint + path, params=dict(params)))
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(connection.access_key, connection.secret_key)
    SigV4Auth(credentials, "ecs", connection.region).add_auth(request)
    return httpx.get(url, headers=dict(request.headers.items()), timeout=30)


def format_cost(report: Mapping[str, Any]) -> str:
    """One line: the total and the per-service split, in the report's currency."""
    lines = report.get("lines") or []
    currency = str(report.get("currency") or "USD")
    total = report.get("total")
    if total is None:
        total = sum(float(line.get("cost") or 0) for line in lines)
    parts = [
        f"{line.get('key')}: {float(line.get('cost') or 0):.6f}"
        for line in lines
        if line.get("key")
    ]
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"cost: {float(total):.6f} {currency}{detail}"


def server_cost(connection: Connection, cluster: str) -> CostFetcher:
    def fetch(start: float, end: float) -> str:
        try:
            answer = signed_get(
                connection,
                "/cost",
                {
                    "cluster": cluster,
                    "since": f"{start:.3f}",
                    "until": f"{end:.3f}",
                    "groupBy": "service",
                },
            )
        except httpx.HTTPError:
            return NOT_AVAILABLE
        if answer.status_code != 200:
            return f"{NOT_AVAILABLE} (GET /cost answered {answer.status_code})"
        try:
            return format_cost(answer.json())
        except (ValueError, TypeError, AttributeError):
            return NOT_AVAILABLE

    return fetch
