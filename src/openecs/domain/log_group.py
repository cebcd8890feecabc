"""CloudWatch Logs log groups and log streams: names, ARNs, retention, classes.

Times are integers: milliseconds since the epoch, as the Logs API speaks them.
A log group has two ARN spellings on AWS; both are built here:

    arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*   `arn` (IAM policies)
    arn:aws:logs:REGION:ACCOUNT:log-group:NAME     `logGroupArn` (tagging, identifiers)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openecs.domain.errors import InvalidParameterException
from openecs.domain.scope import Scope

__all__ = [
    "DAY_MS",
    "RETENTION_DAYS",
    "LogGroup",
    "LogGroupClass",
    "LogStream",
    "StreamRetentionView",
    "effective_retention_days",
    "log_group_arn",
    "log_group_name_from",
    "log_stream_arn",
    "parse_log_group_arn",
    "validate_log_group_name",
    "validate_retention_days",
]

DAY_MS = 86_400_000
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
_GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
_GROUP_ARN = re.compile(
    r"arn:(?P<partition>[^:]+):logs:(?P<region>[^:]*):(?P<account>[^:]*):log-group:"
    r"(?P<name>[^:]+)(?::\*)?"
)


class LogGroupClass:
    STANDARD = "STANDARD"
    INFREQUENT_ACCESS = "INFREQUENT_ACCESS"
    DELIVERY = "DELIVERY"
    ESSENTIALS = "ESSENTIALS"


@dataclass(slots=True)
class LogGroup:
    name: str
    arn: str
    created_at: int
    retention_days: int | None = None
    kms_key_id: str | None = None
    log_group_class: str = LogGroupClass.STANDARD
    deletion_protection: bool = False
    stored_bytes: int = 0
    id: int = 0

    @property
    def arn_with_wildcard(self) -> str:
        return f"{self.arn}:*"

    @property
    def effective_retention_days(self) -> int | None:
        return effective_retention_days(self.retention_days, self.log_group_class)


@dataclass(slots=True)
class LogStream:
    name: str
    arn: str
    created_at: int
    group_id: int = 0
    first_event_ts: int | None = None
    last_event_ts: int | None = None
    last_ingestion_time: int | None = None
    upload_sequence: int = 0
    event_count: int = 0
    stored_bytes: int = 0
    next_seq: int = 1
    id: int = 0


def effective_retention_days(retention_days: int | None, log_group_class: str) -> int | None:
    """How long events are kept: the policy, or one day in the DELIVERY class."""
    if log_group_class == LogGroupClass.DELIVERY:
        return 1
    return retention_days


def log_group_arn(scope: Scope, name: str) -> str:
    return f"arn:aws:logs:{scope.region}:{scope.account_id}:log-group:{name}"


def log_stream_arn(scope: Scope, group: str, stream: str) -> str:
    return f"{log_group_arn(scope, group)}:log-stream:{stream}"


def validate_log_group_name(name: str) -> str:
    if not _GROUP_NAME.fullmatch(name):
        raise InvalidParameterException(
            "Log group names can be between 1 and 512 characters long and consist of "
            "a-z, A-Z, 0-9, '_', '-', '/', '.' and '#'."
        )
    if name.startswith("aws/"):
        raise InvalidParameterException("Log group names can't start with the string aws/")
    return name


def validate_retention_days(days: int) -> int:
    if days not in RETENTION_DAYS:
        allowed = ", ".join(str(d) for d in RETENTION_DAYS)
        raise InvalidParameterException(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to "
            f"satisfy constraint: Member must satisfy enum value set: [{allowed}]"
        )
    return days


def parse_log_group_arn(text: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, name) of a log group ARN, with or without `:*`."""
    found = _GROUP_ARN.fullmatch(text)
    if found is None:
        return None
    return found["partition"], found["region"], found["account"], found["name"]


def log_group_name_from(identifier: str, scope: Scope) -> str | None:
    """The log group a `logGroupIdentifier` (name or ARN) names in the caller's scope;
    None when it names one elsewhere (another account, region or partition)."""
    if not identifier.startswith("arn:"):
        return identifier
    parsed = parse_log_group_arn(identifier)
    if parsed is None:
        raise InvalidParameterException(f"Invalid log group identifier: {identifier}")
    partition, region, account, name = parsed
    if partition != "aws" or region != scope.region or account != scope.account_id:
        return None
    return name


@dataclass(frozen=True, slots=True)
class StreamRetentionView:
    """What the retention controller needs to know of one stream."""

    stream_id: int
    retention_days: int | None
    event_count: int
    oldest_event_ts: int | None
