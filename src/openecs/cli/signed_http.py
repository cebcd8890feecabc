"""How client-side `openecs` commands reach a server: the endpoint from
--endpoint-url or AWS_ENDPOINT_URL, credentials and region the way the AWS
CLI finds them, every request SigV4-signed."""

from __future__ import annotations

import json
import os
from typing import Any

import botocore.session
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

__all__ = ["SignedClient", "add_endpoint_argument"]


def add_endpoint_argument(parser: Any) -> None:
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4580"),
        help="the OpenECS server (default: $AWS_ENDPOINT_URL)",
    )


class SignedClient:
    def __init__(self, endpoint: str) -> None:
        session = botocore.session.get_session()
        credentials = session.get_credentials()
        if credentials is None:
            raise SystemExit(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(the key pair `openecs up` printed)"
            )
        self.endpoint = endpoint.rstrip("/")
        self.region = session.get_config_variable("region") or "us-east-1"
        self._credentials = credentials.get_frozen_credentials()

    def post(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        url = self.endpoint + path
        body = json.dumps(payload).encode()
        request = AWSRequest(
            method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
        )
        SigV4Auth(self._credentials, "ecs", self.region).add_auth(request)
        response = httpx.post(url, content=body, headers=dict(request.headers.items()), timeout=60)
        return response.status_code, response.json() if response.content else None
