"""CloudWatch Logs resources: log groups (with retention, deletion protection and
tags) and log streams. Events are in `logs_events`.

Errors, as AWS words them:

    group missing ........ ResourceNotFoundException "The specified log group does not exist."
    stream missing ....... ResourceNotFoundException "The specified log stream does not exist."
    name taken ........... ResourceAlreadyExistsException
    protected group ...... ValidationException (DeleteLogGroup, DeleteLogStream)

LIMITATIONS (where OpenECS differs from AWS):
* kmsKeyId is recorded and shown, not used: events are stored unencrypted;
* logGroupClass is recorded; every class offers every operation here, and
  DELIVERY keeps events one day as on AWS;
* no metric filters, subscriptions, data protection or account policies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection

from openecs.domain.errors import InvalidParameterException, ResourceNotFoundException
from openecs.domain.log_errors import (
    ResourceAlreadyExistsException,
    TooManyTagsException,
    ValidationException,
)
from openecs.domain.log_group import (
    LogGroup,
    LogGroupClass,
    LogStream,
    log_group_arn,
    log_group_name_from,
    log_stream_arn,
    parse_log_group_arn,
    validate_log_group_name,
    validate_retention_days,
)
from openecs.domain.scope import Scope
from openecs.domain.tags import MAX_TAGS
from openecs.store import logs as log_rows
from openecs.store import tags as tag_rows
from openecs.usecases.backend import Backend
from openecs.usecases.pagination import decode_token, encode_token

__all__ = [
    "GROUP_NOT_FOUND",
    "STREAM_NOT_FOUND",
    "LogGroupPage",
    "LogStreamPage",
    "create_log_group",
    "create_log_stream",
    "delete_log_group",
    "delete_log_stream",
    "delete_retention_policy",
    "describe_log_groups",
    "describe_log_streams",
    "list_tags",
    "put_deletion_protection",
    "put_retention_policy",
    "require_group",
    "require_stream",
    "resolve_group_name",
    "tag_log_group",
    "untag_log_group",
]

GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
_PAGE_SIZE = 50
_PATTERN_SCAN = 500


@dataclass(slots=True)
class LogGroupPage:
    groups: list[LogGroup]
    next_token: str | None
    names_only: bool = False


@dataclass(slots=True)
class LogStreamPage:
    streams: list[LogStream]
    next_token: str | None


def resolve_group_name(scope: Scope, name: str | None, identifier: str | None) -> str:
    """The group a request names by `logGroupName` or `logGroupIdentifier` (one, not both)."""
    if (name is None) == (identifier is None):
        raise InvalidParameterException(
            "Specify either logGroupName or logGroupIdentifier, but not both."
        )
    if name is not None:
        return name
    assert identifier is not None
    resolved = log_group_name_from(identifier, scope)
    if resolved is None:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    return resolved


def require_group(conn: Connection, scope: Scope, name: str) -> LogGroup:
    group = log_rows.get_group(conn, scope, name)
    if group is None:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    return group


def require_stream(
    conn: Connection, scope: Scope, group: LogGroup, name: str, *, lock: bool = False
) -> LogStream:
    stream = log_rows.get_stream(conn, group.id, name, lock=lock)
    if stream is None:
        raise ResourceNotFoundException(STREAM_NOT_FOUND)
    stream.arn = log_stream_arn(scope, group.name, name)
    return stream


# --- log groups ----------------------------------------------------------------------


def create_log_group(
    backend: Backend,
    scope: Scope,
    name: str,
    *,
    tags: Mapping[str, str] | None = None,
    kms_key_id: str | None = None,
    log_group_class: str | None = None,
    deletion_protection: bool = False,
) -> LogGroup:
    validate_log_group_name(name)
    new_tags = _checked_tags(tags or {})
    group = LogGroup(
        name=name,
        arn=log_group_arn(scope, name),
        created_at=_now_ms(backend),
        kms_key_id=kms_key_id,
        log_group_class=log_group_class or LogGroupClass.STANDARD,
        deletion_protection=deletion_protection,
    )

    def work(conn: Connection) -> LogGroup:
        if log_rows.get_group(conn, scope, name) is not None:
            raise ResourceAlreadyExistsException("The specified log group already exists")
        log_rows.insert_group(conn, scope, group)
        tag_rows.delete_all(conn, group.arn)
        tag_rows.put_tags(conn, group.arn, new_tags)
        return group

    return backend.write(work)


def delete_log_group(backend: Backend, scope: Scope, name: str) -> None:
    def work(conn: Connection) -> None:
        group = require_group(conn, scope, name)
        _refuse_if_protected(group)
        log_rows.delete_group(conn, group.id)
        tag_rows.delete_all(conn, group.arn)

    backend.write(work)


def _refuse_if_protected(group: LogGroup) -> None:
    if group.deletion_protection:
        raise ValidationException(
            f"Log group {group.name} has deletion protection enabled; disable it with "
            "PutLogGroupDeletionProtection first."
        )


def describe_log_groups(
    backend: Backend,
    scope: Scope,
    *,
    prefix: str | None = None,
    pattern: str | None = None,
    identifiers: list[str] | None = None,
    log_group_class: str | None = None,
    next_token: str | None = None,
    limit: int | None = None,
) -> LogGroupPage:
    if prefix is not None and pattern is not None:
        raise InvalidParameterException(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
        )
    size = limit or _PAGE_SIZE
    after = decode_token(next_token)
    if after is not None and not isinstance(after, str):
        raise InvalidParameterException("The specified nextToken is invalid.")
    names: list[str] | None = None
    if identifiers is not None:
        names = [n for i in identifiers if (n := log_group_name_from(i, scope)) is not None]
    classes: list[str] | None = None
    if log_group_class in (LogGroupClass.INFREQUENT_ACCESS, LogGroupClass.ESSENTIALS):
        classes = [LogGroupClass.INFREQUENT_ACCESS, LogGroupClass.ESSENTIALS]
    elif log_group_class is not None:
        classes = [log_group_class]
    with backend.reading() as conn:
        found: list[LogGroup] = []
        more = False
        while True:
            batch = log_rows.list_groups(
                conn,
                scope,
                after=after,
                limit=_PATTERN_SCAN if pattern else size + 1,
                prefix=prefix,
                contains=pattern,
                names=names,
                classes=classes,
            )
            matching = [g for g in batch if not pattern or pattern in g.name]
            found.extend(matching)
            if len(found) > size:
                more = True
                break
            if not pattern or len(batch) < _PATTERN_SCAN:
                break
            after = batch[-1].name
        page = found[:size]
        sizes = log_rows.stored_bytes(conn, [g.id for g in page])
    for group in page:
        group.stored_bytes = sizes.get(group.id, 0)
    token = encode_token(page[-1].name) if more else None
    return LogGroupPage(page, token, names_only=pattern is not None)


def put_retention_policy(backend: Backend, scope: Scope, name: str, days: int) -> None:
    validate_retention_days(days)
    _change_group(backend, scope, name, retention_days=days)


def delete_retention_policy(backend: Backend, scope: Scope, name: str) -> None:
    _change_group(backend, scope, name, retention_days=None)


def put_deletion_protection(
    backend: Backend, scope: Scope, name: str | None, identifier: str | None, enabled: bool
) -> None:
    group_name = resolve_group_name(scope, name, identifier)

    def work(conn: Connection) -> None:
        group = require_group(conn, scope, group_name)
        group.deletion_protection = enabled
        log_rows.update_group(conn, group)

    backend.write(work)


def _change_group(backend: Backend, scope: Scope, name: str, *, retention_days: int | None) -> None:
    def work(conn: Connection) -> None:
        group = require_group(conn, scope, name)
        group.retention_days = retention_days
        log_rows.update_group(conn, group)

    backend.write(work)


# --- log streams ---------------------------------------------------------------------


def create_log_stream(backend: Backend, scope: Scope, group_name: str, name: str) -> LogStream:
    def work(conn: Connection) -> LogStream:
        group = require_group(conn, scope, group_name)
        if log_rows.get_stream(conn, group.id, name) is not None:
            raise ResourceAlreadyExistsException("The specified log stream already exists")
        stream = LogStream(
            name=name,
            arn=log_stream_arn(scope, group_name, name),
            created_at=_now_ms(backend),
            group_id=group.id,
        )
        log_rows.insert_stream(conn, stream)
        return stream

    return backend.write(work)


def delete_log_stream(backend: Backend, scope: Scope, group_name: str, name: str) -> None:
    def work(conn: Connection) -> None:
        group = require_group(conn, scope, group_name)
        _refuse_if_protected(group)
        stream = require_stream(conn, scope, group, name)
        log_rows.delete_stream(conn, stream.id)

    backend.write(work)


def describe_log_streams(
    backend: Backend,
    scope: Scope,
    *,
    group_name: str | None,
    group_identifier: str | None,
    prefix: str | None = None,
    order_by: str | None = None,
    descending: bool = False,
    next_token: str | None = None,
    limit: int | None = None,
) -> LogStreamPage:
    name = resolve_group_name(scope, group_name, group_identifier)
    by_last_event = order_by == "LastEventTime"
    if by_last_event and prefix:
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    size = limit or _PAGE_SIZE
    after = _stream_cursor(decode_token(next_token))
    with backend.reading() as conn:
        group = require_group(conn, scope, name)
        rows = log_rows.list_streams(
            conn,
            group.id,
            prefix=prefix,
            by_last_event=by_last_event,
            descending=descending,
            after=after,
            limit=size + 1,
        )
    page = rows[:size]
    for stream in page:
        stream.arn = log_stream_arn(scope, group.name, stream.name)
    token = None
    if len(rows) > size:
        last = page[-1]
        token = encode_token([last.last_event_ts or 0, last.name])
    return LogStreamPage(page, token)


def _stream_cursor(value: object) -> tuple[int, str] | None:
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        return value[0], value[1]
    raise InvalidParameterException("The specified nextToken is invalid.")


# --- tags ----------------------------------------------------------------------------


def _checked_tags(
    tags: Mapping[str, str], *, error: type[Exception] = InvalidParameterException
) -> dict[str, str]:
    for key in tags:
        if key.lower().startswith("aws:"):
            raise InvalidParameterException(
                "Tag keys cannot start with the reserved prefix 'aws:'."
            )
    if len(tags) > MAX_TAGS:
        raise error(f"A resource can have no more than {MAX_TAGS} tags.")
    return dict(tags)


def _group_of_arn(scope: Scope, resource_arn: str) -> str:
    parsed = parse_log_group_arn(resource_arn)
    if parsed is None:
        raise InvalidParameterException(
            f"The ARN provided is invalid: {resource_arn}. Specify the ARN of a log group, "
            "as arn:aws:logs:REGION:ACCOUNT:log-group:NAME."
        )
    partition, region, account, name = parsed
    if partition != "aws" or region != scope.region or account != scope.account_id:
        raise ResourceNotFoundException(GROUP_NOT_FOUND)
    return name


def tag_log_group(
    backend: Backend,
    scope: Scope,
    *,
    name: str | None = None,
    resource_arn: str | None = None,
    tags: Mapping[str, str],
) -> None:
    """TagLogGroup (by name) or TagResource (by ARN): add or overwrite tags."""
    too_many: type[Exception] = TooManyTagsException if resource_arn else InvalidParameterException
    new_tags = _checked_tags(tags, error=too_many)
    group_name = name if name is not None else _group_of_arn(scope, resource_arn or "")

    def work(conn: Connection) -> None:
        group = require_group(conn, scope, group_name)
        merged = {**tag_rows.get_tags(conn, group.arn), **new_tags}
        if len(merged) > MAX_TAGS:
            raise too_many(f"A resource can have no more than {MAX_TAGS} tags.")
        tag_rows.put_tags(conn, group.arn, new_tags)

    backend.write(work)


def untag_log_group(
    backend: Backend,
    scope: Scope,
    *,
    name: str | None = None,
    resource_arn: str | None = None,
    keys: list[str],
) -> None:
    group_name = name if name is not None else _group_of_arn(scope, resource_arn or "")

    def work(conn: Connection) -> None:
        group = require_group(conn, scope, group_name)
        tag_rows.remove_tags(conn, group.arn, keys)

    backend.write(work)


def list_tags(
    backend: Backend, scope: Scope, *, name: str | None = None, resource_arn: str | None = None
) -> dict[str, str]:
    group_name = name if name is not None else _group_of_arn(scope, resource_arn or "")
    with backend.reading() as conn:
        group = require_group(conn, scope, group_name)
        return tag_rows.get_tags(conn, group.arn)


def _now_ms(backend: Backend) -> int:
    return int(backend.clock.now() * 1000)
