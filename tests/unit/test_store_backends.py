"""The store and Backend.write on both engines: SQLite (a file) and PostgreSQL (a
throwaway server). Every test runs on each; a fresh database per test."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from openecs.domain.arns import cluster_arn
from openecs.domain.cluster import Cluster, ClusterCounts, ClusterStatus
from openecs.domain.errors import ServerException
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.store import clusters as cluster_rows
from openecs.store import tags as tag_rows
from openecs.store.database import Database
from openecs.store.errors import ConcurrentUpdateError
from openecs.store.migrate import upgrade
from openecs.store.tables import clusters as clusters_table
from openecs.usecases.backend import Backend

SCOPE = Scope.root("111122223333", "us-east-1")
OTHER_REGION = Scope.root("111122223333", "eu-west-1")
OTHER_ACCOUNT = Scope.root("444455556666", "us-east-1")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"store_{uuid.uuid4().hex[:16]}"
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
def backend(database_url: str) -> Iterator[Backend]:
    opened = Backend.open(database_url, FakeClock())
    yield opened
    opened.close()


def new_cluster(name: str, scope: Scope = SCOPE) -> Cluster:
    return Cluster(
        name=name,
        arn=cluster_arn(scope, name),
        status=ClusterStatus.ACTIVE,
        created_at=1_700_000_000.0,
        settings=[{"name": "containerInsights", "value": "disabled"}],
        capacity_providers=["FARGATE"],
        default_capacity_provider_strategy=[
            {"capacityProvider": "FARGATE", "weight": 1, "base": 0}
        ],
        configuration={"executeCommandConfiguration": {"logging": "DEFAULT"}},
    )


def insert(backend: Backend, cluster: Cluster, scope: Scope = SCOPE) -> None:
    backend.write(lambda conn: cluster_rows.insert_cluster(conn, scope, cluster))


def read(backend: Backend, name: str, scope: Scope = SCOPE) -> Cluster | None:
    with backend.reading() as conn:
        return cluster_rows.get(conn, scope, name)


# --- migrations ----------------------------------------------------------------------


def _schema(db: Database) -> tuple[set[str], list[str]]:
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    return tables, versions


def test_migrations_create_the_schema_and_are_idempotent(database_url: str) -> None:
    db = Database(database_url)
    try:
        upgrade(db)
        tables, versions = _schema(db)
        assert {"clusters", "tags", "task_definitions", "tasks", "services"} <= tables
        assert len(versions) == 1
        upgrade(db)
        assert _schema(db) == (tables, versions)
    finally:
        db.dispose()


def test_migrations_keep_existing_rows(database_url: str) -> None:
    first = Backend.open(database_url, FakeClock())
    insert(first, new_cluster("kept"))
    first.close()
    again = Backend.open(database_url, FakeClock())
    try:
        found = read(again, "kept")
        assert found is not None
        assert found.capacity_providers == ["FARGATE"]
    finally:
        again.close()


@pytest.mark.postgres
def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    name = f"race_{uuid.uuid4().hex[:16]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    failures: list[BaseException] = []
    start = threading.Barrier(4)

    def replica() -> None:
        db = Database(url)
        try:
            start.wait()
            upgrade(db)
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=replica) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert failures == []
        db = Database(url)
        try:
            assert len(_schema(db)[1]) == 1
        finally:
            db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- cluster rows --------------------------------------------------------------------


def test_a_cluster_round_trips_through_its_row(backend: Backend) -> None:
    cluster = new_cluster("round")
    insert(backend, cluster)
    assert read(backend, "round") == cluster


def test_clusters_are_scoped_by_account_and_region(backend: Backend) -> None:
    insert(backend, new_cluster("same"))
    insert(backend, new_cluster("same", OTHER_REGION), OTHER_REGION)
    assert read(backend, "same", OTHER_ACCOUNT) is None
    here, there = read(backend, "same"), read(backend, "same", OTHER_REGION)
    assert here is not None and there is not None
    assert here.arn != there.arn


def test_a_second_cluster_with_the_same_name_and_scope_is_an_integrity_error(
    backend: Backend,
) -> None:
    insert(backend, new_cluster("twin"))
    with pytest.raises(IntegrityError), backend.db.write() as conn:
        cluster_rows.insert_cluster(conn, SCOPE, new_cluster("twin"))


def test_get_many_finds_what_exists(backend: Backend) -> None:
    for name in ("m1", "m2", "m3"):
        insert(backend, new_cluster(name))
    with backend.reading() as conn:
        found = cluster_rows.get_many(conn, SCOPE, ["m3", "m1", "absent"])
    assert sorted(found) == ["m1", "m3"]


def test_list_names_pages_active_clusters_in_name_order(backend: Backend) -> None:
    for name in ("c", "a", "e", "b", "d"):
        insert(backend, new_cluster(name))
    gone = read(backend, "c")
    assert gone is not None
    gone.status = ClusterStatus.INACTIVE
    backend.write(lambda conn: cluster_rows.save(conn, SCOPE, gone))
    with backend.reading() as conn:
        first = cluster_rows.list_names(conn, SCOPE, after=None, limit=2)
        rest = cluster_rows.list_names(conn, SCOPE, after=first[-1][0], limit=10)
    assert [n for n, _ in first] == ["a", "b"]
    assert [n for n, _ in rest] == ["d", "e"]
    assert all(a == cluster_arn(SCOPE, n) for n, a in first + rest)


def test_an_empty_cluster_counts_nothing(backend: Backend) -> None:
    insert(backend, new_cluster("empty"))
    with backend.reading() as conn:
        assert cluster_rows.count_for(conn, SCOPE, "empty") == ClusterCounts()


# --- optimistic versions -------------------------------------------------------------


def test_save_bumps_the_version(backend: Backend) -> None:
    insert(backend, new_cluster("versioned"))
    cluster = read(backend, "versioned")
    assert cluster is not None and cluster.version == 1
    cluster.settings = [{"name": "containerInsights", "value": "enabled"}]
    backend.write(lambda conn: cluster_rows.save(conn, SCOPE, cluster))
    assert cluster.version == 2
    stored = read(backend, "versioned")
    assert stored is not None
    assert stored.version == 2
    assert stored.settings == cluster.settings


def test_save_of_a_stale_copy_is_a_concurrent_update(backend: Backend) -> None:
    insert(backend, new_cluster("contested"))
    mine, theirs = read(backend, "contested"), read(backend, "contested")
    assert mine is not None and theirs is not None
    theirs.configuration = {"by": "them"}
    backend.write(lambda conn: cluster_rows.save(conn, SCOPE, theirs))

    mine.configuration = {"by": "me"}
    with pytest.raises(ConcurrentUpdateError), backend.db.write() as conn:
        cluster_rows.save(conn, SCOPE, mine)
    assert mine.version == 1
    stored = read(backend, "contested")
    assert stored is not None
    assert stored.configuration == {"by": "them"}


def test_save_of_a_cluster_that_has_no_row_is_a_concurrent_update(backend: Backend) -> None:
    with pytest.raises(ConcurrentUpdateError), backend.db.write() as conn:
        cluster_rows.save(conn, SCOPE, new_cluster("never-inserted"))


# --- Backend.write -------------------------------------------------------------------


def test_write_commits_what_work_did(backend: Backend) -> None:
    result = backend.write(lambda conn: cluster_rows.insert_cluster(conn, SCOPE, new_cluster("w")))
    assert result is None
    assert read(backend, "w") is not None


def test_write_rolls_back_when_work_fails(backend: Backend) -> None:
    def work(conn: Connection) -> None:
        cluster_rows.insert_cluster(conn, SCOPE, new_cluster("half"))
        tag_rows.put_tags(conn, cluster_arn(SCOPE, "half"), {"k": "v"})
        raise ValueError("not a conflict")

    with pytest.raises(ValueError, match="not a conflict"):
        backend.write(work)
    assert read(backend, "half") is None
    with backend.reading() as conn:
        assert tag_rows.get_tags(conn, cluster_arn(SCOPE, "half")) == {}


def test_write_does_not_retry_errors_that_are_not_conflicts(backend: Backend) -> None:
    calls: list[int] = []

    def work(conn: Connection) -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        backend.write(work)
    assert len(calls) == 1


def test_write_retries_a_stale_read_and_then_succeeds(backend: Backend) -> None:
    insert(backend, new_cluster("retry"))
    stale = read(backend, "retry")
    fresh = read(backend, "retry")
    assert stale is not None and fresh is not None
    backend.write(lambda conn: cluster_rows.save(conn, SCOPE, fresh))
    attempts: list[int] = []

    def work(conn: Connection) -> int:
        attempts.append(1)
        cluster = stale if len(attempts) == 1 else cluster_rows.get(conn, SCOPE, "retry")
        assert cluster is not None
        cluster.settings = [{"name": "containerInsights", "value": "enhanced"}]
        cluster_rows.save(conn, SCOPE, cluster)
        return cluster.version

    assert backend.write(work) == 3
    assert len(attempts) == 2
    stored = read(backend, "retry")
    assert stored is not None
    assert stored.settings == [{"name": "containerInsights", "value": "enhanced"}]


def test_write_retries_a_duplicate_insert_and_sees_the_winner(backend: Backend) -> None:
    # The CreateCluster pattern: two creators both saw no row; the loser's insert
    # fails, and its retry finds the winner's row.
    insert(backend, new_cluster("winner"))
    attempts: list[int] = []

    def work(conn: Connection) -> Cluster:
        attempts.append(1)
        existing = None if len(attempts) == 1 else cluster_rows.get(conn, SCOPE, "winner")
        if existing is not None:
            return existing
        cluster_rows.insert_cluster(conn, SCOPE, new_cluster("winner"))
        raise AssertionError("the insert should have failed")

    assert backend.write(work).name == "winner"
    assert len(attempts) == 2


def test_write_gives_up_after_repeated_conflicts(backend: Backend) -> None:
    attempts: list[int] = []

    def work(conn: Connection) -> None:
        attempts.append(1)
        raise ConcurrentUpdateError("always")

    with pytest.raises(ServerException) as err:
        backend.write(work)
    assert err.value.message == "The request conflicted with concurrent updates; retry it."
    assert len(attempts) == 8


def test_concurrent_read_modify_writes_lose_no_update(backend: Backend) -> None:
    insert(backend, new_cluster("counter"))
    workers, rounds = 4, 5
    committed: list[int] = []
    gave_up: list[ServerException] = []
    lock = threading.Lock()
    start = threading.Barrier(workers)

    def increment(conn: Connection) -> int:
        cluster = cluster_rows.get(conn, SCOPE, "counter")
        assert cluster is not None
        count = (cluster.configuration or {}).get("count", 0)
        cluster.configuration = {"count": count + 1}
        cluster_rows.save(conn, SCOPE, cluster)
        return count + 1

    def worker() -> None:
        start.wait()
        for _ in range(rounds):
            try:
                value = backend.write(increment)
            except ServerException as exc:
                with lock:
                    gave_up.append(exc)
            else:
                with lock:
                    committed.append(value)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stored = read(backend, "counter")
    assert stored is not None
    # Every acknowledged increment is in the row, each exactly once.
    assert sorted(committed) == list(range(1, len(committed) + 1))
    assert stored.configuration == {"count": len(committed)}
    assert stored.version == 1 + len(committed)
    assert len(committed) + len(gave_up) == workers * rounds
    assert committed


def test_a_read_sees_only_committed_writes(backend: Backend) -> None:
    insert(backend, new_cluster("snapshot"))
    inside = threading.Event()
    release = threading.Event()
    seen: list[Any] = []

    def slow_write(conn: Connection) -> None:
        cluster = cluster_rows.get(conn, SCOPE, "snapshot")
        assert cluster is not None
        cluster.configuration = {"state": "uncommitted"}
        cluster_rows.save(conn, SCOPE, cluster)
        inside.set()
        assert release.wait(30)

    writer = threading.Thread(target=lambda: backend.write(slow_write))
    writer.start()
    try:
        assert inside.wait(30)
        with backend.reading() as conn:
            row = conn.execute(
                select(clusters_table.c.doc).where(clusters_table.c.name == "snapshot")
            ).scalar_one()
            seen.append(row)
    finally:
        release.set()
        writer.join(30)
    assert "uncommitted" not in seen[0]
    stored = read(backend, "snapshot")
    assert stored is not None
    assert stored.configuration == {"state": "uncommitted"}


# --- tags ----------------------------------------------------------------------------


def test_tags_are_put_overwritten_removed_and_cleared(backend: Backend) -> None:
    target = cluster_arn(SCOPE, "tagged")
    other = cluster_arn(SCOPE, "other")
    backend.write(lambda conn: tag_rows.put_tags(conn, target, {"a": "1", "b": "2"}))
    backend.write(lambda conn: tag_rows.put_tags(conn, other, {"a": "x"}))
    backend.write(lambda conn: tag_rows.put_tags(conn, target, {"b": "3", "c": ""}))
    with backend.reading() as conn:
        assert tag_rows.get_tags(conn, target) == {"a": "1", "b": "3", "c": ""}
        assert tag_rows.get_tags_many(conn, [target, other, "arn:none"]) == {
            target: {"a": "1", "b": "3", "c": ""},
            other: {"a": "x"},
            "arn:none": {},
        }
    backend.write(lambda conn: tag_rows.remove_tags(conn, target, ["a", "absent"]))
    with backend.reading() as conn:
        assert tag_rows.get_tags(conn, target) == {"b": "3", "c": ""}
    backend.write(lambda conn: tag_rows.delete_all(conn, target))
    with backend.reading() as conn:
        assert tag_rows.get_tags(conn, target) == {}
        assert tag_rows.get_tags(conn, other) == {"a": "x"}


def test_unicode_survives_both_engines(backend: Backend) -> None:
    cluster = new_cluster("unicode")
    cluster.configuration = {"note": "données 北京 🚀"}
    insert(backend, cluster)
    backend.write(lambda conn: tag_rows.put_tags(conn, cluster.arn, {"équipe": "北京"}))
    stored = read(backend, "unicode")
    assert stored is not None
    assert stored.configuration == {"note": "données 北京 🚀"}
    with backend.reading() as conn:
        assert tag_rows.get_tags(conn, cluster.arn) == {"équipe": "北京"}
