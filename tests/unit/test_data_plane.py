"""The data plane's decisions, without HAProxy: which runtime commands put targets
in slots, and which elbv2 health each slot's HAProxy status means. Also the
runtime API client against a fake admin socket that speaks HAProxy's prompt mode."""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openecs.domain.load_balancing import HealthCheck, Target, TargetState
from openecs.lb.data_plane import (
    CHECKS_DISABLED,
    DEREGISTERING,
    HEALTHY,
    INITIAL_CHECKING,
    INITIAL_REGISTRATION,
    NOT_IN_USE,
    SlotPlan,
    compute_target_health,
    plan_slots,
    target_health,
)
from openecs.lb.haproxy_config import ConfigLayout, ConfigSettings, plan_layout
from openecs.lb.runtime_api import (
    RuntimeApi,
    RuntimeApiError,
    ServerView,
    parse_servers_state,
    parse_stat,
)
from tests.support.lb_snapshots import (
    forward,
    listener,
    load_balancer,
    snapshot,
    target,
    target_group,
)

NOW = 1_000_000.0
CHECKED = target_group("web")
UNCHECKED = target_group("raw", health=HealthCheck(enabled=False))
LB = load_balancer()
FRONT = listener(LB, 80, forward(CHECKED))
FRONT_RAW = listener(LB, 81, forward(UNCHECKED))


LAYOUT: ConfigLayout = plan_layout(
    snapshot([LB], [FRONT, FRONT_RAW], [CHECKED, UNCHECKED]),
    ConfigSettings(state_dir=Path("/unused"), min_slots=4),
)
WEB = LAYOUT.backends[CHECKED.arn].name
RAW = LAYOUT.backends[UNCHECKED.arn].name


def parked(backend: str, index: int) -> ServerView:
    return ServerView(backend, f"t{index}", None, 1, admin_state=0x05, status="MAINT")


def slots(backend: str, *used: tuple[int, int, str]) -> dict[tuple[str, str], ServerView]:
    """Four slots of `backend`; `used` = (slot, port, "ready"|"drain") at 127.0.0.1."""
    views = {(backend, f"t{i}"): parked(backend, i) for i in range(1, 5)}
    for index, port, admin in used:
        views[(backend, f"t{index}")] = ServerView(
            backend,
            f"t{index}",
            "127.0.0.1",
            port,
            admin_state=0x08 if admin == "drain" else 0x04,
            status="UP",
        )
    return views


# --- slot plans -----------------------------------------------------------------------


def test_a_new_target_takes_the_lowest_free_slot_and_starts_down() -> None:
    plan = plan_slots(LAYOUT, [target(CHECKED, 8001)], slots(WEB), NOW)
    assert plan.commands == [
        f"set server {WEB}/t1 addr 127.0.0.1 port 8001",
        f"set server {WEB}/t1 weight 0",
        f"set server {WEB}/t1 state ready",
        f"set server {WEB}/t1 health down",
        f"set server {WEB}/t1 weight 100%",
    ]
    assert plan.slots == {(CHECKED.arn, "127.0.0.1", 8001): (WEB, "t1")}


def test_a_target_of_an_unchecked_group_is_simply_made_ready() -> None:
    plan = plan_slots(LAYOUT, [target(UNCHECKED, 8001)], slots(RAW, (1, 7000, "ready")), NOW)
    assert plan.commands == [
        f"set server {RAW}/t1 state maint",
        f"set server {RAW}/t1 addr 127.0.0.1 port 8001",
        f"set server {RAW}/t1 state ready",
    ]


def test_targets_already_in_their_slots_need_no_command() -> None:
    current = slots(WEB, (2, 8001, "ready"), (3, 8002, "ready"))
    plan = plan_slots(LAYOUT, [target(CHECKED, 8001), target(CHECKED, 8002)], current, NOW)
    assert plan.commands == []
    assert set(plan.slots.values()) == {(WEB, "t2"), (WEB, "t3")}


