"""Who asks, and where: the account, region and principal of one API call."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    account_id: str
    region: str
    principal_arn: str

    @classmethod
    def root(cls, account_id: str, region: str) -> Scope:
        return cls(account_id, region, f"arn:aws:iam::{account_id}:root")
