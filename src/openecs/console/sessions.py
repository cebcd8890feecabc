"""Console sign-in: access key pairs, signed session cookies, CSRF tokens.

A user signs in with one of the server's access key pairs (the ones its APIs
accept). The session lives in a cookie signed with HMAC-SHA256 under a key
derived from that pair's secret, so any server replica holding the same
credentials accepts it, and rotating the secret ends every session. The cookie
is HttpOnly and SameSite=Strict; it carries the account, region, an expiry and
a random session id. Signing out revokes the id in this process (and clears the
cookie).

Every POST carries a CSRF token: HMAC of the session id under the same key
(the sign-in form itself uses a double-submit token in a short-lived cookie).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from openecs.domain.scope import Scope
from openecs.platform.clock import Clock

__all__ = ["KeyPair", "Session", "SessionKeeper"]

SESSION_COOKIE = "openecs_console"
SIGNIN_COOKIE = "openecs_console_signin"
SESSION_SECONDS = 12 * 3600


class KeyPair(Protocol):
    """An access key pair the server accepts (api.sigv4.Credentials has this shape)."""

    @property
    def access_key_id(self) -> str: ...
    @property
    def secret_access_key(self) -> str: ...
    @property
    def account_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    access_key_id: str
    account_id: str
    region: str
    expires_at: float
    csrf_token: str

    @property
    def scope(self) -> Scope:
        return Scope.root(self.account_id, self.region)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionKeeper:
    def __init__(self, key_pairs: Iterable[KeyPair], clock: Clock) -> None:
        self._pairs = {p.access_key_id: p for p in key_pairs}
        self._keys = {
            p.access_key_id: hmac.new(
                p.secret_access_key.encode(), b"openecs-console-session-v1", hashlib.sha256
            ).digest()
            for p in self._pairs.values()
        }
        self._clock = clock
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    # -- sign-in --------------------------------------------------------------------

    def sign_in(self, access_key_id: str, secret_access_key: str, region: str) -> str | None:
        """A new session cookie value, or None when the key pair is not one of ours."""
        pair = self._pairs.get(access_key_id.strip())
        # Compare against something even for unknown ids, so timing tells nothing.
        expected = pair.secret_access_key if pair is not None else secrets.token_hex(20)
        if not hmac.compare_digest(expected.encode(), secret_access_key.strip().encode()):
            return None
        if pair is None:
            return None
        payload = {
            "k": pair.access_key_id,
            "a": pair.account_id,
            "r": region,
            "s": secrets.token_urlsafe(16),
            "e": int(self._clock.now() + SESSION_SECONDS),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return body + "." + self._sign(pair.access_key_id, body)

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie value proves, or None (missing, forged, expired, revoked)."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        try:
            payload = json.loads(_unb64(body))
            key_id, sid = str(payload["k"]), str(payload["s"])
            account, region, expires = str(payload["a"]), str(payload["r"]), float(payload["e"])
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None
        if key_id not in self._keys:
            return None
        if not hmac.compare_digest(self._sign(key_id, body), signature):
            return None
        now = self._clock.now()
        if expires <= now or account != self._pairs[key_id].account_id:
            return None
        with self._lock:
            if sid in self._revoked:
                return None
        return Session(sid, key_id, account, region, expires, self._csrf(key_id, sid))

    def sign_out(self, session: Session) -> None:
        now = self._clock.now()
        with self._lock:
            self._revoked[session.session_id] = session.expires_at
            for sid in [s for s, until in self._revoked.items() if until <= now]:
                del self._revoked[sid]

    @staticmethod
    def check_csrf(session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(session.csrf_token, str(token))

    # -- internals --------------------------------------------------------------------

    def _sign(self, key_id: str, body: str) -> str:
        return _b64(hmac.new(self._keys[key_id], body.encode(), hashlib.sha256).digest())

    def _csrf(self, key_id: str, sid: str) -> str:
        return _b64(hmac.new(self._keys[key_id], b"csrf:" + sid.encode(), hashlib.sha256).digest())
