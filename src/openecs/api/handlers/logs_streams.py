"""CloudWatch Logs log stream operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.log_group import LogStream
from openecs.usecases import logs

__all__ = ["OPERATIONS", "present_log_stream"]


def present_log_stream(stream: LogStream) -> dict[str, Any]:
    """A stream in the `LogStream` shape. storedBytes is always 0 for streams on AWS."""
    return {
        "logStreamName": stream.name,
        "creationTime": stream.created_at,
        "firstEventTimestamp": stream.first_event_ts,
        "lastEventTimestamp": stream.last_event_ts,
        "lastIngestionTime": stream.last_ingestion_time,
        "uploadSequenceToken": f"{stream.upload_sequence:056d}" if stream.upload_sequence else None,
        "arn": stream.arn,
        "storedBytes": 0,
    }


def create_log_stream(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.create_log_stream(ctx.backend, ctx.scope, p["logGroupName"], p["logStreamName"])
    return {}


def delete_log_stream(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    logs.delete_log_stream(ctx.backend, ctx.scope, p["logGroupName"], p["logStreamName"])
    return {}


def describe_log_streams(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = logs.describe_log_streams(
        ctx.backend,
        ctx.scope,
        group_name=p.get("logGroupName"),
        group_identifier=p.get("logGroupIdentifier"),
        prefix=p.get("logStreamNamePrefix"),
        order_by=p.get("orderBy"),
        descending=bool(p.get("descending", False)),
        next_token=p.get("nextToken"),
        limit=p.get("limit"),
    )
    return {
        "logStreams": [present_log_stream(s) for s in page.streams],
        "nextToken": page.next_token,
    }


OPERATIONS: Operations = {
    "CreateLogStream": create_log_stream,
    "DeleteLogStream": delete_log_stream,
    "DescribeLogStreams": describe_log_streams,
}