def test_a_deregistered_target_drains_once_then_its_slot_is_parked() -> None:
    leaving = target(CHECKED, 8001, draining_until=NOW + 300)
    plan = plan_slots(LAYOUT, [leaving], slots(WEB, (1, 8001, "ready")), NOW)
    assert plan.commands == [f"set server {WEB}/t1 state drain"]
    assert plan_slots(LAYOUT, [leaving], slots(WEB, (1, 8001, "drain")), NOW).commands == []
    later = plan_slots(LAYOUT, [leaving], slots(WEB, (1, 8001, "drain")), NOW + 301)
    assert later.commands == [f"set server {WEB}/t1 state maint"]


def test_a_target_gone_from_the_snapshot_frees_its_slot() -> None:
    plan = plan_slots(LAYOUT, [], slots(WEB, (3, 8001, "ready")), NOW)
    assert plan.commands == [f"set server {WEB}/t3 state maint"]


def test_a_target_registered_again_while_draining_is_made_ready() -> None:
    plan = plan_slots(LAYOUT, [target(CHECKED, 8001)], slots(WEB, (1, 8001, "drain")), NOW)
    assert plan.commands == [f"set server {WEB}/t1 state ready"]


def test_a_draining_target_haproxy_does_not_know_gets_no_slot() -> None:
    plan = plan_slots(LAYOUT, [target(CHECKED, 8001, draining_until=NOW + 5)], slots(WEB), NOW)
    assert plan == SlotPlan()


def test_a_parked_slot_still_pointing_at_the_target_is_reused_without_readdressing() -> None:
    current = slots(WEB)
    current[(WEB, "t3")] = ServerView(
        WEB, "t3", "127.0.0.1", 8001, admin_state=0x05, status="MAINT"
    )
    plan = plan_slots(LAYOUT, [target(CHECKED, 8001)], current, NOW)
    assert plan.commands[0] == f"set server {WEB}/t3 weight 0"
    assert not any("addr" in c for c in plan.commands)


def test_targets_beyond_the_pool_are_left_unplaced() -> None:
    targets = [target(CHECKED, 8000 + i) for i in range(5)]
    plan = plan_slots(LAYOUT, targets, slots(WEB), NOW)
    assert plan.unplaced == [(CHECKED.arn, "127.0.0.1", 8004)]
    assert len(plan.slots) == 4


def test_two_slots_on_one_address_keep_one() -> None:
    current = slots(WEB, (1, 8001, "ready"), (2, 8001, "ready"))
    plan = plan_slots(LAYOUT, [target(CHECKED, 8001)], current, NOW)
    assert plan.commands == [f"set server {WEB}/t2 state maint"]


def test_slots_of_groups_no_listener_uses_are_left_alone() -> None:
    lonely = target_group("lonely")
    plan = plan_slots(LAYOUT, [target(lonely, 8001)], {}, NOW)
    assert plan == SlotPlan()


def simulate(views: dict[tuple[str, str], ServerView], commands: list[str]) -> None:
    """What HAProxy does with the commands the plan sends (admin state and address)."""
    for command in commands:
        words = command.split()
        backend, server = words[2].split("/")
        view = views[(backend, server)]
        if words[3] == "addr":
            view = replace(view, address=words[4], port=int(words[6]))
        elif words[3] == "state":
            admin = {"ready": 0x04, "drain": 0x08, "maint": 0x05}[words[4]]
            view = replace(view, admin_state=admin)
        views[(backend, server)] = view


target_sets = st.lists(
    st.tuples(st.integers(8000, 8009), st.sampled_from(["active", "draining", "expired"])),
    max_size=4,
    unique_by=lambda t: t[0],
)


@settings(max_examples=200, deadline=None)
@given(first=target_sets, second=target_sets)
def test_one_plan_brings_haproxy_in_step_from_any_earlier_state(
    first: list[tuple[int, str]], second: list[tuple[int, str]]
) -> None:
    def targets(spec: list[tuple[int, str]]) -> list[Target]:
        until = {"active": None, "draining": NOW + 10, "expired": NOW - 1}
        return [target(CHECKED, port, draining_until=until[kind]) for port, kind in spec]

    views = slots(WEB)
    simulate(views, plan_slots(LAYOUT, targets(first), views, NOW).commands)
    wanted = targets(second)
    plan = plan_slots(LAYOUT, wanted, views, NOW)
    simulate(views, plan.commands)

    assert plan_slots(LAYOUT, wanted, views, NOW).commands == []
    serving = {(v.address, v.port): v for v in views.values() if not v.in_maintenance}
    active = {("127.0.0.1", t.port) for t in wanted if t.draining_until is None}
    draining = {("127.0.0.1", t.port) for t in wanted if t.draining_until == NOW + 10}
    assert active <= set(serving) <= active | draining
    assert all(not serving[a].draining for a in active)
    assert all(serving[a].draining for a in set(serving) - active)


