"""Hand-made SigV4-signed requests, for tests that need to bend what an SDK would send.

botocore's own `SigV4Auth` signs; these helpers only choose what goes into
the request (time, region, service, keys) and what happens to it after
signing (a tampered body, a dropped header).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY

ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


def encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return json.dumps(body).encode()


def sign(
    endpoint: str,
    body: Any,
    *,
    target: str | None,
    content_type: str = JSON_CONTENT_TYPE,
    region: str = REGION,
    service: str = "ecs",
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    when: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers (Authorization, X-Amz-Date, ...) that sign a POST of `body` to `endpoint`;
    no X-Amz-Target when `target` is None (the Query protocol)."""
    base = {"Content-Type": content_type}
    if target is not None:
        base["X-Amz-Target"] = target
    request = AWSRequest(
        method="POST",
        url=endpoint.rstrip("/") + "/",
        data=encode(body),
        headers={**base, **(headers or {})},
    )
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    if when is None:
        signer.add_auth(request)
    else:
        naive_utc = when.astimezone(UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
            signer.add_auth(request)
    return dict(request.headers.items())


def call(
    endpoint: str,
    operation: str,
    body: Any = None,
    *,
    client: httpx.Client | None = None,
    send_body: bytes | None = None,
    target_prefix: str = ECS_TARGET_PREFIX,
    **signing: Any,
) -> httpx.Response:
    """Sign `body` for `operation` and POST it; `send_body` replaces the body after signing."""
    payload = encode({} if body is None else body)
    headers = sign(endpoint, payload, target=f"{target_prefix}.{operation}", **signing)
    content = payload if send_body is None else send_body
    http = client or httpx.Client(timeout=30)
    try:
        return http.post(endpoint.rstrip("/") + "/", content=content, headers=headers)
    finally:
        if client is None:
            http.close()


def call_query(
    endpoint: str,
    form: str | bytes,
    *,
    service: str = "elasticloadbalancing",
    client: httpx.Client | None = None,
    **signing: Any,
) -> httpx.Response:
    """Sign and POST a Query-protocol form body (`Action=...&Version=...&...`)."""
    payload = form.encode() if isinstance(form, str) else form
    headers = sign(
        endpoint,
        payload,
        target=None,
        content_type=FORM_CONTENT_TYPE,
        service=service,
        **signing,
    )
    http = client or httpx.Client(timeout=30)
    try:
        return http.post(endpoint.rstrip("/") + "/", content=payload, headers=headers)
    finally:
        if client is None:
            http.close()
