"""Log storage and retention on SQLite and PostgreSQL: what the retention step decides
(pure) and what it deletes, with the stream's counters kept right."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from openecs.controllers.log_retention import (
    ExpireEvents,
    compute_log_expirations,
    expire_log_events,
    log_retention_steps,
)
from openecs.domain.log_events import InputEvent
from openecs.domain.log_group import DAY_MS, StreamRetentionView
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.usecases import logs, logs_events, logs_retention
from openecs.usecases.backend import Backend

SCOPE = Scope.root("111122223333", "us-east-1")
NOW = 1_764_115_200.0
NOW_MS = int(NOW * 1000)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'logs.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"logs_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def backend(database_url: str, clock: FakeClock) -> Iterator[Backend]:
    opened = Backend.open(database_url, clock)
    yield opened
    opened.close()


def stream_with(backend: Backend, group: str, stream: str, stamps: list[int]) -> None:
    if not logs.describe_log_groups(backend, SCOPE, prefix=group).groups:
        logs.create_log_group(backend, SCOPE, group)
    logs.create_log_stream(backend, SCOPE, group, stream)
    batch: list[InputEvent] = []
    for ts in stamps:
        if batch and ts - batch[0].timestamp > DAY_MS // 2:
            logs_events.put_log_events(backend, SCOPE, group, stream, batch)
            batch = []
        batch.append(InputEvent(ts, f"event at {ts}"))
    if batch:
        logs_events.put_log_events(backend, SCOPE, group, stream, batch)


def timestamps(backend: Backend, group: str, stream: str) -> list[int]:
    page = logs_events.get_log_events(
        backend,
        SCOPE,
        group_name=group,
        group_identifier=None,
        stream_name=stream,
        start_from_head=True,
    )
    return [event.timestamp for event in page.events]


def described(backend: Backend, group: str) -> tuple[int, int]:
    """(storedBytes of the group, number of its events)."""
    [found] = logs.describe_log_groups(backend, SCOPE, prefix=group).groups
    page = logs_events.filter_log_events(backend, SCOPE, group_name=group, group_identifier=None)
    return found.stored_bytes, len(page.events)


# --- the decision --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "cap", "expected"),
    [
        (StreamRetentionView(1, None, 10, NOW_MS - 30 * DAY_MS), None, []),
        (StreamRetentionView(1, 7, 10, NOW_MS - 6 * DAY_MS), None, []),
        (
            StreamRetentionView(1, 7, 10, NOW_MS - 8 * DAY_MS),
            None,
            [ExpireEvents(1, NOW_MS - 7 * DAY_MS, 0, "older than the 7-day retention")],
        ),
        (StreamRetentionView(1, None, 10, NOW_MS), 10, []),
        (
            StreamRetentionView(1, None, 15, NOW_MS),
            10,
            [ExpireEvents(1, None, 5, "over the cap of 10 events per stream")],
        ),
        (
            StreamRetentionView(1, 1, 15, NOW_MS - 2 * DAY_MS),
            10,
            [
                ExpireEvents(
                    1,
                    NOW_MS - DAY_MS,
                    5,
                    "older than the 1-day retention; over the cap of 10 events per stream",
                )
            ],
        ),
    ],
)
def test_compute_log_expirations(
    stream: StreamRetentionView, cap: int | None, expected: list[ExpireEvents]
) -> None:
    assert compute_log_expirations([stream], NOW, max_events_per_stream=cap) == expected


# --- what a pass deletes -------------------------------------------------------------


def test_events_past_the_retention_go_and_the_rest_stay(backend: Backend, clock: FakeClock) -> None:
    stamps = [NOW_MS - 3 * DAY_MS + i * 3_600_000 for i in range(48)]
    stream_with(backend, "/kept/forever", "s", stamps)
    stream_with(backend, "/kept/briefly", "s", stamps)
    logs.put_retention_policy(backend, SCOPE, "/kept/briefly", 1)
    bytes_before, _ = described(backend, "/kept/briefly")

    deleted = expire_log_events(backend)

    cutoff = NOW_MS - DAY_MS
    assert timestamps(backend, "/kept/briefly", "s") == [t for t in stamps if t >= cutoff]
    assert deleted == len([t for t in stamps if t < cutoff])
    assert timestamps(backend, "/kept/forever", "s") == stamps
    bytes_after, count_after = described(backend, "/kept/briefly")
    assert count_after == 48 - deleted
    assert bytes_before - bytes_after == sum(len(f"event at {t}") for t in stamps if t < cutoff)
    assert expire_log_events(backend) == 0


def test_retention_follows_the_clock(backend: Backend, clock: FakeClock) -> None:
    stream_with(backend, "/ages", "s", [NOW_MS - 1000, NOW_MS])
    logs.put_retention_policy(backend, SCOPE, "/ages", 1)
    assert expire_log_events(backend) == 0
    clock.advance(86_400 - 0.5)
    assert expire_log_events(backend) == 1
    assert timestamps(backend, "/ages", "s") == [NOW_MS]


def test_the_per_stream_cap_drops_the_oldest_events(backend: Backend) -> None:
    stamps = [NOW_MS - 10_000 + i for i in range(30)]
    stream_with(backend, "/capped", "a", stamps)
    stream_with(backend, "/capped", "b", stamps[:5])
    assert expire_log_events(backend, max_events_per_stream=8) == 22
    assert timestamps(backend, "/capped", "a") == stamps[-8:]
    assert timestamps(backend, "/capped", "b") == stamps[:5]
    assert described(backend, "/capped")[1] == 13


def test_large_backlogs_are_deleted_in_chunks(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_retention, "_CHUNK", 7)
    stamps = [NOW_MS - 2 * DAY_MS + i for i in range(50)] + [NOW_MS]
    stream_with(backend, "/backlog", "s", stamps)
    logs.put_retention_policy(backend, SCOPE, "/backlog", 1)
    assert expire_log_events(backend) == 50
    assert timestamps(backend, "/backlog", "s") == [NOW_MS]


def test_the_delivery_class_keeps_events_one_day(backend: Backend) -> None:
    logs.create_log_group(backend, SCOPE, "/delivery", log_group_class="DELIVERY")
    stream_with(backend, "/delivery", "s", [NOW_MS - 2 * DAY_MS + 5, NOW_MS])
    [group] = logs.describe_log_groups(backend, SCOPE, prefix="/delivery").groups
    assert group.effective_retention_days == 1
    result = logs_events.put_log_events(
        backend, SCOPE, "/delivery", "s", [InputEvent(NOW_MS - 2 * DAY_MS, "late")]
    )
    assert result.rejected == {"expiredLogEventEndIndex": 1}


def test_the_step_runs_one_pass(backend: Backend) -> None:
    stream_with(backend, "/step", "s", [NOW_MS - 2, NOW_MS - 1, NOW_MS])
    [step] = log_retention_steps(backend, max_events_per_stream=1, interval=5.0)
    assert step.name == "log-retention"
    assert step.interval == 5.0
    assert step.run() == 2
    assert timestamps(backend, "/step", "s") == [NOW_MS]
