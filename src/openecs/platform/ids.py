"""Identifiers in the shapes AWS uses."""

from __future__ import annotations

import secrets
import uuid

__all__ = ["new_access_key_id", "new_secret_key", "new_task_id", "new_uuid"]


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_task_id() -> str:
    """ECS task ids are 32 lowercase hex characters."""
    return uuid.uuid4().hex


def new_access_key_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def new_secret_key() -> str:
    return secrets.token_urlsafe(30)[:40]
