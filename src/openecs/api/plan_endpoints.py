"""Placement dry runs over HTTP (beyond ECS): a plan that explains itself.

    POST /openecs/v1/plan/run-task   body: a RunTask request (ECS JSON)
    POST /openecs/v1/plan/service    body: {"cluster": ..., "service": ...}

Both are SigV4-signed like the ECS API and answer, without changing anything,
where each task would go and, for every instance, the filter that rejects it.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openecs.api.auth import Authenticator
from openecs.api.handlers.ecs_tasks import launch_request_from
from openecs.api.json_protocol import JsonService
from openecs.api.signed_requests import json_error, signed_json
from openecs.domain.errors import AwsError, InvalidParameterException
from openecs.usecases import placement_plans
from openecs.usecases.backend import Backend

__all__ = ["plan_routes"]


def plan_routes(backend: Backend, authenticator: Authenticator, ecs: JsonService) -> list[Route]:
    run_task_shape = ecs.model.operation_model("RunTask").input_shape

    async def body_of(request: Request) -> tuple[Any, dict[str, Any]]:
        return await signed_json(authenticator, request)

    failed = json_error

    async def run_task(request: Request) -> Response:
        try:
            scope, payload = await body_of(request)
            params = ecs.validator.validate(run_task_shape, payload)
            req = launch_request_from(params)
            if not 1 <= req.count <= 10:
                raise InvalidParameterException("count must be between 1 and 10.")
            report = await run_in_threadpool(placement_plans.plan_run_task, backend, scope, req)
        except AwsError as err:
            return failed(err)
        return JSONResponse(report.to_api())

    async def service(request: Request) -> Response:
        try:
            scope, payload = await body_of(request)
            if not isinstance(payload.get("service"), str):
                raise InvalidParameterException("service must be a service name or ARN.")
            cluster = payload.get("cluster")
            report = await run_in_threadpool(
                placement_plans.plan_service,
                backend,
                scope,
                cluster if isinstance(cluster, str) else None,
                payload["service"],
            )
        except AwsError as err:
            return failed(err)
        return JSONResponse(report.to_api())

    return [
        Route("/openecs/v1/plan/run-task", run_task, methods=["POST"]),
        Route("/openecs/v1/plan/service", service, methods=["POST"]),
    ]
