"""Metric datapoints on SQLite and PostgreSQL: samples bucket into 10-second
periods, merge into sum/count/min/max, aggregate per statistic and period, and
expire past retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from openecs.controllers.metrics_retention import expire_old_datapoints, metrics_retention_steps
from openecs.domain.errors import InvalidParameterException
from openecs.domain.metrics import ECS_NAMESPACE, Datapoint, dimensions
from openecs.platform.clock import FakeClock
from openecs.usecases.backend import Backend
from openecs.usecases.metrics import query_metric, record_datapoints

NOW = 1_764_115_200.0  # a multiple of 60
ACCOUNT = "111122223333"
DIMS = dimensions(ClusterName="c1", ServiceName="web")


# PostgreSQL costs seconds per database: one test covers its upsert and aggregates.
@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'metrics.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"metrics_{uuid.uuid4().hex[:16]}"
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


def cpu(at: float, value: float, dims: tuple[tuple[str, str], ...] = DIMS) -> Datapoint:
    return Datapoint(
        ECS_NAMESPACE, "CPUUtilization", dims, at, value, "Percent", ACCOUNT, "us-east-1"
    )


def query(backend: Backend, statistic: str, *, period: int = 10, **kw: object) -> list[object]:
    args: dict[str, object] = {
        "account_id": ACCOUNT,
        "region": "us-east-1",
        "namespace": ECS_NAMESPACE,
        "metric": "CPUUtilization",
        "dims": DIMS,
        "start": NOW - 600,
        "end": NOW + 600,
    }
    args.update(kw)
    return list(query_metric(backend, period=period, statistic=statistic, **args))  # type: ignore[arg-type]


def test_samples_in_one_period_average_and_keep_extremes(backend: Backend) -> None:
    record_datapoints(backend, [cpu(NOW + 1, 10.0), cpu(NOW + 9.9, 30.0)])
    record_datapoints(backend, [cpu(NOW + 5, 20.0)])
    assert query(backend, "Average") == [(NOW, 20.0)]
    assert query(backend, "Sum") == [(NOW, 60.0)]
    assert query(backend, "SampleCount") == [(NOW, 3.0)]
    assert query(backend, "Maximum") == [(NOW, 30.0)]
    assert query(backend, "Minimum") == [(NOW, 10.0)]


def test_a_sample_sent_twice_leaves_the_average_as_it_was(backend: Backend) -> None:
    record_datapoints(backend, [cpu(NOW, 42.0)])
    record_datapoints(backend, [cpu(NOW, 42.0)])
    assert query(backend, "Average") == [(NOW, 42.0)]
    assert query(backend, "Maximum") == [(NOW, 42.0)]


def test_coarser_periods_aggregate_ascending_and_empty_periods_are_absent(
    backend: Backend,
) -> None:
    record_datapoints(
        backend,
        [cpu(NOW + 130, 50.0), cpu(NOW, 10.0), cpu(NOW + 10, 30.0), cpu(NOW + 50, 80.0)],
    )
    assert query(backend, "Average", period=60) == [(NOW, 40.0), (NOW + 120, 50.0)]
    assert query(backend, "Maximum", period=60) == [(NOW, 80.0), (NOW + 120, 50.0)]
    assert query(backend, "Average", period=10) == [
        (NOW, 10.0),
        (NOW + 10, 30.0),
        (NOW + 50, 80.0),
        (NOW + 130, 50.0),
    ]


def test_start_is_inclusive_and_end_exclusive(backend: Backend) -> None:
    record_datapoints(backend, [cpu(NOW - 10, 1.0), cpu(NOW, 2.0), cpu(NOW + 10, 3.0)])
    assert query(backend, "Sum", start=NOW, end=NOW + 10) == [(NOW, 2.0)]


def test_dimensions_match_exactly_in_any_order(backend: Backend) -> None:
    task_dims = dimensions(ClusterName="c1", ServiceName="web", TaskId="abc")
    record_datapoints(backend, [cpu(NOW, 90.0, task_dims), cpu(NOW, 10.0)])
    reordered = (("ServiceName", "web"), ("ClusterName", "c1"))
    assert query(backend, "Average", dims=reordered) == [(NOW, 10.0)]
    assert query(backend, "Average", dims=task_dims) == [(NOW, 90.0)]
    assert query(backend, "Average", dims=dimensions(ClusterName="c1")) == []


def test_series_are_separate_per_account_and_region(backend: Backend) -> None:
    other = Datapoint(
        ECS_NAMESPACE, "CPUUtilization", DIMS, NOW, 99.0, "Percent", ACCOUNT, "eu-west-1"
    )
    record_datapoints(backend, [other, cpu(NOW, 1.0)])
    assert query(backend, "Average") == [(NOW, 1.0)]
    assert query(backend, "Average", region="eu-west-1") == [(NOW, 99.0)]


def test_unknown_statistic_and_odd_period_are_refused(backend: Backend) -> None:
    with pytest.raises(InvalidParameterException, match="statistic"):
        query(backend, "p99")
    with pytest.raises(InvalidParameterException, match="period"):
        query(backend, "Average", period=15)


def test_non_finite_samples_are_dropped(backend: Backend) -> None:
    record_datapoints(backend, [cpu(NOW, float("nan")), cpu(NOW, 5.0)])
    assert query(backend, "SampleCount") == [(NOW, 1.0)]


def test_retention_deletes_only_periods_older_than_it(backend: Backend) -> None:
    record_datapoints(backend, [cpu(NOW - 3 * 3600 - 10, 1.0), cpu(NOW - 3 * 3600 + 10, 2.0)])
    record_datapoints(backend, [cpu(NOW - 7200 - 10 * i, float(i)) for i in range(50)])
    assert expire_old_datapoints(backend, 3 * 3600) == 1
    assert expire_old_datapoints(backend, 3 * 3600) == 0
    start, end, period = NOW - 4 * 3600, NOW, 4 * 3600
    left = query(backend, "SampleCount", start=start, end=end, period=period)
    assert left == [(start, 51.0)]
    assert query(backend, "Sum", start=start, end=end, period=period) == [
        (start, 2.0 + sum(range(50)))
    ]


def test_retention_step_runs_the_expiry(backend: Backend) -> None:
    record_datapoints(backend, [cpu(NOW - 120, 1.0), cpu(NOW - 30, 2.0)])
    steps = metrics_retention_steps(backend, retention=60.0)
    assert [s.name for s in steps] == ["metrics-retention"]
    steps[0].run()
    assert query(backend, "Sum", start=NOW - 600, end=NOW, period=600) == [(NOW - 600, 2.0)]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_postgres_merges_aggregates_and_expires(backend: Backend) -> None:
    record_datapoints(backend, [cpu(NOW - 3 * 3600 - 10, 7.0), cpu(NOW, 10.0), cpu(NOW + 3, 30.0)])
    record_datapoints(backend, [cpu(NOW + 5, 20.0), cpu(NOW + 70, 5.0)])
    assert query(backend, "Average") == [(NOW, 20.0), (NOW + 70, 5.0)]
    assert query(backend, "Minimum", period=60) == [(NOW, 10.0), (NOW + 60, 5.0)]
    assert query(backend, "Maximum", period=60) == [(NOW, 30.0), (NOW + 60, 5.0)]
    assert expire_old_datapoints(backend, 3 * 3600) == 1
