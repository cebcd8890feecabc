"""Capacity views kept between placements: reused while nothing changed, never past a
change made elsewhere. Two Backends on one database stand for two server replicas;
every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.usecases import agent_channel, clusters, container_instances, task_definitions, tasks
from openecs.usecases import tasks as task_usecases
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import Registration
from openecs.usecases.tasks import LaunchRequest

SCOPE = Scope.root("111122223333", "us-east-1")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'views.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"views_{uuid.uuid4().hex[:16]}"
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
def replicas(database_url: str) -> Iterator[tuple[Backend, Backend]]:
    first = Backend.open(database_url, FakeClock())
    second = Backend.open(database_url, FakeClock())
    clusters.create_cluster(first, SCOPE, name="pool")
    task_definitions.register_task_definition(
        first,
        SCOPE,
        {"family": "half", "containerDefinitions": [{"name": "a", "image": "x", "memory": 512}]},
    )
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pools whose capacity view was read afresh from the database, in order."""
    seen: list[str] = []
    original = task_usecases._capacity_view

    def counting(conn: Connection, scope: Scope, cluster: str, *, fargate: bool) -> Any:
        seen.append(cluster)
        return original(conn, scope, cluster, fargate=fargate)

    monkeypatch.setattr(task_usecases, "_capacity_view", counting)
    return seen


def add_instance(backend: Backend, ec2_id: str, memory: int = 1024) -> str:
    found = container_instances.register_container_instance(
        backend,
        SCOPE,
        "pool",
        Registration(ec2_id, Capacity(4096, memory), availability_zone="us-east-1a"),
    )
    return found.instance.instance_id


def run(backend: Backend, count: int = 1) -> tuple[list[str], list[str]]:
    """(instance ids placed on, failure reasons)"""
    started, failures = tasks.run_task(
        backend, SCOPE, LaunchRequest(task_definition="half", cluster="pool", count=count)
    )
    return [d.task.container_instance_id or "" for d in started], [f["reason"] for f in failures]


def test_the_next_placement_continues_on_the_view_the_last_one_left(
    replicas: tuple[Backend, Backend], builds: list[str]
) -> None:
    first, _ = replicas
    add_instance(first, "i-1", memory=4096)
    for _ in range(3):
        assert run(first)[1] == []
    # The kept view accounted each placement: eight tasks fill the instance, the ninth
    # does not fit, and nothing was read afresh after the first.
    placed, failures = run(first, 5)
    assert (len(placed), failures) == (5, [])
    assert run(first) == ([], ["RESOURCE:MEMORY"])
    assert builds == ["pool"]


def test_tasks_placed_through_another_replica_are_never_placed_over(
    replicas: tuple[Backend, Backend], builds: list[str]
) -> None:
    first, second = replicas
    iid = add_instance(first, "i-1")
    assert run(first) == ([iid], [])
    assert run(second) == ([iid], [])
    # The first replica's kept view still shows 512 MiB free; the epoch says otherwise.
    assert run(first) == ([], ["RESOURCE:MEMORY"])
    assert builds.count("pool") == 3


def test_a_task_stopped_through_another_replica_frees_its_capacity(
    replicas: tuple[Backend, Backend],
) -> None:
    first, second = replicas
    iid = add_instance(first, "i-1")
    placed, _ = run(first, 2)
    assert placed == [iid, iid]
    assert run(first) == ([], ["RESOURCE:MEMORY"])
    listed, _ = tasks.list_tasks(second, SCOPE, cluster_ref="pool")
    changed = agent_channel.apply_reports(
        second,
        SCOPE,
        iid,
        [{"taskArn": listed[0], "lastStatus": "STOPPED", "containers": []}],
    )
    assert changed == 1
    assert run(first) == ([iid], [])


def test_an_instance_drained_through_another_replica_gets_no_more_tasks(
    replicas: tuple[Backend, Backend],
) -> None:
    first, second = replicas
    kept = add_instance(first, "i-1", memory=8192)
    drained = add_instance(first, "i-2", memory=8192)
    run(first, 2)
    container_instances.update_container_instances_state(
        second, SCOPE, "pool", [drained], "DRAINING"
    )
    placed, failures = run(first, 10)
    assert set(placed) == {kept}
    assert failures == []


def test_a_placement_rolled_back_leaves_nothing_behind_in_the_kept_view(
    replicas: tuple[Backend, Backend],
) -> None:
    first, _ = replicas
    iid = add_instance(first, "i-1", memory=2048)
    assert run(first) == ([iid], [])

    class Abandoned(Exception):
        pass

    def place_then_fail(conn: Connection) -> None:
        task_usecases.launch_in_transaction(
            conn, first, SCOPE, LaunchRequest(task_definition="half", cluster="pool", count=2)
        )
        raise Abandoned

    with pytest.raises(Abandoned):
        first.write(place_then_fail)
    # Room for three more: the two placed in the rolled-back transaction never happened.
    assert run(first, 3) == ([iid] * 3, [])


def test_replicas_placing_at_once_never_oversubscribe(
    replicas: tuple[Backend, Backend],
) -> None:
    first, second = replicas
    for n in range(3):
        add_instance(first, f"i-{n}", memory=2048)  # room for 4 tasks each: 12 in all
    placed: list[str] = []
    lock = threading.Lock()

    def worker(backend: Backend) -> None:
        for _ in range(5):
            got, _ = run(backend, 1)
            with lock:
                placed.extend(got)

    threads = [threading.Thread(target=worker, args=(b,)) for b in (first, second) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(placed) == 12
    assert max(placed.count(i) for i in set(placed)) == 4
