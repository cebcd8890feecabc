"""How agent reports fold into a task: forward only, idempotent, final once STOPPED."""

from __future__ import annotations

from typing import Any

import pytest

from openecs.domain.resources import Reservation
from openecs.domain.task import ContainerRun, Task
from openecs.domain.task_lifecycle import apply_report, request_stop, task_health

T0 = 1_764_115_200.0
TASK_ID = "0123456789abcdef0123456789abcdef"


def make_task(*names: str, essential: tuple[str, ...] | None = None, awsvpc: bool = False) -> Task:
    names = names or ("web",)
    essential = names if essential is None else essential
    return Task(
        task_id=TASK_ID,
        arn=f"arn:aws:ecs:us-east-1:000000000000:task/c1/{TASK_ID}",
        account_id="000000000000",
        region="us-east-1",
        cluster="c1",
        cluster_arn="arn:aws:ecs:us-east-1:000000000000:cluster/c1",
        task_definition_arn="arn:aws:ecs:us-east-1:000000000000:task-definition/web:1",
        family="web",
        launch_type="FARGATE",
        containers=[
            ContainerRun(name, f"arn:container/{name}", "app:1", essential=name in essential)
            for name in names
        ],
        reservation=Reservation(256, 512),
        created_at=T0,
        attachments=(
            [{"id": "a1", "type": "ElasticNetworkInterface", "status": "PRECREATED"}]
            if awsvpc
            else []
        ),
    )


def report(status: str, *containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"taskArn": "ignored", "lastStatus": status, "containers": list(containers), **fields}


def c(name: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "lastStatus": status, **fields}


def fold(task: Task, rep: dict[str, Any], now: float = T0, checked: set[str] | None = None) -> bool:
    return apply_report(task, rep, now=now, health_checked=checked or set())


# -- forward only ------------------------------------------------------------------


def test_a_report_moves_the_task_forward_and_bumps_its_version() -> None:
    task = make_task()
    assert fold(task, report("PENDING", c("web", "PENDING"), pullStartedAt=T0 + 1))
    assert (task.last_status, task.version, task.pull_started_at) == ("PENDING", 2, T0 + 1)


def test_a_late_report_never_moves_a_task_backwards() -> None:
    task = make_task()
    fold(task, report("RUNNING", c("web", "RUNNING", runtimeId="abc")))
    version = task.version
    assert not fold(task, report("PENDING", c("web", "PENDING")))
    assert task.last_status == "RUNNING"
    assert task.containers[0].last_status == "RUNNING"
    assert task.version == version


def test_a_container_never_goes_back_from_stopped() -> None:
    task = make_task("web", "side", essential=("web",))
    fold(task, report("RUNNING", c("web", "RUNNING"), c("side", "STOPPED", exitCode=3)))
    fold(task, report("RUNNING", c("web", "RUNNING"), c("side", "RUNNING")))
    side = task.containers[1]
    assert (side.last_status, side.exit_code) == ("STOPPED", 3)


def test_the_same_report_twice_changes_nothing_the_second_time() -> None:
    task = make_task(awsvpc=True)
    running = report(
        "RUNNING",
        c(
            "web",
            "RUNNING",
            runtimeId="abc",
            networkBindings=[{"containerPort": 80, "hostPort": 32768}],
            healthStatus="UNKNOWN",
        ),
        pullStartedAt=T0,
        pullStoppedAt=T0 + 1,
        startedAt=T0 + 2,
        eni={"privateIPv4Address": "172.26.0.2"},
    )
    assert fold(task, running, now=T0 + 3)
    before = task.to_doc()
    assert not fold(task, running, now=T0 + 9)
    assert task.to_doc() == before


def test_unknown_statuses_are_ignored() -> None:
    task = make_task()
    fold(task, report("PENDING", c("web", "PENDING")))
    assert not fold(task, report("EXPLODED", c("web", "EXPLODED")))
    assert task.last_status == "PENDING"
    assert task.containers[0].last_status == "PENDING"


def test_a_stopped_task_is_final() -> None:
    task = make_task()
    fold(task, report("STOPPED", c("web", "STOPPED", exitCode=0), executionStoppedAt=T0 + 5))
    before = task.to_doc()
    assert not fold(
        task, report("STOPPED", c("web", "STOPPED", exitCode=1, healthStatus="HEALTHY"))
    )
    assert task.to_doc() == before


# -- timestamps --------------------------------------------------------------------


def test_running_sets_started_at_from_the_agent_or_the_time_of_the_report() -> None:
    reported = make_task()
    fold(reported, report("RUNNING", c("web", "RUNNING"), startedAt=T0 + 2), now=T0 + 3)
    assert reported.started_at == reported.connectivity_at == T0 + 2
    unreported = make_task()
    fold(unreported, report("RUNNING", c("web", "RUNNING")), now=T0 + 3)
    assert unreported.started_at == T0 + 3


def test_a_task_whose_running_report_was_overtaken_still_gets_started_at() -> None:
    task = make_task()
    fold(task, report("PENDING", c("web", "PENDING")))
    stopped = report(
        "STOPPED",
        c("web", "STOPPED", exitCode=0),
        startedAt=T0 + 2,
        stoppingAt=T0 + 4,
        executionStoppedAt=T0 + 5,
        stopCode="EssentialContainerExited",
        stoppedReason="Essential container in task exited",
    )
    fold(task, stopped, now=T0 + 6)
    assert task.started_at == T0 + 2
    assert task.stopping_at == T0 + 4
    assert task.execution_stopped_at == T0 + 5
    assert task.stopped_at == T0 + 6


