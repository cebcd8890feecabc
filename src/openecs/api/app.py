"""The ASGI application: AWS APIs on POST /, health on /healthz.

One app, one port. Requests are authenticated with SigV4, dispatched by
X-Amz-Target to a JSON 1.1 service, and answered only after the use case has
committed. Each request is logged (operation, status, duration), never its
credentials.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from openecs.api.auth import Authenticator
from openecs.api.context import RequestContext
from openecs.api.json_protocol import JsonService
from openecs.domain.errors import (
    AwsError,
    InvalidSignatureException,
    ServerException,
    UnknownOperationException,
)
from openecs.usecases.backend import Backend

__all__ = ["ApiGateway", "create_app"]

log = logging.getLogger("openecs.api")

_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


class ApiGateway:
    """Routes a signed AWS request to the service that owns its operation."""

    def __init__(
        self, backend: Backend, authenticator: Authenticator, services: list[JsonService]
    ) -> None:
        self.backend = backend
        self.authenticator = authenticator
        self.by_prefix = {s.target_prefix: s for s in services}

    def handle_json(
        self,
        target: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
    ) -> tuple[int, dict[str, Any], str]:
        """(status, body, operation) for one JSON 1.1 request; never raises."""
        prefix, _, operation = target.rpartition(".")
        try:
            service = self.by_prefix.get(prefix)
            scope, signed_service = self.authenticator.authenticate(
                "POST", path, query, headers, body
            )
            if service is None:
                raise UnknownOperationException(f"Unknown operation {target}")
            if signed_service != service.signing_name:
                raise InvalidSignatureException(
                    f"Credential should be scoped to correct service: '{service.signing_name}'."
                )
            ctx = RequestContext(scope=scope, backend=self.backend, request_id=request_id)
            return 200, service.handle(operation, body, ctx), operation
        except AwsError as err:
            return err.status, {"__type": err.code, "message": err.message}, operation
        except Exception:
            log.exception("request failed", extra={"operation": operation, "requestId": request_id})
            fault = ServerException(f"An internal error occurred. Request id: {request_id}")
            return fault.status, {"__type": fault.code, "message": fault.message}, operation


def create_app(
    gateway: ApiGateway,
    extra_routes: Sequence[BaseRoute] = (),
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    async def aws_api(request: Request) -> Response:
        started = time.perf_counter()
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        target = headers.get("x-amz-target", "")
        request_id = str(uuid.uuid4())
        status, payload, operation = await run_in_threadpool(
            gateway.handle_json,
            target,
            request.url.path,
            request.url.query,
            headers,
            body,
            request_id,
        )
        response_headers = {"x-amzn-RequestId": request_id}
        if status != 200:
            response_headers["x-amzn-ErrorType"] = str(payload.get("__type"))
        response = Response(
            json.dumps(payload, separators=(",", ":")),
            status_code=status,
            media_type=_JSON_CONTENT_TYPE,
            headers=response_headers,
        )
        log.info(
            "request",
            extra={
                "operation": operation or target,
                "status": status,
                "durationMs": round((time.perf_counter() - started) * 1000, 2),
                "error": payload.get("__type") if status != 200 else None,
            },
        )
        return response

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/", aws_api, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *extra_routes,
        ],
        lifespan=lifespan,
    )
