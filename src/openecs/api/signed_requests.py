"""The server's own signed HTTP routes (agent channel, plan, cost): SigV4 like the AWS
APIs, JSON bodies, and errors in the AWS JSON shape."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from openecs.api.auth import Authenticator
from openecs.domain.errors import AwsError, SerializationException
from openecs.domain.scope import Scope

__all__ = ["json_error", "signed_json", "signed_scope"]


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def signed_scope(authenticator: Authenticator, request: Request) -> Scope:
    """The scope of a signed request without a body (GET)."""
    scope, _ = authenticator.authenticate(
        request.method, request.url.path, request.url.query, _headers(request), b""
    )
    return scope


async def signed_json(
    authenticator: Authenticator, request: Request
) -> tuple[Scope, dict[str, Any]]:
    """The scope and the JSON object body of a signed POST."""
    body = await request.body()
    scope, _ = authenticator.authenticate(
        "POST", request.url.path, request.url.query, _headers(request), body
    )
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise SerializationException("Could not parse the request body as JSON.") from None
    if not isinstance(payload, dict):
        raise SerializationException("The request body must be a JSON object.")
    return scope, payload


def json_error(err: AwsError) -> Response:
    return JSONResponse({"__type": err.code, "message": err.message}, status_code=err.status)
