"""The agent's side of the agent channel: signed calls to the control plane."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from openecs.agent.http_transport import tcp_transport

__all__ = ["ControlPlaneClient", "ControlPlaneError"]


class ControlPlaneError(Exception):
    """The control plane refused a call (4xx) — retrying the same call will not help."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Signer:
    credentials: Credentials
    region: str

    def headers(self, url: str, body: bytes, extra: dict[str, str] | None = None) -> dict[str, str]:
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={"Content-Type": "application/json", **(extra or {})},
        )
        SigV4Auth(self.credentials, "ecs", self.region).add_auth(request)
        return dict(request.headers.items())


class ControlPlaneClient:
    def __init__(
        self, endpoint: str, access_key: str, secret_key: str, region: str, *, timeout: float = 40.0
    ) -> None:
        parts = urlsplit(endpoint)
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self._signer = _Signer(Credentials(access_key, secret_key), region)
        # Plain HTTP on the agent's own lean transport (a report or a poll answer is on
        # the path of every task start); HTTPS on httpx's.
        transport = (
            tcp_transport(parts.hostname or "127.0.0.1", parts.port or 80)
            if parts.scheme == "http"
            else None
        )
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_keepalive_connections=4),
        )

    async def ecs(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Call an ECS API operation (JSON 1.1), e.g. on behalf of a task."""
        return await self.call(
            "/",
            payload,
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{operation}",
            },
        )

    async def call(
        self, path: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        url = self.endpoint + path
        body = json.dumps(payload, separators=(",", ":")).encode()
        response = await self._http.post(
            url, content=body, headers=self._signer.headers(url, body, headers)
        )
        data: dict[str, Any] = response.json() if response.content else {}
        if 400 <= response.status_code < 500:
            raise ControlPlaneError(
                str(data.get("__type", "ClientError")), str(data.get("message"))
            )
        response.raise_for_status()
        return data

    async def aclose(self) -> None:
        await self._http.aclose()
