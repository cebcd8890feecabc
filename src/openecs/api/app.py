"""The ASGI application: AWS APIs on POST /, health on /healthz.

One app, one port. Requests are authenticated with SigV4 and dispatched by
protocol: an X-Amz-Target header names a JSON 1.1 service and operation; a form
body without one is a Query request (`Action=...`) for the service its
signature is scoped to. Each answer comes only after the use case has
committed. Each request is logged (operation, status, duration), never its
credentials.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from openecs.api.auth import Authenticator
from openecs.api.context import RequestContext
from openecs.api.json_protocol import JsonService
from openecs.api.query_protocol import (
    XML_CONTENT_TYPE,
    QueryService,
    error_response,
    is_query_request,
    parse_form,
)
from openecs.domain.errors import (
    AwsError,
    InvalidActionException,
    InvalidSignatureException,
    ServerException,
    UnknownOperationException,
)
from openecs.usecases.backend import Backend

__all__ = ["ApiAnswer", "ApiGateway", "AwsApiEndpoint", "RequestCounts", "create_app"]

log = logging.getLogger("openecs.api")

_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """One response, ready for the wire."""

    status: int
    body: bytes
    media_type: str
    operation: str
    error_code: str | None = None


class RequestCounts:
    """Answered AWS API requests by (operation, HTTP status), for `/metrics`."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()

    def add(self, operation: str, status: int) -> None:
        with self._lock:
            self._counts[(operation, status)] += 1

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self._counts)


class ApiGateway:
    """Routes a signed AWS request to the service that owns its operation."""

    def __init__(
        self,
        backend: Backend,
        authenticator: Authenticator,
        services: Sequence[JsonService | QueryService],
    ) -> None:
        self.backend = backend
        self.authenticator = authenticator
        self.by_prefix = {s.target_prefix: s for s in services if isinstance(s, JsonService)}
        self.by_signing_name = {s.signing_name: s for s in services if isinstance(s, QueryService)}

    def handle(
        self, path: str, query: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> ApiAnswer:
        """The answer to one request (`headers` with lowercase names); never raises."""
        if is_query_request(headers):
            return self.handle_query(path, query, headers, body, request_id)
        return self.handle_json(path, query, headers, body, request_id)

    def handle_json(
        self, path: str, query: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> ApiAnswer:
        target = headers.get("x-amz-target", "")
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
            result = service.handle(operation, body, ctx)
            return ApiAnswer(200, _json(result), _JSON_CONTENT_TYPE, operation or target)
        except AwsError as err:
            return _json_error(err, operation or target)
        except Exception:
            log.exception("request failed", extra={"operation": operation, "requestId": request_id})
            fault = ServerException(f"An internal error occurred. Request id: {request_id}")
            return _json_error(fault, operation or target)

    def handle_query(
        self, path: str, query: str, headers: Mapping[str, str], body: bytes, request_id: str
    ) -> ApiAnswer:
        service: QueryService | None = None
        operation = ""
        try:
            form: dict[str, str] | None = None
            form_error: AwsError | None = None
            try:
                form = parse_form(body)
                operation = form.get("Action", "")
            except AwsError as err:
                form_error = err
            scope, signed_service = self.authenticator.authenticate(
                "POST", path, query, headers, body
            )
            service = self.by_signing_name.get(signed_service)
            if service is None:
                raise InvalidActionException(
                    f"The service '{signed_service}' does not accept Query requests."
                )
            if form_error is not None or form is None:
                raise form_error or InvalidActionException("The request has no form body.")
            ctx = RequestContext(scope=scope, backend=self.backend, request_id=request_id)
            return ApiAnswer(200, service.handle(form, ctx), XML_CONTENT_TYPE, operation)
        except AwsError as err:
            return _query_error(err, service or self._likely(headers), request_id, operation)
        except Exception:
            log.exception("request failed", extra={"operation": operation, "requestId": request_id})
            fault = ServerException(f"An internal error occurred. Request id: {request_id}")
            return _query_error(fault, service, request_id, operation)

    def _likely(self, headers: Mapping[str, str]) -> QueryService | None:
        """The Query service a request that failed before authentication meant, for the
        namespace of its error: the one its credential scope names, else the only one."""
        scope = headers.get("authorization", "").partition("Credential=")[2].split(",")[0]
        parts = scope.split("/")
        if len(parts) == 5 and parts[3] in self.by_signing_name:
            return self.by_signing_name[parts[3]]
        only = list(self.by_signing_name.values())
        return only[0] if len(only) == 1 else None


def _json(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _json_error(err: AwsError, operation: str) -> ApiAnswer:
    body = _json({"__type": err.code, "message": err.message})
    return ApiAnswer(err.status, body, _JSON_CONTENT_TYPE, operation, err.code)


def _query_error(
    err: AwsError, service: QueryService | None, request_id: str, operation: str
) -> ApiAnswer:
    if service is not None:
        status, code, body = service.error(err, request_id)
    else:
        status, code, body = error_response(err, request_id)
    return ApiAnswer(status, body, XML_CONTENT_TYPE, operation, code)


def create_app(
    gateway: ApiGateway,
    extra_routes: Sequence[BaseRoute] = (),
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    request_counts: RequestCounts | None = None,
    *,
    inline_reads: bool = False,
) -> ASGIApp:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), *extra_routes],
        lifespan=lifespan,
    )
    return AwsApiEndpoint(gateway, routes, request_counts, inline_reads=inline_reads)


