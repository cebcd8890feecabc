"""An agent's heartbeat is durable, but not written on every poll: a connected
agent's is written at most every `min_interval` seconds, a lost one's at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openecs.domain.errors import ClientException
from openecs.domain.resources import Capacity
from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.store import container_instances as instance_rows
from openecs.usecases import clusters, container_instances
from openecs.usecases.backend import Backend
from openecs.usecases.container_instances import Registration

SCOPE = Scope.root("000000000000", "us-east-1")
T0 = 1_764_115_200.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    found = Backend.open(f"sqlite:///{tmp_path / 'beats.db'}", clock=clock)
    clusters.create_cluster(found, SCOPE, name="prod")
    yield found
    found.close()


def register(backend: Backend) -> str:
    found = container_instances.register_container_instance(
        backend, SCOPE, "prod", Registration("i-0abc", Capacity(1024, 512))
    )
    return found.instance.instance_id


def stored_heartbeat(backend: Backend, instance_id: str) -> float | None:
    """The heartbeat written, as the liveness check reads it."""
    with backend.reading() as conn:
        found = instance_rows.liveness(conn, SCOPE, instance_id)
    assert found is not None
    return found[1]


def test_a_connected_agents_heartbeat_is_written_at_most_every_interval(
    backend: Backend, clock: FakeClock
) -> None:
    iid = register(backend)
    container_instances.record_heartbeat(backend, SCOPE, iid, min_interval=5.0)
    first = stored_heartbeat(backend, iid)
    clock.advance(4.9)
    container_instances.record_heartbeat(backend, SCOPE, iid, min_interval=5.0)
    assert stored_heartbeat(backend, iid) == first
    clock.advance(0.2)
    container_instances.record_heartbeat(backend, SCOPE, iid, min_interval=5.0)
    assert stored_heartbeat(backend, iid) == clock.now()


def test_without_an_interval_every_heartbeat_is_written(backend: Backend, clock: FakeClock) -> None:
    iid = register(backend)
    clock.advance(0.1)
    container_instances.record_heartbeat(backend, SCOPE, iid)
    assert stored_heartbeat(backend, iid) == clock.now()


def test_a_lost_agents_heartbeat_reconnects_it_at_once(backend: Backend, clock: FakeClock) -> None:
    iid = register(backend)
    clock.advance(60)
    assert container_instances.mark_silent_agents_disconnected(backend, 45.0) == [iid]
    container_instances.record_heartbeat(backend, SCOPE, iid, min_interval=5.0)
    [found] = container_instances.describe_container_instances(
        backend, SCOPE, "prod", [iid], include_tags=False
    )[0]
    assert found.instance.agent_connected
    assert stored_heartbeat(backend, iid) == clock.now()


def test_a_heartbeat_from_an_unregistered_instance_is_refused(backend: Backend) -> None:
    with pytest.raises(ClientException):
        container_instances.record_heartbeat(backend, SCOPE, "nope", min_interval=5.0)