# --- health ---------------------------------------------------------------------------


def view(status: str, check: str = "", code: int | None = None, admin: int = 0x04) -> ServerView:
    return ServerView(WEB, "t1", "127.0.0.1", 8001, admin, status, check, code)


@pytest.mark.parametrize(
    ("slot", "expected"),
    [
        (None, INITIAL_REGISTRATION),
        (view("MAINT", admin=0x05), INITIAL_REGISTRATION),
        (view("DOWN", "INI"), INITIAL_CHECKING),
        (view("DOWN 1/5", "L7OK", 200), INITIAL_CHECKING),
        (view("UP", "L7OK", 200), HEALTHY),
        (view("UP 1/2", "L7STS", 500), HEALTHY),
        (
            view("DOWN", "L7STS", 404),
            (
                "unhealthy",
                "Target.ResponseCodeMismatch",
                "Health checks failed with these codes: [404]",
            ),
        ),
        (view("DOWN", "L4TOUT"), ("unhealthy", "Target.Timeout", "Request timed out")),
        (view("DOWN", "L7TOUT"), ("unhealthy", "Target.Timeout", "Request timed out")),
        (view("DOWN", "L4CON"), ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")),
        (view("DOWN", "L7RSP"), ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")),
        (
            view("DOWN", "SOCKERR"),
            ("unhealthy", "Target.FailedHealthChecks", "Health checks failed"),
        ),
    ],
)
def test_haproxy_status_maps_to_elbv2_target_health(
    slot: ServerView | None, expected: tuple[str, str | None, str | None]
) -> None:
    assert target_health(target(CHECKED, 8001), CHECKED, True, slot, NOW) == expected


def test_an_unhealthy_target_passing_again_stays_unhealthy_until_it_rises() -> None:
    sick = target(
        CHECKED,
        8001,
        state=TargetState.UNHEALTHY,
        reason="Target.Timeout",
        description="Request timed out",
    )
    assert target_health(sick, CHECKED, True, view("DOWN 2/5", "L7OK", 200), NOW) == (
        "unhealthy",
        "Target.Timeout",
        "Request timed out",
    )


def test_groups_draining_and_unchecked_targets_override_the_slot() -> None:
    up = view("UP", "L7OK", 200)
    assert target_health(target(CHECKED, 8001), CHECKED, False, up, NOW) == NOT_IN_USE
    leaving = target(CHECKED, 8001, draining_until=NOW + 5)
    assert target_health(leaving, CHECKED, True, up, NOW) == DEREGISTERING
    assert target_health(target(UNCHECKED, 8001), UNCHECKED, True, up, NOW) == CHECKS_DISABLED


def test_only_health_that_changed_is_reported() -> None:
    fresh = target(CHECKED, 8001)
    settled = target(CHECKED, 8002, state="healthy", reason=None, description=None)
    unused = target(target_group("lonely"), 8003)
    snap = snapshot([LB], [FRONT, FRONT_RAW], [CHECKED, UNCHECKED], [], [fresh, settled, unused])
    snap.target_groups.append(target_group("lonely"))
    unused.target_group_arn = snap.target_groups[-1].arn
    current = slots(WEB, (1, 8001, "ready"), (2, 8002, "ready"))
    plan = plan_slots(LAYOUT, snap.targets, current, NOW)
    updates = compute_target_health(snap, LAYOUT, plan, current, NOW)
    assert updates == [
        (CHECKED.arn, "127.0.0.1", 8001, "healthy", None, None),
        (unused.target_group_arn, "127.0.0.1", 8003, *NOT_IN_USE),
    ]


# --- runtime API ----------------------------------------------------------------------

STATE_COLUMNS = (
    "be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"
    " srv_iweight srv_time_since_last_change srv_check_status srv_check_result"
    " srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id"
    " srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr"
    " srv_agent_addr srv_agent_port"
)
SERVERS_STATE = f"""1
# {STATE_COLUMNS}
3 be 1 t1 127.0.0.1 2 4 1 1 48 15 3 4 6 0 0 0 unassigned.invalid 18081 - 0 0 - - 0
3 be 2 t2 0.0.0.0 0 5 1 1 39 1 0 0 14 0 0 0 unassigned.invalid 1 - 0 0 - - 0
3 be 3 t3 127.0.0.1 2 12 1 1 21 15 3 4 6 0 0 0 unassigned.invalid 18083 - 0 0 - - 0
"""

STAT = """# pxname,svname,qcur,status,check_status,check_code,check_desc
fe,FRONTEND,,OPEN,,,
be,t1,0,UP,L7OK,200,Layer7 check passed
be,t2,0,MAINT,,,
be,t3,0,DOWN 1/2,* L7STS,503,"Layer7 wrong status, code 503"
be,BACKEND,0,UP,,,
"""


def test_servers_state_and_stat_are_parsed_per_slot() -> None:
    views = parse_servers_state(SERVERS_STATE)
    assert views[("be", "t1")].address == "127.0.0.1" and views[("be", "t1")].port == 18081
    assert views[("be", "t2")].address is None and views[("be", "t2")].in_maintenance
    assert views[("be", "t3")].draining and not views[("be", "t3")].in_maintenance
    stats = parse_stat(STAT)
    assert set(stats) == {("be", "t1"), ("be", "t2"), ("be", "t3")}
    assert stats[("be", "t3")].check_status == "L7STS"
    assert stats[("be", "t3")].check_code == 503
    assert stats[("be", "t3")].check_description == "Layer7 wrong status, code 503"


class FakeAdminSocket:
    """A unix socket answering like HAProxy's CLI in prompt mode."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.received: list[list[str]] = []
        self.dir = tempfile.mkdtemp(prefix="cli-", dir="/tmp")
        self.path = Path(self.dir) / "admin.sock"

    async def __aenter__(self) -> FakeAdminSocket:
        self.server = await asyncio.start_unix_server(self._serve, str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.path.unlink(missing_ok=True)
        Path(self.dir).rmdir()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen: list[str] = []
        self.received.append(seen)
        while line := (await reader.readline()).decode().rstrip("\n"):
            seen.append(line)
            if line == "quit":
                break
            if line == "prompt":
                writer.write(b"\n> ")
            else:
                answer = self.answers.get(line, "Unknown command.\n")
                writer.write(answer.encode() + b"\n> ")
            await writer.drain()
        writer.close()


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_client_pipelines_a_batch_on_one_connection(anyio_backend: str) -> None:
    answers = {
        "show servers state": SERVERS_STATE,
        "show stat -1 4 -1": STAT,
        "set server be/t2 state ready": "",
        "show info": "Name: HAProxy\nPid: 4242\n",
    }
    async with FakeAdminSocket(answers) as fake:
        api = RuntimeApi(fake.path)
        servers, state_text = await api.servers()
        assert servers[("be", "t3")].status == "DOWN 1/2"
        assert servers[("be", "t3")].port == 18083
        assert state_text.startswith("1\n# be_id")
        assert await api.execute(["set server be/t2 state ready", "bogus"]) == [
            "",
            "Unknown command.",
        ]
        assert await api.worker_pid() == 4242
    assert fake.received[0] == ["prompt", "show servers state", "show stat -1 4 -1", "quit"]
    assert len(fake.received) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_unreachable_socket_is_a_runtime_api_error(
    anyio_backend: str, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeApiError):
        await RuntimeApi(tmp_path / "none.sock").execute(["show info"])


def test_commands_cannot_smuggle_a_second_command() -> None:
    with pytest.raises(ValueError):
        asyncio.run(RuntimeApi(Path("/x")).execute(["show info; shutdown sessions"]))
