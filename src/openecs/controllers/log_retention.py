"""Log retention: events older than their group's retention go, and no stream
keeps more than a configured number of events (oldest go first).

`compute_log_expirations` decides from a view of the streams and the time;
`expire_log_events` applies. The step runs every `interval` seconds; being
level-triggered, a pass that fails half-way is finished by the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from openecs.controllers.loop import Step
from openecs.domain.log_group import DAY_MS, StreamRetentionView
from openecs.usecases.backend import Backend
from openecs.usecases.logs_retention import delete_oldest_events, log_retention_view

__all__ = [
    "ExpireEvents",
    "compute_log_expirations",
    "expire_log_events",
    "log_retention_steps",
]

log = logging.getLogger("openecs.controllers")


@dataclass(frozen=True, slots=True)
class ExpireEvents:
    """Delete a stream's events older than `before` (epoch ms), then trim it by its
    `excess` oldest events (less what the first deletion removed)."""

    stream_id: int
    before: int | None
    excess: int
    reason: str


def compute_log_expirations(
    view: Sequence[StreamRetentionView], now: float, *, max_events_per_stream: int | None
) -> list[ExpireEvents]:
    now_ms = int(now * 1000)
    actions: list[ExpireEvents] = []
    for stream in view:
        before: int | None = None
        reasons: list[str] = []
        if stream.retention_days is not None and stream.oldest_event_ts is not None:
            cutoff = now_ms - stream.retention_days * DAY_MS
            if stream.oldest_event_ts < cutoff:
                before = cutoff
                reasons.append(f"older than the {stream.retention_days}-day retention")
        excess = 0
        if max_events_per_stream is not None and stream.event_count > max_events_per_stream:
            excess = stream.event_count - max_events_per_stream
            reasons.append(f"over the cap of {max_events_per_stream} events per stream")
        if before is not None or excess:
            actions.append(ExpireEvents(stream.stream_id, before, excess, "; ".join(reasons)))
    return actions


def expire_log_events(backend: Backend, *, max_events_per_stream: int | None = None) -> int:
    """One retention pass; the number of events deleted."""
    view = log_retention_view(backend, max_events_per_stream=max_events_per_stream)
    actions = compute_log_expirations(
        view, backend.clock.now(), max_events_per_stream=max_events_per_stream
    )
    total = 0
    for action in actions:
        deleted = 0
        if action.before is not None:
            deleted = delete_oldest_events(backend, action.stream_id, before=action.before)
        if action.excess > deleted:
            deleted += delete_oldest_events(
                backend, action.stream_id, count=action.excess - deleted
            )
        if deleted:
            log.info(
                "log events expired",
                extra={"stream": action.stream_id, "deleted": deleted, "reason": action.reason},
            )
        total += deleted
    return total


def log_retention_steps(
    backend: Backend, *, max_events_per_stream: int | None = None, interval: float = 60.0
) -> list[Step]:
    return [
        Step(
            "log-retention",
            interval,
            lambda: expire_log_events(backend, max_events_per_stream=max_events_per_stream),
        )
    ]
