"""Load balancing state on both engines (SQLite and PostgreSQL): the migration
matches the tables, the data plane's snapshot and health recording, draining on a
fake clock, cascades, and instance targets resolved from container instances."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from openecs.domain.errors import InvalidTargetException, ResourceInUseException
from openecs.domain.load_balancing import LoadBalancer, TargetGroup
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.store.tables import container_instances, metadata, targets
from openecs.usecases import listeners, load_balancing, target_groups
from openecs.usecases.backend import Backend

SCOPE = Scope.root("111122223333", "us-east-1")
OTHER = Scope.root("444455556666", "eu-west-1")
ELB_TABLES = {
    "load_balancers",
    "target_groups",
    "listeners",
    "rules",
    "rule_target_groups",
    "targets",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server_url = request.getfixturevalue("postgres_url")
    name = f"elb_{uuid.uuid4().hex[:16]}"
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
    return FakeClock()


@pytest.fixture
def backend(database_url: str, clock: FakeClock) -> Iterator[Backend]:
    opened = Backend.open(database_url, clock)
    yield opened
    opened.close()


def _lb(backend: Backend, name: str = "web", scope: Scope = SCOPE) -> LoadBalancer:
    return load_balancing.create_load_balancer(backend, scope, name=name)


def _tg(
    backend: Backend, name: str = "web", scope: Scope = SCOPE, target_type: str = "ip"
) -> TargetGroup:
    view = target_groups.create_target_group(
        backend, scope, name=name, protocol="HTTP", port=8080, target_type=target_type
    )
    return view.target_group


def _forward(tg: TargetGroup) -> list[dict[str, str]]:
    return [{"Type": "forward", "TargetGroupArn": tg.arn}]


def test_the_migration_creates_exactly_the_declared_tables(backend: Backend) -> None:
    def only_ours(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in ELB_TABLES

    with backend.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": only_ours})
        assert compare_metadata(context, metadata) == []


def test_the_snapshot_holds_every_account_and_leaves_out_finished_draining(
    backend: Backend, clock: FakeClock
) -> None:
    lb, tg = _lb(backend), _tg(backend)
    _lb(backend, "elsewhere", OTHER)
    listener = listeners.create_listener(
        backend,
        SCOPE,
        load_balancer_arn=lb.arn,
        protocol="HTTP",
        port=8000,
        default_actions=_forward(tg),
    )
    listeners.create_rule(
        backend,
        SCOPE,
        listener_arn=listener.arn,
        priority=7,
        conditions=[{"Field": "path-pattern", "Values": ["/a/*"]}],
        actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "204"}}],
    )
    target_groups.modify_target_group_attributes(
        backend, SCOPE, tg.arn, [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]
    )
    target_groups.register_targets(
        backend, SCOPE, tg.arn, [{"Id": "127.0.0.1", "Port": 9001}, {"Id": "127.0.0.2"}]
    )
    target_groups.deregister_targets(backend, SCOPE, tg.arn, [{"Id": "127.0.0.2"}])

    snapshot = load_balancing.read_snapshot(backend)
    assert sorted(b.name for b in snapshot.load_balancers) == ["elsewhere", "web"]
    assert [li.port for li in snapshot.listeners] == [8000]
    assert snapshot.listeners[0].default_actions[0]["TargetGroupArn"] == tg.arn
    assert [r.priority for r in snapshot.rules] == [7, None]
    assert snapshot.target_groups[0].attributes["deregistration_delay.timeout_seconds"] == "30"
    draining = {t.id: t.draining_until for t in snapshot.targets}
    assert draining == {"127.0.0.1": None, "127.0.0.2": clock.now() + 30}
    assert {(t.id, t.port, t.address) for t in snapshot.targets} == {
        ("127.0.0.1", 9001, "127.0.0.1"),
        ("127.0.0.2", 8080, "127.0.0.2"),
    }

    clock.advance(31)
    assert [t.id for t in load_balancing.read_snapshot(backend).targets] == ["127.0.0.1"]
    health = target_groups.describe_target_health(backend, SCOPE, tg.arn)
    assert [(h.target_id, h.state) for h in health] == [("127.0.0.1", "initial")]


def test_recording_health_writes_only_what_changed(backend: Backend) -> None:
    lb, tg = _lb(backend), _tg(backend)
    listeners.create_listener(
        backend,
        SCOPE,
        load_balancer_arn=lb.arn,
        protocol="HTTP",
        port=8000,
        default_actions=_forward(tg),
    )
    target_groups.register_targets(backend, SCOPE, tg.arn, [{"Id": "10.0.0.1"}, {"Id": "10.0.0.2"}])
    checking = ("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
    assert (
        load_balancing.record_target_health(
            backend,
            [
                (tg.arn, "10.0.0.1", 8080, *checking),
                (
                    tg.arn,
                    "10.0.0.2",
                    8080,
                    "initial",
                    "Elb.RegistrationInProgress",
                    "Target registration is in progress",
                ),
                (tg.arn, "10.9.9.9", 8080, "healthy", None, None),
            ],
        )
        == 1
    )
    failing = (
        "unhealthy",
        "Target.ResponseCodeMismatch",
        "Health checks failed with these codes: [502]",
    )
    updates = [
        (tg.arn, "10.0.0.1", 8080, "healthy", None, None),
        (tg.arn, "10.0.0.2", 8080, *failing),
    ]
    assert load_balancing.record_target_health(backend, updates) == 2
    assert load_balancing.record_target_health(backend, updates) == 0
    health = {h.target_id: h for h in target_groups.describe_target_health(backend, SCOPE, tg.arn)}
    assert (health["10.0.0.1"].state, health["10.0.0.1"].reason) == ("healthy", None)
    assert (
        health["10.0.0.2"].state,
        health["10.0.0.2"].reason,
        health["10.0.0.2"].description,
    ) == failing
    assert load_balancing.record_target_health(backend, []) == 0
    with pytest.raises(ValueError, match="not a target health state"):
        load_balancing.record_target_health(
            backend, [(tg.arn, "10.0.0.1", 8080, "fine", None, None)]
        )


def test_recording_health_purges_targets_whose_draining_is_over(
    backend: Backend, clock: FakeClock
) -> None:
    lb, tg = _lb(backend), _tg(backend)
    listeners.create_listener(
        backend,
        SCOPE,
        load_balancer_arn=lb.arn,
        protocol="HTTP",
        port=80,
        default_actions=_forward(tg),
    )
    target_groups.register_targets(backend, SCOPE, tg.arn, [{"Id": "10.0.0.1"}, {"Id": "10.0.0.2"}])
    target_groups.deregister_targets(backend, SCOPE, tg.arn, [{"Id": "10.0.0.1"}])
    clock.advance(301)
    load_balancing.record_target_health(
        backend, [(tg.arn, "10.0.0.2", 8080, "healthy", None, None)]
    )
    with backend.reading() as conn:
        left = conn.execute(select(targets.c.target_id)).scalars().all()
    assert left == ["10.0.0.2"]


def test_deleting_a_load_balancer_frees_its_target_groups(backend: Backend) -> None:
    lb, tg = _lb(backend), _tg(backend)
    listeners.create_listener(
        backend,
        SCOPE,
        load_balancer_arn=lb.arn,
        protocol="HTTP",
        port=80,
        default_actions=_forward(tg),
    )
    with pytest.raises(ResourceInUseException):
        target_groups.delete_target_group(backend, SCOPE, tg.arn)
    load_balancing.delete_load_balancer(backend, SCOPE, lb.arn)
    snapshot = load_balancing.read_snapshot(backend)
    assert (snapshot.load_balancers, snapshot.listeners, snapshot.rules) == ([], [], [])
    target_groups.delete_target_group(backend, SCOPE, tg.arn)
    assert load_balancing.read_snapshot(backend).target_groups == []


def _container_instance(backend: Backend, ec2_id: str, address: str, status: str) -> None:
    doc = {"host_address": address, "availability_zone": "us-east-1b"}
    backend.write(
        lambda conn: conn.execute(
            insert(container_instances).values(
                instance_id=uuid.uuid4().hex,
                account_id=SCOPE.account_id,
                region=SCOPE.region,
                cluster="default",
                arn=f"arn:aws:ecs:us-east-1:{SCOPE.account_id}:container-instance/default/x",
                ec2_instance_id=ec2_id,
                status=status,
                agent_connected=True,
                registered_at=0.0,
                version=1,
                doc=json.dumps(doc),
                kind="EC2",
            )
        )
    )


def test_instance_targets_send_traffic_to_the_instances_host_address(backend: Backend) -> None:
    _container_instance(backend, "i-0123456789abcdef0", "192.0.2.10", "ACTIVE")
    _container_instance(backend, "i-0fedcba987654321f", "192.0.2.11", "INACTIVE")
    tg = _tg(backend, target_type="instance")
    target_groups.register_targets(
        backend, SCOPE, tg.arn, [{"Id": "i-0123456789abcdef0", "Port": 32768}]
    )
    (target,) = load_balancing.read_snapshot(backend).targets
    assert (target.id, target.port, target.address, target.availability_zone) == (
        "i-0123456789abcdef0",
        32768,
        "192.0.2.10",
        "us-east-1b",
    )
    with pytest.raises(InvalidTargetException, match="i-0fedcba987654321f"):
        target_groups.register_targets(backend, SCOPE, tg.arn, [{"Id": "i-0fedcba987654321f"}])


def test_changes_wake_the_load_balancer_controller_and_health_reports_do_not(
    backend: Backend,
) -> None:
    async def woken_by(change: Callable[[], object]) -> bool:
        with backend.controller_signals.listen("load-balancers") as event:
            await asyncio.to_thread(change)
            try:
                await asyncio.wait_for(event.wait(), 0.5)
            except TimeoutError:
                return False
            return True

    tg = _tg(backend)
    assert asyncio.run(woken_by(lambda: _lb(backend)))
    assert asyncio.run(
        woken_by(
            lambda: target_groups.register_targets(backend, SCOPE, tg.arn, [{"Id": "10.0.0.1"}])
        )
    )
    report = [(tg.arn, "10.0.0.1", 8080, "healthy", None, None)]
    assert not asyncio.run(woken_by(lambda: load_balancing.record_target_health(backend, report)))
