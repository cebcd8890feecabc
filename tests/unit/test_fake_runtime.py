"""FakeRuntime behaves like the Docker runtime where the task runner can tell."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from openecs.agent.container_runtime import (
    Conflict,
    ContainerEvent,
    ContainerRuntime,
    ContainerSpec,
    ContainerStats,
    ContainerStatus,
    DockerError,
    EventAction,
    HealthCheck,
    HealthStatus,
    ImagePullError,
    Mount,
    NotFound,
    PortMapping,
    signal_name,
)
from openecs.agent.fake_runtime import FakeRuntime
from openecs.platform.clock import FakeClock, to_datetime

pytestmark = pytest.mark.anyio

IMAGE = "app:1"
LABELS = {"task": "t1"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)


@pytest.fixture
async def runtime(clock: FakeClock) -> AsyncIterator[FakeRuntime]:
    fake = FakeRuntime(clock, images=[IMAGE])
    yield fake
    await fake.aclose()


def spec(name: str = "web", **kwargs: object) -> ContainerSpec:
    return ContainerSpec(name=name, image=IMAGE, labels=dict(LABELS), **kwargs)  # type: ignore[arg-type]


async def collect(events: AsyncIterator[ContainerEvent], count: int) -> list[ContainerEvent]:
    seen: list[ContainerEvent] = []
    async with asyncio.timeout(1):
        async for event in events:
            seen.append(event)
            if len(seen) == count:
                break
    return seen


def actions(events: list[ContainerEvent]) -> list[tuple[EventAction, str | int | None]]:
    return [(e.action, e.exit_code if e.action is EventAction.DIE else e.signal) for e in events]


async def test_fake_runtime_satisfies_the_protocol(runtime: FakeRuntime) -> None:
    implementation: ContainerRuntime = runtime
    assert (await implementation.host_info()).cpus == 2


async def test_create_then_start_runs_with_clock_times(
    runtime: FakeRuntime, clock: FakeClock
) -> None:
    cid = await runtime.create(spec())
    created = await runtime.inspect(cid)
    assert created.status is ContainerStatus.CREATED
    assert created.exit_code is None and created.started_at is None
    clock.advance(5)
    await runtime.start("web")
    running = await runtime.inspect(cid)
    assert running.running
    assert running.started_at == to_datetime(clock.now())
    assert running.pid is not None
    assert running.ip_addresses.keys() == {"bridge"}


async def test_create_without_the_image_is_not_found_until_pulled(runtime: FakeRuntime) -> None:
    missing = ContainerSpec(name="x", image="other")
    with pytest.raises(NotFound, match="No such image: other:latest"):
        await runtime.create(missing)
    assert not await runtime.image_exists("other:latest")
    await runtime.pull("other")
    assert await runtime.image_exists("other:latest")
    assert runtime.pulls == ["other"]
    await runtime.create(missing)


async def test_failed_pull_raises_image_pull_error_with_the_reason(runtime: FakeRuntime) -> None:
    runtime.fail_pull("private/app:2", "pull access denied")
    with pytest.raises(ImagePullError) as error:
        await runtime.pull("private/app:2")
    assert error.value.image == "private/app:2"
    assert error.value.reason == "pull access denied"
    assert not await runtime.image_exists("private/app:2")


async def test_a_taken_name_is_a_conflict(runtime: FakeRuntime) -> None:
    await runtime.create(spec())
    with pytest.raises(Conflict, match="already in use"):
        await runtime.create(spec())


async def test_unknown_container_is_not_found(runtime: FakeRuntime) -> None:
    with pytest.raises(NotFound):
        await runtime.inspect("nope")
    with pytest.raises(NotFound):
        await runtime.start("nope")


async def test_test_driven_exit_reports_the_code_and_wakes_waiters(
    runtime: FakeRuntime, clock: FakeClock
) -> None:
    cid = await runtime.create(spec())
    await runtime.start(cid)
    waiter = asyncio.create_task(runtime.wait(cid))
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.advance(3)
    runtime.exit(cid, 42)
    assert await waiter == 42
    state = await runtime.inspect(cid)
    assert state.status is ContainerStatus.EXITED
    assert state.exit_code == 42
    assert state.finished_at == to_datetime(clock.now())
    assert state.ports == () and state.ip_addresses == {} and state.pid is None


async def test_oom_exit_sets_oom_killed_and_emits_oom_then_die(runtime: FakeRuntime) -> None:
    events = runtime.events(labels=LABELS)
    cid = await runtime.create(spec())
    await runtime.start(cid)
    runtime.exit(cid, 137, oom_killed=True)
    seen = await collect(events, 4)
    assert [e.action for e in seen] == [
        EventAction.CREATE,
        EventAction.START,
        EventAction.OOM,
        EventAction.DIE,
    ]
    assert (await runtime.inspect(cid)).oom_killed


async def test_stop_sends_sigterm_and_the_container_exits_143(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec())
    await runtime.start(cid)
    events = runtime.events(labels=LABELS)
    await runtime.stop(cid, timeout=5)
    seen = await collect(events, 3)
    assert actions(seen) == [
        (EventAction.KILL, "SIGTERM"),
        (EventAction.DIE, 143),
        (EventAction.STOP, None),
    ]
    assert (await runtime.inspect(cid)).exit_code == 143


async def test_stop_of_a_sigterm_ignoring_container_ends_in_sigkill(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec())
    await runtime.start(cid)
    runtime.set_sigterm_exit(cid, None)
    events = runtime.events(labels=LABELS)
    await runtime.stop(cid)
    seen = await collect(events, 4)
    assert actions(seen) == [
        (EventAction.KILL, "SIGTERM"),
        (EventAction.KILL, "SIGKILL"),
        (EventAction.DIE, 137),
        (EventAction.STOP, None),
    ]
    assert runtime.signals_received(cid) == ["SIGTERM", "SIGKILL"]


async def test_graceful_sigterm_exit_code_is_configurable(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec())
    await runtime.start(cid)
    runtime.set_sigterm_exit(cid, 0)
    await runtime.stop(cid)
    assert (await runtime.inspect(cid)).exit_code == 0


async def test_custom_stop_signal_is_used(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec(stop_signal="QUIT"))
    await runtime.start(cid)
    await runtime.stop(cid)
    assert runtime.signals_received(cid) == ["SIGQUIT"]
    assert (await runtime.inspect(cid)).exit_code == 131


async def test_stop_of_a_stopped_container_is_a_no_op(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec())
    await runtime.stop(cid)
    assert (await runtime.inspect(cid)).status is ContainerStatus.CREATED


async def test_kill_with_non_terminating_signal_keeps_it_running(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec())
    await runtime.start(cid)
    await runtime.kill(cid, "HUP")
    assert (await runtime.inspect(cid)).running
    await runtime.kill(cid)
    state = await runtime.inspect(cid)
    assert state.exit_code == 137
    with pytest.raises(Conflict, match="is not running"):
        await runtime.kill(cid)


async def test_failed_start_raises_and_leaves_the_error(runtime: FakeRuntime) -> None:
    runtime.fail_start("web", "exec: nope: executable file not found")
    cid = await runtime.create(spec())
    with pytest.raises(DockerError, match="executable file not found"):
        await runtime.start(cid)
    state = await runtime.inspect(cid)
    assert state.status is ContainerStatus.CREATED
    assert state.error == "exec: nope: executable file not found"
    await runtime.start(cid)
    assert (await runtime.inspect(cid)).error == ""


async def test_health_starts_starting_and_moves_on_command(runtime: FakeRuntime) -> None:
    check = HealthCheck(command=("CMD-SHELL", "true"))
    cid = await runtime.create(spec(health_check=check))
    await runtime.start(cid)
    assert (await runtime.inspect(cid)).health is HealthStatus.STARTING
    events = runtime.events(labels=LABELS)
    runtime.set_health(cid, HealthStatus.HEALTHY)
    runtime.set_health(cid, HealthStatus.UNHEALTHY)
    seen = await collect(events, 2)
    assert [(e.action, e.health) for e in seen] == [
        (EventAction.HEALTH_STATUS, HealthStatus.HEALTHY),
        (EventAction.HEALTH_STATUS, HealthStatus.UNHEALTHY),
    ]
    assert (await runtime.inspect(cid)).health is HealthStatus.UNHEALTHY


async def test_no_health_check_means_health_none(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec())
    await runtime.start(cid)
    assert (await runtime.inspect(cid)).health is HealthStatus.NONE


async def test_ports_are_published_on_start_with_dynamic_host_ports(runtime: FakeRuntime) -> None:
    ports = (PortMapping(80), PortMapping(53, 5353, "udp", "0.0.0.0"))
    cid = await runtime.create(spec(ports=ports))
    assert (await runtime.inspect(cid)).ports == ()
    await runtime.start(cid)
    published = (await runtime.inspect(cid)).ports
    assert [(p.container_port, p.protocol, p.host_ip) for p in published] == [
        (80, "tcp", "127.0.0.1"),
        (53, "udp", "0.0.0.0"),
    ]
    assert published[0].host_port >= 32768
    assert published[1].host_port == 5353


async def test_containers_sharing_a_namespace_publish_nothing(runtime: FakeRuntime) -> None:
    pause = await runtime.create(spec("pause"))
    app = await runtime.create(
        spec("app", network_mode=f"container:{pause}", ports=(PortMapping(80),))
    )
    await runtime.start(pause)
    await runtime.start(app)
    state = await runtime.inspect(app)
    assert state.ports == () and state.ip_addresses == {}


async def test_remove_refuses_a_running_container_unless_forced(runtime: FakeRuntime) -> None:
    cid = await runtime.create(spec())
    await runtime.start(cid)
    with pytest.raises(Conflict, match="cannot remove a running container"):
        await runtime.remove(cid)
    events = runtime.events(labels=LABELS)
    await runtime.remove(cid, force=True)
    seen = await collect(events, 3)
    assert actions(seen) == [
        (EventAction.KILL, "SIGKILL"),
        (EventAction.DIE, 137),
        (EventAction.DESTROY, None),
    ]
    with pytest.raises(NotFound):
        await runtime.inspect(cid)


async def test_list_by_labels_matches_all_labels_and_filters_stopped(
    runtime: FakeRuntime,
) -> None:
    a = await runtime.create(ContainerSpec(name="a", image=IMAGE, labels={"task": "1", "x": "y"}))
    b = await runtime.create(ContainerSpec(name="b", image=IMAGE, labels={"task": "2"}))
    await runtime.start(b)
    assert [s.id for s in await runtime.list_by_labels({"task": "1"})] == [a]
    assert [s.id for s in await runtime.list_by_labels({"task": "1", "x": "z"})] == []
    running = await runtime.list_by_labels({}, include_stopped=False)
    assert [(s.name, s.status) for s in running] == [("b", ContainerStatus.RUNNING)]


async def test_events_filter_by_labels(runtime: FakeRuntime) -> None:
    events = runtime.events(labels={"task": "2"})
    await runtime.create(ContainerSpec(name="a", image=IMAGE, labels={"task": "1"}))
    await runtime.create(ContainerSpec(name="b", image=IMAGE, labels={"task": "2"}))
    seen = await collect(events, 1)
    assert [(e.action, e.name) for e in seen] == [(EventAction.CREATE, "b")]


async def test_events_since_replays_history(runtime: FakeRuntime, clock: FakeClock) -> None:
    first = await runtime.create(spec("a"))
    clock.advance(10)
    mark = clock.now()
    await runtime.start(first)
    await runtime.create(spec("b"))
    seen = await collect(runtime.events(since=mark), 2)
    assert [(e.action, e.name, e.time) for e in seen] == [
        (EventAction.START, "a", mark),
        (EventAction.CREATE, "b", mark),
    ]


async def test_simulated_reconnect_yields_resync(runtime: FakeRuntime) -> None:
    events = runtime.events(labels=LABELS)
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    runtime.simulate_reconnect()
    event = await asyncio.wait_for(first, 1)
    assert event.action is EventAction.RESYNC
    await events.aclose()


async def test_aclose_ends_event_iterators(clock: FakeClock) -> None:
    fake = FakeRuntime(clock)
    events = fake.events()
    pending = asyncio.ensure_future(collect(events, 5))
    await asyncio.sleep(0)
    await fake.aclose()
    assert await asyncio.wait_for(pending, 1) == []


async def test_stats_default_and_overridden(runtime: FakeRuntime, clock: FakeClock) -> None:
    cid = await runtime.create(spec(memory_bytes=256 * 1024**2))
    await runtime.start(cid)
    default = await runtime.stats(cid)
    assert default.memory_limit_bytes == 256 * 1024**2 and default.pids == 1
    runtime.set_stats(
        cid,
        ContainerStats(
            read_at=to_datetime(0),
            cpu_total_ns=5,
            system_cpu_ns=10,
            online_cpus=2,
            memory_usage_bytes=1024,
            memory_limit_bytes=2048,
            network_rx_bytes=1,
            network_tx_bytes=2,
            block_read_bytes=3,
            block_write_bytes=4,
            pids=7,
        ),
    )
    sample = await runtime.stats(cid)
    assert sample.memory_usage_bytes == 1024 and sample.pids == 7
    assert sample.read_at == to_datetime(clock.now())


async def test_networks_give_addresses_and_refuse_removal_while_in_use(
    runtime: FakeRuntime,
) -> None:
    net = await runtime.create_network("task-net", labels={"task": "t1"})
    with pytest.raises(Conflict):
        await runtime.create_network("task-net")
    a = await runtime.create(spec("a", network_mode="task-net", network_aliases=("web",)))
    b = await runtime.create(spec("b"))
    await runtime.connect_network(net, b, aliases=("db",))
    await runtime.start(a)
    await runtime.start(b)
    info = await runtime.inspect_network("task-net")
    assert info.id == net and info.labels == {"task": "t1"}
    assert set(info.containers) == {a, b}
    assert (await runtime.inspect(b)).ip_addresses.keys() == {"bridge", "task-net"}
    with pytest.raises(Conflict, match="active endpoints"):
        await runtime.remove_network(net)
    await runtime.disconnect_network(net, b)
    with pytest.raises(DockerError, match="not connected"):
        await runtime.disconnect_network(net, b)
    await runtime.stop(a)
    await runtime.remove_network(net)
    with pytest.raises(NotFound):
        await runtime.inspect_network(net)


async def test_create_on_a_missing_network_is_not_found(runtime: FakeRuntime) -> None:
    with pytest.raises(NotFound, match="network nowhere not found"):
        await runtime.create(spec(network_mode="nowhere"))


async def test_volumes_are_refused_removal_while_used(runtime: FakeRuntime) -> None:
    assert await runtime.create_volume("data", labels={"task": "t1"}) == "data"
    cid = await runtime.create(spec(mounts=(Mount("/data", "data"),)))
    with pytest.raises(Conflict, match="volume is in use"):
        await runtime.remove_volume("data")
    await runtime.remove(cid)
    await runtime.remove_volume("data")
    with pytest.raises(NotFound):
        await runtime.remove_volume("data")
    await runtime.remove_volume("data", force=True)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("SIGTERM", "SIGTERM"), ("term", "SIGTERM"), ("9", "SIGKILL"), ("WHAT", "WHAT")],
)
def test_signal_names_are_normalised(given: str, expected: str) -> None:
    assert signal_name(given) == expected
