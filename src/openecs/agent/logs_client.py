"""CloudWatch Logs calls from the agent: JSON 1.1, SigV4-signed for the `logs` service.

LogsApiError       the control plane refused the call (4xx): retrying will not help
LogsUnavailable    no answer, 5xx or throttling: the same call may succeed later
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["TARGET_PREFIX", "LogsApiError", "LogsClient", "LogsClientPool", "LogsUnavailable"]

TARGET_PREFIX = "Logs_20140328"
_RETRYABLE_CODES = {"ThrottlingException", "ServiceUnavailableException", "ServerException"}


class LogsApiError(Exception):
    """The control plane refused a Logs call (a 4xx other than throttling)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LogsUnavailable(Exception):
    """No answer, a 5xx or throttling: the same call may succeed later."""


class LogsClient:
    """CloudWatch Logs JSON 1.1 calls, signed with SigV4 for the `logs` service in
    `region` (the region the log group lives in)."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        self.url = f"{parts.scheme}://{parts.netloc}/"
        self.region = region
        self._signer = SigV4Auth(Credentials(access_key, secret_key), "logs", region)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
            limits=httpx.Limits(max_keepalive_connections=4),
        )

    async def call(self, operation: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        request = AWSRequest(
            method="POST",
            url=self.url,
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"{TARGET_PREFIX}.{operation}",
            },
        )
        self._signer.add_auth(request)
        try:
            response = await self._http.post(
                self.url, content=body, headers=dict(request.headers.items())
            )
        except httpx.HTTPError as exc:
            raise LogsUnavailable(f"{operation}: {exc!r}") from exc
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        if response.status_code == 200:
            return dict(data)
        code = str(data.get("__type", "")).rsplit("#", 1)[-1] or f"HTTP{response.status_code}"
        message = str(data.get("message") or data.get("Message") or response.text[:200])
        if response.status_code >= 500 or code in _RETRYABLE_CODES:
            raise LogsUnavailable(f"{operation}: {code}: {message}")
        raise LogsApiError(code, message)

    async def aclose(self) -> None:
        await self._http.aclose()


class LogsClientPool:
    """One LogsClient per region, for an agent whose containers log to several."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str) -> None:
        self._endpoint = endpoint
        self._keys = (access_key, secret_key)
        self._clients: dict[str, LogsClient] = {}

    def for_region(self, region: str) -> LogsClient:
        client = self._clients.get(region)
        if client is None:
            client = LogsClient(self._endpoint, *self._keys, region)
            self._clients[region] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
