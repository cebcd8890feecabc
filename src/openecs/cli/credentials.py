"""The server's bootstrap key pair: from the environment, else made once and kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

from openecs.api.sigv4 import Credentials
from openecs.platform.ids import new_access_key_id, new_secret_key

__all__ = ["load_or_create_credentials"]


def load_or_create_credentials(data_dir: Path, account_id: str) -> tuple[Credentials, bool]:
    """(credentials, created_now)."""
    key = os.environ.get("OPENECS_ACCESS_KEY_ID")
    secret = os.environ.get("OPENECS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, account_id), False
    path = data_dir / "credentials.json"
    if path.exists():
        stored = json.loads(path.read_text())
        return Credentials(stored["accessKeyId"], stored["secretAccessKey"], account_id), False
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = Credentials(new_access_key_id(), new_secret_key(), account_id)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {"accessKeyId": creds.access_key_id, "secretAccessKey": creds.secret_access_key}, f
        )
    os.replace(tmp, path)
    return creds, True
