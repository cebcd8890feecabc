"""Who is calling: SigV4 verification against the configured key pairs, giving a Scope."""

from __future__ import annotations

from collections.abc import Mapping

from openecs.api.sigv4 import Credentials, verify
from openecs.domain.scope import Scope
from openecs.platform.clock import Clock

__all__ = ["Authenticator", "Credentials"]


class Authenticator:
    def __init__(
        self, credentials: list[Credentials], clock: Clock, skew_seconds: int = 300
    ) -> None:
        self._by_key = {c.access_key_id: c for c in credentials}
        self._clock = clock
        self._skew = skew_seconds

    def authenticate(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[Scope, str]:
        """The caller's scope and the service name it signed for."""
        signed, creds = verify(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            lookup=self._by_key,
            now=self._clock.now(),
            skew_seconds=self._skew,
        )
        return Scope.root(creds.account_id, signed.region), signed.service
