"""A cheap SigV4-signed ECS client: one kept-alive `http.client` connection and
a hand-rolled signer (the signing key is derived once per day), so polling
DescribeTasks every few milliseconds costs the benchmark process little."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["EcsClient", "EcsError"]

_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113"
_CONTENT_TYPE = "application/x-amz-json-1.1"
_SIGNED_HEADERS = "content-type;host;x-amz-date;x-amz-target"


class EcsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class EcsClient:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        *,
        timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self._host_header = f"{self.host}:{self.port}"
        self._access_key = access_key
        self._secret = secret_key
        self._region = region
        self._timeout = timeout
        self._keys: dict[str, bytes] = {}
        self._conn: http.client.HTTPConnection | None = None

    def _signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            key = _hmac(("AWS4" + self._secret).encode(), day)
            for part in (self._region, "ecs", "aws4_request"):
                key = _hmac(key, part)
            self._keys = {day: key}
        return key

    def _headers(self, operation: str, payload: bytes) -> dict[str, str]:
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        day = amz_date[:8]
        target = f"{_TARGET_PREFIX}.{operation}"
        canonical = (
            "POST\n/\n\n"
            f"content-type:{_CONTENT_TYPE}\nhost:{self._host_header}\n"
            f"x-amz-date:{amz_date}\nx-amz-target:{target}\n\n"
            f"{_SIGNED_HEADERS}\n{hashlib.sha256(payload).hexdigest()}"
        )
        scope = f"{day}/{self._region}/ecs/aws4_request"
        to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical.encode()).hexdigest()}"
        )
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Host": self._host_header,
            "Content-Type": _CONTENT_TYPE,
            "X-Amz-Date": amz_date,
            "X-Amz-Target": target,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={self._access_key}/{scope}, "
                f"SignedHeaders={_SIGNED_HEADERS}, Signature={signature}"
            ),
        }

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)
        return self._conn

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body, separators=(",", ":")).encode()
        headers = self._headers(operation, payload)
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request("POST", "/", payload, headers)
                response = conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        parsed: dict[str, Any] = json.loads(data) if data else {}
        if response.status >= 400:
            raise EcsError(response.status, str(parsed.get("__type")), str(parsed.get("message")))
        return parsed

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