class AwsApiEndpoint:
    """`POST /` straight on ASGI; everything else goes to the Starlette routes.

    Every AWS call takes this path, so it skips what it does not need: Starlette's
    routing, middleware and Request/Response objects cost about a fifth of a
    simple read's CPU. The use case runs in the thread pool: it may wait on the
    database (SQLite's fsync, PostgreSQL), which must not stall the event loop
    that also serves agents' long polls and the controllers.

    One exception, with `inline_reads` (SQLite, whose readers never wait for a
    lock in WAL mode, nor for a network): a read (Describe*, List*, Get*) that
    arrives while no other request is being answered runs on the event loop. The
    hand-off to a worker thread and back was about a fifth of such a read's CPU;
    a client polling one task pays it on every poll. Under concurrency the pool
    is faster (SQLite steps without the GIL, so a second thread overlaps it), so
    any request in flight sends the next one to the pool.
    """

    def __init__(
        self,
        gateway: ApiGateway,
        routes: ASGIApp,
        request_counts: RequestCounts | None,
        *,
        inline_reads: bool = False,
    ) -> None:
        self.gateway = gateway
        self.routes = routes
        self.request_counts = request_counts
        self.inline_reads = inline_reads
        self._in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] != "POST":
            await self.routes(scope, receive, send)
            return
        started = time.perf_counter()
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope["query_string"].decode("latin-1")
        request_id = str(uuid.uuid4())
        inline = self.inline_reads and self._in_flight == 0 and _is_read(headers)
        self._in_flight += 1
        try:
            if inline:
                answer = self.gateway.handle("/", query, headers, body, request_id)
            else:
                answer = await run_in_threadpool(
                    self.gateway.handle, "/", query, headers, body, request_id
                )
        finally:
            self._in_flight -= 1
        response_headers = [
            (b"content-type", answer.media_type.encode()),
            (b"content-length", str(len(answer.body)).encode()),
            (b"x-amzn-requestid", request_id.encode()),
        ]
        if answer.error_code is not None and answer.media_type == _JSON_CONTENT_TYPE:
            response_headers.append((b"x-amzn-errortype", answer.error_code.encode()))
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": answer.body})
        if self.request_counts is not None:
            self.request_counts.add(answer.operation, answer.status)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "operation": answer.operation,
                    "status": answer.status,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                    "error": answer.error_code,
                },
            )


_READ_PREFIXES = ("Describe", "List", "Get")


def _is_read(headers: Mapping[str, str]) -> bool:
    """Whether a JSON-protocol request names a read-only operation."""
    target = headers.get("x-amz-target")
    return target is not None and target.rpartition(".")[2].startswith(_READ_PREFIXES)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
