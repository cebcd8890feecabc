"""CloudWatch Logs event operations: put, get, filter."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.log_events import input_events
from openecs.usecases import logs_events

__all__ = ["OPERATIONS"]


def put_log_events(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    result = logs_events.put_log_events(
        ctx.backend,
        ctx.scope,
        p["logGroupName"],
        p["logStreamName"],
        input_events(p["logEvents"]),
    )
    return {
        "nextSequenceToken": result.next_sequence_token,
        "rejectedLogEventsInfo": result.rejected,
    }


def get_log_events(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = logs_events.get_log_events(
        ctx.backend,
        ctx.scope,
        group_name=p.get("logGroupName"),
        group_identifier=p.get("logGroupIdentifier"),
        stream_name=p["logStreamName"],
        start=p.get("startTime"),
        end=p.get("endTime"),
        next_token=p.get("nextToken"),
        limit=p.get("limit"),
        start_from_head=bool(p.get("startFromHead", False)),
    )
    return {
        "events": [
            {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}
            for e in page.events
        ],
        "nextForwardToken": page.forward_token,
        "nextBackwardToken": page.backward_token,
    }


def filter_log_events(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    page = logs_events.filter_log_events(
        ctx.backend,
        ctx.scope,
        group_name=p.get("logGroupName"),
        group_identifier=p.get("logGroupIdentifier"),
        stream_names=p.get("logStreamNames"),
        stream_prefix=p.get("logStreamNamePrefix"),
        start=p.get("startTime"),
        end=p.get("endTime"),
        filter_pattern=p.get("filterPattern"),
        next_token=p.get("nextToken"),
        limit=p.get("limit"),
        start_from_head=p.get("startFromHead"),
    )
    return {
        "events": [
            {
                "logStreamName": e.stream_name,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion_time,
                "eventId": e.event_id,
            }
            for e in page.events
        ],
        "searchedLogStreams": [],
        "nextToken": page.next_token,
    }


OPERATIONS: Operations = {
    "PutLogEvents": put_log_events,
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
}