def test_pull_times_are_kept_from_the_first_report_that_has_them() -> None:
    task = make_task()
    fold(task, report("PENDING", pullStartedAt=T0 + 1))
    fold(task, report("ACTIVATING", pullStartedAt=T0 + 7, pullStoppedAt=T0 + 2))
    assert (task.pull_started_at, task.pull_stopped_at) == (T0 + 1, T0 + 2)


# -- stopping ------------------------------------------------------------------------


def test_request_stop_keeps_the_first_reason() -> None:
    task = make_task()
    assert request_stop(task, now=T0 + 1, code="UserInitiated", reason="first")
    assert not request_stop(task, now=T0 + 2, code="ServiceSchedulerInitiated", reason="second")
    assert (task.desired_status, task.stopping_at) == ("STOPPED", T0 + 1)
    assert (task.stop_code, task.stopped_reason) == ("UserInitiated", "first")


def test_an_agent_that_stops_a_task_on_its_own_says_why() -> None:
    task = make_task()
    fold(task, report("RUNNING", c("web", "RUNNING")))
    fold(
        task,
        report(
            "DEACTIVATING",
            c("web", "STOPPED", exitCode=5),
            stopCode="EssentialContainerExited",
            stoppedReason="Essential container in task exited",
        ),
        now=T0 + 10,
    )
    assert task.desired_status == "STOPPED"
    assert (task.stop_code, task.stopped_reason) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert task.stopping_at == T0 + 10


def test_a_user_stop_keeps_its_reason_when_the_agent_reports_stopping() -> None:
    task = make_task()
    fold(task, report("RUNNING", c("web", "RUNNING")))
    request_stop(task, now=T0 + 1, code="UserInitiated", reason="by hand")
    fold(task, report("STOPPED", c("web", "STOPPED"), stopCode="TaskFailedToStart"))
    assert (task.stop_code, task.stopped_reason) == ("UserInitiated", "by hand")


def test_the_eni_is_attached_with_the_tasks_address_and_deleted_when_it_stops() -> None:
    task = make_task(awsvpc=True)
    fold(task, report("RUNNING", eni={"privateIPv4Address": "172.26.0.2"}))
    [eni] = task.attachments
    details = {d["name"]: d["value"] for d in eni["details"]}
    assert eni["status"] == "ATTACHED"
    assert details["privateIPv4Address"] == "172.26.0.2"
    fold(task, report("STOPPED"))
    assert eni["status"] == "DELETED"


# -- health --------------------------------------------------------------------------


def runs(**health: str) -> list[ContainerRun]:
    """Containers by name=status; names starting with `opt` are not essential."""
    return [
        ContainerRun(
            name, f"arn:{name}", "app:1", essential=not name.startswith("opt"), health_status=s
        )
        for name, s in health.items()
    ]


@pytest.mark.parametrize(
    ("health", "checked", "expected"),
    [
        ({"web": "HEALTHY"}, {"web"}, "HEALTHY"),
        ({"web": "HEALTHY", "db": "HEALTHY"}, {"web", "db"}, "HEALTHY"),
        ({"web": "HEALTHY", "db": "UNKNOWN"}, {"web", "db"}, "UNKNOWN"),
        ({"web": "HEALTHY", "db": "UNHEALTHY"}, {"web", "db"}, "UNHEALTHY"),
        ({"web": "UNKNOWN", "db": "UNHEALTHY"}, {"web", "db"}, "UNHEALTHY"),
        # Containers without a health check do not count...
        ({"web": "HEALTHY", "db": "UNKNOWN"}, {"web"}, "HEALTHY"),
        # ...nor do non-essential ones.
        ({"web": "HEALTHY", "opt": "UNHEALTHY"}, {"web", "opt"}, "HEALTHY"),
        ({"opt": "HEALTHY"}, {"opt"}, "UNKNOWN"),
        ({"web": "UNKNOWN"}, set(), "UNKNOWN"),
    ],
)
def test_task_health_follows_its_essential_checked_containers(
    health: dict[str, str], checked: set[str], expected: str
) -> None:
    assert task_health(runs(**health), checked) == expected


def test_reports_carry_container_health_into_the_tasks_health() -> None:
    task = make_task("web", "db")
    checked = {"web", "db"}
    fold(task, report("RUNNING", c("web", "RUNNING"), c("db", "RUNNING")), checked=checked)
    assert task.health_status == "UNKNOWN"
    fold(
        task,
        report(
            "RUNNING",
            c("web", "RUNNING", healthStatus="HEALTHY"),
            c("db", "RUNNING", healthStatus="HEALTHY"),
        ),
        checked=checked,
    )
    assert task.health_status == "HEALTHY"
    fold(task, report("RUNNING", c("db", "RUNNING", healthStatus="UNHEALTHY")), checked=checked)
    assert task.health_status == "UNHEALTHY"
    assert [x.health_status for x in task.containers] == ["HEALTHY", "UNHEALTHY"]


def test_the_moment_a_task_first_turns_healthy_is_kept() -> None:
    task = make_task("web")
    checked = {"web"}
    fold(task, report("RUNNING", c("web", "RUNNING")), now=T0, checked=checked)
    assert task.healthy_at is None
    healthy = report("RUNNING", c("web", "RUNNING", healthStatus="HEALTHY"))
    fold(task, healthy, now=T0 + 12, checked=checked)
    assert task.healthy_at == T0 + 12
    fold(task, report("RUNNING", c("web", "RUNNING", healthStatus="UNHEALTHY")), checked=checked)
    fold(task, healthy, now=T0 + 40, checked=checked)
    assert task.healthy_at == T0 + 12, "the first time counts"
