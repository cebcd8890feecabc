"""Cost accounting over HTTP (beyond ECS): what ran cost, to the second, as JSON.

    GET /cost?cluster=&service=&since=&until=&groupBy=
        groupBy: task | service (default) | cluster | launch-type | day | tag:KEY
        since/until: epoch seconds or ISO 8601 (UTC when no offset is given)
    GET /cost/forecast?cluster=&service=
        the service's monthly (730 h) cost at its desired count and task size
    GET /cost/estimate?taskDefinition=&count=
        what N tasks of a definition would cost per hour and month, before any runs
    GET /cost/prices
        the price table in force

Each is SigV4-signed like the ECS API (any service name in the scope; the
account and region come from it). Answers are the `to_api()` documents of
usecases.cost; errors are ECS-style `{"__type", "message"}` bodies.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openecs.api.auth import Authenticator
from openecs.api.signed_requests import json_error, signed_scope
from openecs.domain.errors import AwsError, InvalidParameterException
from openecs.domain.prices import PriceTable
from openecs.domain.scope import Scope
from openecs.usecases import cost
from openecs.usecases.backend import Backend

__all__ = ["cost_routes", "parse_time"]


def parse_time(name: str, text: str | None) -> float | None:
    """Epoch seconds from "1764115200", "1764115200.5" or ISO 8601 ("2025-11-26T10:00:00Z")."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidParameterException(
            f"{name} must be epoch seconds or an ISO 8601 time, not {text!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def cost_routes(backend: Backend, authenticator: Authenticator, prices: PriceTable) -> list[Route]:
    def scope_of(request: Request) -> Scope:
        return signed_scope(authenticator, request)

    failed = json_error

    async def report(request: Request) -> Response:
        q = request.query_params
        try:
            scope = scope_of(request)
            found = await run_in_threadpool(
                lambda: cost.cost_report(
                    backend,
                    scope,
                    cluster=q.get("cluster") or None,
                    service=q.get("service") or None,
                    since=parse_time("since", q.get("since")),
                    until=parse_time("until", q.get("until")),
                    group_by=q.get("groupBy") or "service",
                    prices=prices,
                )
            )
        except AwsError as err:
            return failed(err)
        return JSONResponse(found.to_api())

    async def forecast(request: Request) -> Response:
        q = request.query_params
        try:
            scope = scope_of(request)
            service = q.get("service")
            if not service:
                raise InvalidParameterException("service is required.")
            found = await run_in_threadpool(
                lambda: cost.forecast_service(
                    backend, scope, cluster=q.get("cluster") or None, service=service, prices=prices
                )
            )
        except AwsError as err:
            return failed(err)
        return JSONResponse(found.to_api())

    async def estimate(request: Request) -> Response:
        q = request.query_params
        try:
            scope = scope_of(request)
            definition = q.get("taskDefinition")
            if not definition:
                raise InvalidParameterException("taskDefinition is required.")
            count_text = q.get("count") or "1"
            if not count_text.isdigit():
                raise InvalidParameterException("count must be a whole number.")
            found = await run_in_threadpool(
                lambda: cost.estimate_task_definition(
                    backend, scope, definition, count=int(count_text), prices=prices
                )
            )
        except AwsError as err:
            return failed(err)
        return JSONResponse(found.to_api())

    async def price_table(request: Request) -> Response:
        try:
            scope_of(request)
        except AwsError as err:
            return failed(err)
        return JSONResponse(prices.to_api())

    return [
        Route("/cost", report, methods=["GET"]),
        Route("/cost/forecast", forecast, methods=["GET"]),
        Route("/cost/estimate", estimate, methods=["GET"]),
        Route("/cost/prices", price_table, methods=["GET"]),
    ]
