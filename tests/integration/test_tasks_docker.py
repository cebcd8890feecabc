"""Tasks end to end: boto3 → a real `openecs up` (server + FARGATE agent) and real
`openecs agent` processes → the real Docker Engine, with the local busybox image.

One `openecs up` serves the whole module (FARGATE tasks, and EC2 agents that
register into clusters of their own); the kill -9 of a server gets a server
of its own. Everything a test starts carries the session's Docker labels or
its agent's label, and is removed when the module ends. Waits poll with
deadlines; nothing sleeps to synchronise.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from botocore.exceptions import ClientError

from openecs.agent.task_cgroups import TaskCgroups
from tests.integration.conftest import SESSION_LABEL
from tests.support.server import AgentProcess, ServerProcess, free_port
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("tasks-docker")]

T = TypeVar("T")

SESSION = uuid.uuid4().hex[:12]
LABELS = {"openecs.test": "1", SESSION_LABEL: SESSION}
AGENT_TIMEOUT = 6.0
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}
CGROUP_ROOT = Path("/sys/fs/cgroup")

# Shell snippets for busybox containers. `trap ... TERM` + `wait` makes PID 1 react
# to SIGTERM at once (a PID 1 without a handler ignores it).
IDLE = "trap 'exit 0' TERM; sleep 300 & wait"


def serve(port: int = 8080, prepare: str = "") -> str:
    """Serve /www over HTTP on `port` after running `prepare`; stop on SIGTERM."""
    return (
        f"mkdir -p /www && echo ok > /www/index.html && {prepare or 'true'} && "
        f"(httpd -f -p {port} -h /www & trap 'kill $!; exit 0' TERM; wait)"
    )


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# -- polling and Docker --------------------------------------------------------------


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr}")
    return done.stdout


def inspect(container: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("inspect", container))
    return data[0]


def containers_of(task_arn: str) -> list[dict[str, Any]]:
    """Every Docker container (running or not) that belongs to the task."""
    ids = docker("ps", "-aq", "--filter", f"label=com.amazonaws.ecs.task-arn={task_arn}").split()
    return [inspect(i) for i in ids]


def logs(container: str) -> str:
    done = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
    return done.stdout + done.stderr


def http_get(port: int, path: str = "/", timeout: float = 15.0) -> str:
    """GET a published port on 127.0.0.1, waiting for the server inside to listen."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2.0)
            if response.status_code == 200:
                return response.text
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing served on 127.0.0.1:{port}{path}")
        time.sleep(0.1)


def task_id(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def by_name(task: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in task["containers"]}


def resources(instance: dict[str, Any], kind: str = "remainingResources") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in instance[kind]:
        out[r["name"]] = r.get("integerValue", r.get("stringSetValue"))
    return out


# -- the module's OpenECS --------------------------------------------------------------


@dataclass
class Stack:
    """`openecs up` plus what the tests started on it."""

    up: ServerProcess
    ecs: Any
    tmp: Path
    cluster: str = ""
    agents: list[AgentProcess] = field(default_factory=list)
    ec2_agents: dict[str, tuple[AgentProcess, str, Any]] = field(default_factory=dict)
    servers: dict[str, ServerProcess] = field(default_factory=dict)

    # -- task definitions ----------------------------------------------------------

    def _containers(self, containers: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
        return [
            {"image": "openecs-test/busybox:latest", "dockerLabels": LABELS, **c}
            for c in containers
        ]

    def fargate_td(
        self, *containers: dict[str, Any], cpu: str = "256", memory: str = "512", ecs: Any = None
    ) -> str:
        td = (ecs or self.ecs).register_task_definition(
            family=f"fg-{uuid.uuid4().hex[:10]}",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=cpu,
            memory=memory,
            containerDefinitions=self._containers(containers),
        )
        return str(td["taskDefinition"]["taskDefinitionArn"])

    def ec2_td(
        self, *containers: dict[str, Any], network_mode: str = "bridge", ecs: Any = None
    ) -> str:
        td = (ecs or self.ecs).register_task_definition(
            family=f"ec2-{uuid.uuid4().hex[:10]}",
            networkMode=network_mode,
            requiresCompatibilities=["EC2"],
            containerDefinitions=self._containers(containers),
        )
        return str(td["taskDefinition"]["taskDefinitionArn"])

    # -- tasks ---------------------------------------------------------------------

    def run(
        self, td: str, *, cluster: str | None = None, count: int = 1, ecs: Any = None, **kw: Any
    ) -> dict[str, Any]:
        result: dict[str, Any] = (ecs or self.ecs).run_task(
            cluster=cluster or self.cluster, taskDefinition=td, count=count, **kw
        )
        return result

    def run_fargate(self, td: str, count: int = 1) -> list[str]:
        result = self.run(td, count=count, launchType="FARGATE", networkConfiguration=SUBNETS)
        assert result["failures"] == []
        return [t["taskArn"] for t in result["tasks"]]

    def run_ec2(self, td: str, cluster: str, ecs: Any = None) -> str:
        result = self.run(td, cluster=cluster, launchType="EC2", ecs=ecs)
        assert result["failures"] == [], result["failures"]
        [task] = result["tasks"]
        return str(task["taskArn"])

    def describe(self, arns: list[str], cluster: str | None = None, ecs: Any = None) -> list[Any]:
        found: list[Any] = (ecs or self.ecs).describe_tasks(
            cluster=cluster or self.cluster, tasks=arns
        )["tasks"]
        order = {arn: i for i, arn in enumerate(arns)}
        return sorted(found, key=lambda t: order[t["taskArn"]])

    def one(self, arn: str, cluster: str | None = None, ecs: Any = None) -> dict[str, Any]:
        [found] = self.describe([arn], cluster, ecs)
        return dict(found)

    def waiter(
        self, name: str, arns: list[str], cluster: str | None = None, ecs: Any = None
    ) -> list[Any]:
        """boto3's own waiter (`tasks_running`, `tasks_stopped`), then the tasks."""
        client = ecs or self.ecs
        client.get_waiter(name).wait(
            cluster=cluster or self.cluster,
            tasks=arns,
            WaiterConfig={"Delay": 1, "MaxAttempts": 90},
        )
        return self.describe(arns, cluster, client)

    def wait(
        self, waiter: str, arns: list[str], cluster: str | None = None, ecs: Any = None
    ) -> list[Any]:
        """What boto3's `tasks_running` / `tasks_stopped` wait for, polled faster."""
        wanted = {"tasks_running": "RUNNING", "tasks_stopped": "STOPPED"}[waiter]

        def check() -> list[Any] | None:
            found = self.describe(arns, cluster, ecs)
            statuses = [t["lastStatus"] for t in found]
            if wanted == "RUNNING" and "STOPPED" in statuses:
                reasons = [t.get("stoppedReason") for t in found]
                raise AssertionError(f"a task stopped while waiting for RUNNING: {reasons}")
            return found if len(found) == len(arns) and set(statuses) == {wanted} else None

        return until(check, f"{arns} {wanted}", timeout=90)

    def until_task(
        self,
        arn: str,
        ready: Callable[[dict[str, Any]], bool],
        what: str,
        cluster: str | None = None,
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.one(arn, cluster)
            return found if ready(found) else None

        return until(check, what, timeout)

    def stop(self, arns: list[str], cluster: str | None = None, ecs: Any = None) -> list[Any]:
        client = ecs or self.ecs
        for arn in arns:
            client.stop_task(cluster=cluster or self.cluster, task=arn, reason="test done")
        return self.wait("tasks_stopped", arns, cluster, client)

    # -- EC2 capacity -------------------------------------------------------------------

    def start_ec2_agent(self, name: str, server: ServerProcess | None = None) -> None:
        """Start `openecs agent --capacity ec2` (2048 CPU units, 1024 MiB) in a cluster
        of its own, without waiting: agents start together, tests wait for theirs."""
        server = server or self.up
        client = server.client("ecs")
        cluster = f"ec2-{name}-{uuid.uuid4().hex[:8]}"
        client.create_cluster(clusterName=cluster)
        agent = AgentProcess(
            endpoint=server.endpoint,
            data_dir=self.tmp / f"agent-{cluster}",
            cluster=cluster,
            extra_args=[
                *("--cpu-units", "2048", "--memory-mib", "1024"),
                # Poll often enough for the short --agent-timeout of the module's server.
                *("--poll-wait", "2", "--cleanup-delay", "600"),
            ],
        ).start()
        self.agents.append(agent)
        self.ec2_agents[name] = (agent, cluster, client)

    def ec2_agent(self, name: str) -> tuple[AgentProcess, str]:
        """The agent started as `name`, once registered, and its cluster."""
        agent, cluster, client = self.ec2_agents[name]
        # Agents start with the module; on a busy machine a start-up takes a while.
        try:
            self.instance(cluster, client, lambda i: i["agentConnected"], name, timeout=240)
        except AssertionError as err:
            raise AssertionError(f"{err}; agent log:\n{agent.log_tail()}") from None
        return agent, cluster

    def instance(
        self,
        cluster: str,
        ecs: Any = None,
        ready: Callable[[dict[str, Any]], bool] = lambda i: True,
        what: str = "the container instance",
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        client = ecs or self.ecs

        def check() -> dict[str, Any] | None:
            arns = client.list_container_instances(cluster=cluster)["containerInstanceArns"]
            if not arns:
                return None
            [found] = client.describe_container_instances(cluster=cluster, containerInstances=arns)[
                "containerInstances"
            ]
            return dict(found) if ready(found) else None

        return until(check, what, timeout)

    # -- clean-up ---------------------------------------------------------------------

    def close(self) -> None:
        owners = [a.identity.get("agent_id") for a in self.agents]
        owners.append(_identity(self.up.data_dir / "fargate-agent").get("agent_id"))
        for agent in self.agents:
            agent.stop()
        for server in self.servers.values():
            server.stop()
        self.up.stop()
        labels = [f"openecs.agent={owner}" for owner in owners if owner]
        for label in [*labels, f"{SESSION_LABEL}={SESSION}"]:
            ids = docker("ps", "-aq", "--filter", f"label={label}").split()
            if ids:
                docker("rm", "-f", *ids)
        for owner in filter(None, owners):
            TaskCgroups(CGROUP_ROOT, parent=f"openecs/{owner}").sweep()
            for hierarchy in CGROUP_ROOT.iterdir():
                with contextlib.suppress(OSError):
                    (hierarchy / "openecs" / owner).rmdir()


def _identity(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "agent.json"
    with contextlib.suppress(FileNotFoundError, ValueError):
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {}


@pytest.fixture(scope="module")
def stack(busybox_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("tasks-docker")
    up = ServerProcess(
        tmp / "up",
        command="up",
        extra_args=["--agent-timeout", str(AGENT_TIMEOUT), "--log-level", "INFO"],
    )
    # The server that test_a_server_killed... kills: a plain `openecs server` of its own.
    doomed = ServerProcess(tmp / "kill9-server", extra_args=["--agent-timeout", "30"])
    s = Stack(up=up, ecs=None, tmp=tmp, servers={"doomed": doomed})
    try:
        with ThreadPoolExecutor(2) as starting:  # start-ups overlap on a busy machine
            for started in [starting.submit(p.start, 120) for p in (up, doomed)]:
                started.result()
        s.ecs = up.client("ecs")
        s.cluster = f"fg-{uuid.uuid4().hex[:10]}"
        s.ecs.create_cluster(clusterName=s.cluster)
        for name in ("shared", "drain", "deregister", "readopt"):
            s.start_ec2_agent(name)
        s.start_ec2_agent("doomed", doomed)
        until(
            lambda: _identity(up.data_dir / "fargate-agent").get("container_instance_arn"),
            "the FARGATE agent of openecs up to register",
        )
        yield s
    finally:
        s.close()


@pytest.fixture(scope="module")
def ec2(stack: Stack) -> tuple[AgentProcess, str]:
    """One EC2 agent (2048 CPU units, 1024 MiB) in a cluster of its own, for the module."""
    return stack.ec2_agent("shared")


# -- FARGATE (awsvpc) tasks on openecs up ----------------------------------------------


def test_fargate_tasks_run_and_stop_with_ordered_timestamps(stack: Stack) -> None:
    td = stack.fargate_td({"name": "web", "command": sh(serve()), "stopTimeout": 5})
    [arn] = stack.run_fargate(td)
    [task] = stack.waiter("tasks_running", [arn])
    assert (task["lastStatus"], task["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert task["launchType"] == "FARGATE"
    assert task["connectivity"] == "CONNECTED"
    assert task["createdAt"] <= task["pullStartedAt"] <= task["pullStoppedAt"]
    assert task["pullStoppedAt"] <= task["startedAt"]
    web = by_name(task)["web"]
    assert web["lastStatus"] == "RUNNING"
    names = {
        c["Config"]["Labels"]["com.amazonaws.ecs.container-name"]: c["Id"]
        for c in containers_of(arn)
    }
    assert names["web"] == web["runtimeId"]
    [eni] = task["attachments"]
    details = {d["name"]: d["value"] for d in eni["details"]}
    assert eni["status"] == "ATTACHED"
    assert details["privateIPv4Address"] == web["networkInterfaces"][0]["privateIpv4Address"]

    stack.ecs.stop_task(cluster=stack.cluster, task=arn, reason="test done")
    [stopped] = stack.waiter("tasks_stopped", [arn])
    assert stopped["lastStatus"] == "STOPPED"
    assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "test done")
    assert stopped["startedAt"] <= stopped["stoppingAt"] <= stopped["executionStoppedAt"]
    assert stopped["executionStoppedAt"] <= stopped["stoppedAt"]
    assert by_name(stopped)["web"]["lastStatus"] == "STOPPED"
    assert by_name(stopped)["web"]["exitCode"] == 0  # it handled SIGTERM
    assert stopped["attachments"][0]["status"] == "DELETED"
    stopped_arns = stack.ecs.list_tasks(cluster=stack.cluster, desiredStatus="STOPPED")
    assert arn in stopped_arns["taskArns"]


def test_two_awsvpc_tasks_serve_the_same_container_port_on_their_own_host_ports(
    stack: Stack,
) -> None:
    # Each task serves its metadata URI, which names the task.
    prepare = 'echo "$ECS_CONTAINER_METADATA_URI_V4" > /www/index.html'
    td = stack.fargate_td(
        {
            "name": "web",
            "command": sh(serve(8080, prepare)),
            "portMappings": [{"containerPort": 8080}],
        }
    )
    arns = stack.run_fargate(td, count=2)
    tasks = stack.wait("tasks_running", arns)
    ports = set()
    for task in tasks:
        [binding] = by_name(task)["web"]["networkBindings"]
        assert (binding["bindIP"], binding["containerPort"]) == ("127.0.0.1", 8080)
        assert task_id(task["taskArn"]) in http_get(binding["hostPort"])
        ports.add(binding["hostPort"])
    assert len(ports) == 2
    stack.stop(arns)


def test_the_metadata_endpoint_v4_answers_inside_the_container(stack: Stack) -> None:
    fetch = " && ".join(
        f"wget -qO /www/{name}.json $ECS_CONTAINER_METADATA_URI_V4{path}"
        for name, path in (("c", ""), ("t", "/task"), ("s", "/stats"), ("ts", "/task/stats"))
    )
    td = stack.fargate_td(
        {
            "name": "web",
            "command": sh(serve(8080, fetch)),
            "portMappings": [{"containerPort": 8080}],
        }
    )
    [arn] = stack.run_fargate(td)
    [task] = stack.wait("tasks_running", [arn])
    web = by_name(task)["web"]
    port = web["networkBindings"][0]["hostPort"]

    def read(name: str) -> Any:
        return json.loads(http_get(port, f"/{name}.json"))

    me = read("c")
    assert me["DockerId"] == web["runtimeId"]
    assert me["Name"] == "web"
    assert me["ContainerARN"] == web["containerArn"]
    assert me["Networks"][0]["NetworkMode"] == "awsvpc"
    assert me["Networks"][0]["IPv4Addresses"] == [web["networkInterfaces"][0]["privateIpv4Address"]]
    whole = read("t")
    assert whole["TaskARN"] == arn
    assert whole["Cluster"] == task["clusterArn"]
    assert whole["Limits"] == {"CPU": 0.25, "Memory": 512}
    assert whole["LaunchType"] == "FARGATE"
    assert [c["DockerId"] for c in whole["Containers"]] == [web["runtimeId"]]
    stats = read("s")
    assert stats["id"] == web["runtimeId"]
    assert stats["memory_stats"]["limit"] > 0
    task_stats = read("ts")
    assert list(task_stats) == [web["runtimeId"]]
    stack.stop([arn])


def test_task_cpu_and_memory_are_the_limits_of_a_task_cgroup(stack: Stack) -> None:
    agent_id = _identity(stack.up.data_dir / "fargate-agent")["agent_id"]
    parent = f"openecs/{agent_id}"
    cgroups = TaskCgroups(CGROUP_ROOT, parent=parent)
    probe = (
        "cat /proc/self/cgroup; "
        "grep hierarchical_memory_limit /sys/fs/cgroup/memory/memory.stat 2>/dev/null; "
        "echo probed; " + IDLE
    )
    capped = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null;"
        " echo nofile=$(ulimit -n); echo probed; " + IDLE
    )
    td = stack.fargate_td(
        {"name": "probe", "command": sh(probe)},
        {
            "name": "capped",
            "memory": 64,
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
            "command": sh(capped),
        },
        cpu="256",
        memory="512",
    )
    [arn] = stack.run_fargate(td)
    [task] = stack.wait("tasks_running", [arn])
    tid = task_id(arn)
    probe_id = by_name(task)["probe"]["runtimeId"]
    capped_id = by_name(task)["capped"]["runtimeId"]
    # A container's own limits apply inside the task's.
    own = until(lambda: next((t for t in [logs(capped_id)] if "probed" in t), None), "capped")
    assert str(64 << 20) in own.split()
    assert "nofile=1024" in own
    assert inspect(probe_id)["HostConfig"]["CgroupParent"] == f"/{parent}/{tid}"
    if cgroups.version == "v1":
        memory_dir = CGROUP_ROOT / "memory" / parent / tid
        cpu_dir = CGROUP_ROOT / "cpu" / parent / tid
        assert (memory_dir / "memory.limit_in_bytes").read_text().strip() == str(512 << 20)
        assert (cpu_dir / "cpu.cfs_quota_us").read_text().strip() == "25000"
        assert (cpu_dir / "cpu.cfs_period_us").read_text().strip() == "100000"
        # Inside, the container sits in the task's cgroup and sees the task's limit.
        out = until(lambda: next((t for t in [logs(probe_id)] if "probed" in t), None), "probe")
        assert f"memory:/{parent}/{tid}/{probe_id}" in out
        assert f"hierarchical_memory_limit {512 << 20}" in out
    else:
        task_dir = CGROUP_ROOT / parent / tid
        assert (task_dir / "memory.max").read_text().strip() == str(512 << 20)
        assert (task_dir / "cpu.max").read_text().strip() == "25000 100000"

    # The limit holds: a task that wants more memory than its size is OOM-killed.
    hog_td = stack.fargate_td({"name": "hog", "command": ["tail", "/dev/zero"]})
    [hog] = stack.run_fargate(hog_td)
    [hogged] = stack.wait("tasks_stopped", [hog])
    assert hogged["stopCode"] == "EssentialContainerExited"
    assert by_name(hogged)["hog"]["exitCode"] == 137
    assert by_name(hogged)["hog"]["reason"] == (
        "OutOfMemoryError: Container killed due to memory usage"
    )

    stack.stop([arn])
    until(lambda: not cgroups.exists(tid), "the task cgroup to be removed")
    until(lambda: not cgroups.exists(task_id(hog)), "the hog's task cgroup to be removed")


def test_stop_task_sends_sigterm_then_sigkill_after_the_stop_timeout(stack: Stack) -> None:
    polite = "trap 'echo got-term; exit 0' TERM; sleep 300 & wait"
    td = stack.fargate_td(
        {"name": "polite", "command": sh(polite)},
        # A PID 1 without a SIGTERM handler ignores it: only SIGKILL ends it.
        {"name": "stubborn", "command": ["sleep", "300"], "stopTimeout": 3},
    )
    [arn] = stack.run_fargate(td)
    [task] = stack.wait("tasks_running", [arn])
    ids = {name: c["runtimeId"] for name, c in by_name(task).items()}
    [stopped] = stack.stop([arn])
    containers = by_name(stopped)
    assert containers["polite"]["exitCode"] == 0
    assert "got-term" in logs(ids["polite"])
    assert containers["stubborn"]["exitCode"] == 137
    assert stopped["executionStoppedAt"] - stopped["stoppingAt"] >= timedelta(seconds=2.5)


def test_exit_codes_and_essential_containers(stack: Stack) -> None:
    keeps_running = stack.fargate_td(
        {"name": "main", "command": sh(IDLE)},
        {"name": "side", "essential": False, "command": sh("exit 3")},
    )
    ends = stack.fargate_td(
        {"name": "main", "command": sh("sleep 1; exit 5")},
        {"name": "side", "essential": False, "command": sh(IDLE)},
    )
    [kept] = stack.run_fargate(keeps_running)
    [ended] = stack.run_fargate(ends)
    stack.until_task(
        kept, lambda t: by_name(t)["side"]["lastStatus"] == "STOPPED", "the side container exit"
    )
    [gone] = stack.wait("tasks_stopped", [ended])
    assert gone["stopCode"] == "EssentialContainerExited"
    assert gone["stoppedReason"] == "Essential container in task exited"
    assert by_name(gone)["main"]["exitCode"] == 5
    assert by_name(gone)["side"]["lastStatus"] == "STOPPED"
    # Meanwhile the task whose non-essential container exited is still running.
    still = stack.one(kept)
    assert (still["lastStatus"], still["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert by_name(still)["side"]["exitCode"] == 3
    assert by_name(still)["main"]["lastStatus"] == "RUNNING"
    stack.stop([kept])


def docker_time(text: str) -> datetime:
    """Docker's RFC 3339 times: nanoseconds (trailing zeros dropped), `Z` or an offset."""
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    assert match is not None, text
    whole, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{whole}.{micros}{'+00:00' if zone == 'Z' else zone}")


def _started(container: dict[str, Any]) -> datetime:
    return docker_time(container["State"]["StartedAt"])


def test_depends_on_orders_the_start_and_a_failed_success_condition_stops_the_task(
    stack: Stack,
) -> None:
    ordered = stack.fargate_td(
        {"name": "init", "essential": False, "command": sh("sleep 1; exit 0")},
        {
            "name": "app",
            "command": sh(IDLE),
            "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
        },
        {
            "name": "sidecar",
            "command": sh(IDLE),
            "dependsOn": [{"containerName": "app", "condition": "START"}],
        },
    )
    failing = stack.fargate_td(
        {"name": "init", "essential": False, "command": sh("exit 4")},
        {
            "name": "app",
            "command": sh(IDLE),
            "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
        },
    )
    [good] = stack.run_fargate(ordered)
    [bad] = stack.run_fargate(failing)
    [task] = stack.wait("tasks_running", [good])
    docker_of = {name: inspect(c["runtimeId"]) for name, c in by_name(task).items()}
    assert docker_of["init"]["State"]["ExitCode"] == 0
    assert docker_time(docker_of["init"]["State"]["FinishedAt"]) <= _started(docker_of["app"])
    assert _started(docker_of["app"]) <= _started(docker_of["sidecar"])

    [failed] = stack.wait("tasks_stopped", [bad])
    assert failed["stopCode"] == "TaskFailedToStart"
    assert "init exited with code 4" in failed["stoppedReason"]
    assert by_name(failed)["app"].get("runtimeId") is None
    names = {c["Config"]["Labels"]["com.amazonaws.ecs.container-name"] for c in containers_of(bad)}
    assert "app" not in names
    stack.stop([good])


HEALTH_OK = {"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "retries": 1}
HEALTH_BAD = {"command": ["CMD-SHELL", "exit 1"], "interval": 5, "retries": 1}


def test_health_checks_give_container_and_task_health(stack: Stack) -> None:
    healthy = stack.fargate_td(
        {"name": "web", "command": sh("touch /tmp/ready; " + IDLE), "healthCheck": HEALTH_OK},
        {
            "name": "app",
            "command": sh(IDLE),
            "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}],
        },
    )
    unhealthy = stack.fargate_td(
        {"name": "web", "command": sh(IDLE), "healthCheck": HEALTH_BAD},
    )
    waits_for_unhealthy = stack.fargate_td(
        {"name": "web", "command": sh(IDLE), "healthCheck": HEALTH_BAD},
        {
            "name": "app",
            "command": sh(IDLE),
            "dependsOn": [{"containerName": "web", "condition": "HEALTHY"}],
        },
    )
    [good] = stack.run_fargate(healthy)
    [sick] = stack.run_fargate(unhealthy)
    [never] = stack.run_fargate(waits_for_unhealthy)

    task = stack.until_task(
        good,
        lambda t: t["healthStatus"] == "HEALTHY" and t["lastStatus"] == "RUNNING",
        "a healthy running task",
    )
    assert by_name(task)["web"]["healthStatus"] == "HEALTHY"
    assert by_name(task)["app"]["lastStatus"] == "RUNNING"
    web = inspect(by_name(task)["web"]["runtimeId"])
    first_check_done = docker_time(web["State"]["Health"]["Log"][0]["End"])
    assert first_check_done <= _started(inspect(by_name(task)["app"]["runtimeId"]))

    ill = stack.until_task(sick, lambda t: t["healthStatus"] == "UNHEALTHY", "an unhealthy task")
    assert by_name(ill)["web"]["healthStatus"] == "UNHEALTHY"
    assert (ill["lastStatus"], ill["desiredStatus"]) == ("RUNNING", "RUNNING")

    [failed] = stack.wait("tasks_stopped", [never])
    assert failed["stopCode"] == "TaskFailedToStart"
    assert "web is unhealthy" in failed["stoppedReason"]
    assert by_name(failed)["app"].get("runtimeId") is None
    stack.stop([good, sick])


def test_an_image_that_cannot_be_pulled_fails_the_task_with_its_reason(stack: Stack) -> None:
    # A registry on 127.0.0.1 that is not there: the pull fails at once, offline.
    td = stack.fargate_td({"name": "web", "image": f"127.0.0.1:{free_port()}/missing:1"})
    [arn] = stack.run_fargate(td)
    [task] = stack.wait("tasks_stopped", [arn])
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError:")
    assert by_name(task)["web"]["reason"] == task["stoppedReason"]
    assert task.get("startedAt") is None
    # No app container was ever created; the task's network (set up beside the pull, as
    # Fargate attaches the ENI first) is stopped, its container removed after the delay.
    left = containers_of(arn)
    names = [c["Config"]["Labels"]["com.amazonaws.ecs.container-name"] for c in left]
    assert names in ([], ["~internal~ecs~pause"])
    assert not any(c["State"]["Running"] for c in left)


# -- EC2 capacity: openecs agent --capacity ec2 ------------------------------------------


def test_an_ec2_agent_registers_and_its_remaining_resources_fall_and_return(
    stack: Stack, ec2: tuple[AgentProcess, str]
) -> None:
    agent, cluster = ec2
    instance = stack.instance(cluster)
    assert instance["containerInstanceArn"] == agent.identity["container_instance_arn"]
    assert instance["ec2InstanceId"] == agent.identity["instance_id"]
    assert (instance["status"], instance["agentConnected"]) == ("ACTIVE", True)
    registered = resources(instance, "registeredResources")
    assert (registered["CPU"], registered["MEMORY"]) == (2048, 1024)
    names = {a["name"] for a in instance["attributes"]}
    assert {"ecs.capability.task-eni", "ecs.availability-zone"} <= names

    before = resources(instance)
    port = free_port()
    td = stack.ec2_td(
        {
            "name": "web",
            "cpu": 512,
            "memory": 256,
            "command": sh(serve(8080)),
            "portMappings": [{"containerPort": 8080, "hostPort": port}],
        }
    )
    arn = stack.run_ec2(td, cluster)
    stack.wait("tasks_running", [arn], cluster)
    during = stack.instance(cluster)
    held = resources(during)
    assert (held["CPU"], held["MEMORY"]) == (before["CPU"] - 512, before["MEMORY"] - 256)
    assert str(port) in held["PORTS"]
    assert during["runningTasksCount"] == instance["runningTasksCount"] + 1
    stack.stop([arn], cluster)
    after = resources(stack.instance(cluster))
    assert (after["CPU"], after["MEMORY"]) == (before["CPU"], before["MEMORY"])
    assert str(port) not in after["PORTS"]


def test_run_task_that_does_not_fit_fails_with_the_resource_it_lacks(
    stack: Stack, ec2: tuple[AgentProcess, str]
) -> None:
    _, cluster = ec2
    too_much_memory = stack.ec2_td({"name": "big", "memory": 4096, "command": sh(IDLE)})
    result = stack.run(too_much_memory, cluster=cluster, launchType="EC2")
    assert result["tasks"] == []
    assert [f["reason"] for f in result["failures"]] == ["RESOURCE:MEMORY"]
    too_much_cpu = stack.ec2_td({"name": "big", "cpu": 4096, "memory": 64, "command": sh(IDLE)})
    result = stack.run(too_much_cpu, cluster=cluster, launchType="EC2")
    assert [f["reason"] for f in result["failures"]] == ["RESOURCE:CPU"]


def test_start_task_runs_on_the_named_instance_or_says_why_not(
    stack: Stack, ec2: tuple[AgentProcess, str]
) -> None:
    agent, cluster = ec2
    instance = agent.identity["container_instance_arn"]
    td = stack.ec2_td({"name": "idle", "memory": 32, "command": sh(IDLE)})
    started = stack.ecs.start_task(
        cluster=cluster, taskDefinition=td, containerInstances=[instance], startedBy="tests"
    )
    assert started["failures"] == []
    [task] = started["tasks"]
    [running] = stack.wait("tasks_running", [task["taskArn"]], cluster)
    assert running["containerInstanceArn"] == instance
    assert (running["launchType"], running["startedBy"]) == ("EC2", "tests")
    too_big = stack.ec2_td({"name": "big", "memory": 4096, "command": sh(IDLE)})
    refused = stack.ecs.start_task(
        cluster=cluster, taskDefinition=too_big, containerInstances=[instance]
    )
    assert refused["tasks"] == []
    assert [f["reason"] for f in refused["failures"]] == ["RESOURCE:MEMORY"]
    stack.stop([task["taskArn"]], cluster)


def test_bridge_publishes_dynamic_and_static_ports_on_127_0_0_1(
    stack: Stack, ec2: tuple[AgentProcess, str]
) -> None:
    _, cluster = ec2
    static = free_port()
    script = "mkdir -p /www2 && echo bridged > /www2/index.html && httpd -p 8081 -h /www2 && "
    td = stack.ec2_td(
        {
            "name": "web",
            "memory": 64,
            "command": sh(script + serve(8080)),
            "portMappings": [
                {"containerPort": 8080},
                {"containerPort": 8081, "hostPort": static},
            ],
        }
    )
    arn = stack.run_ec2(td, cluster)
    [task] = stack.wait("tasks_running", [arn], cluster)
    assert task["containerInstanceArn"] == ec2[0].identity["container_instance_arn"]
    bindings = {b["containerPort"]: b for b in by_name(task)["web"]["networkBindings"]}
    assert {b["bindIP"] for b in bindings.values()} == {"127.0.0.1"}
    assert bindings[8081]["hostPort"] == static
    assert bindings[8080]["hostPort"] not in (0, 8080, static)
    assert http_get(bindings[8080]["hostPort"]).strip() == "ok"
    assert http_get(static).strip() == "bridged"
    stack.stop([arn], cluster)


def test_host_network_mode_serves_on_the_hosts_own_port(
    stack: Stack, ec2: tuple[AgentProcess, str]
) -> None:
    _, cluster = ec2
    port = free_port()
    td = stack.ec2_td(
        {
            "name": "web",
            "memory": 64,
            "command": sh(serve(port).replace(f"-p {port}", f"-p 127.0.0.1:{port}")),
            "portMappings": [{"containerPort": port, "hostPort": port}],
        },
        network_mode="host",
    )
    arn = stack.run_ec2(td, cluster)
    [task] = stack.wait("tasks_running", [arn], cluster)
    [binding] = by_name(task)["web"]["networkBindings"]
    assert (binding["containerPort"], binding["hostPort"]) == (port, port)
    assert inspect(by_name(task)["web"]["runtimeId"])["HostConfig"]["NetworkMode"] == "host"
    assert http_get(port).strip() == "ok"
    stack.stop([arn], cluster)


def test_a_draining_instance_gets_no_new_tasks_until_it_is_active_again(stack: Stack) -> None:
    agent, cluster = stack.ec2_agent("drain")
    td = stack.ec2_td({"name": "idle", "memory": 32, "command": sh(IDLE)})
    first = stack.run_ec2(td, cluster)
    stack.wait("tasks_running", [first], cluster)
    arn = agent.identity["container_instance_arn"]
    drained = stack.ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[arn], status="DRAINING"
    )["containerInstances"]
    assert [i["status"] for i in drained] == ["DRAINING"]
    refused = stack.run(td, cluster=cluster, launchType="EC2")
    assert refused["tasks"] == []
    assert len(refused["failures"]) == 1
    # Draining moves no standalone task.
    assert stack.one(first, cluster)["lastStatus"] == "RUNNING"

    stack.ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[arn], status="ACTIVE"
    )
    second = stack.run_ec2(td, cluster)
    stack.wait("tasks_running", [first, second], cluster)
    stack.stop([first, second], cluster)


def test_deregistering_an_instance_stops_its_tasks_and_its_agent(stack: Stack) -> None:
    agent, cluster = stack.ec2_agent("deregister")
    td = stack.ec2_td({"name": "idle", "memory": 32, "command": sh(IDLE)})
    arn = stack.run_ec2(td, cluster)
    stack.wait("tasks_running", [arn], cluster)
    instance = agent.identity["container_instance_arn"]
    with pytest.raises(ClientError) as refused:
        stack.ecs.deregister_container_instance(cluster=cluster, containerInstance=instance)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterException"

    gone = stack.ecs.deregister_container_instance(
        cluster=cluster, containerInstance=instance, force=True
    )["containerInstance"]
    assert gone["containerInstanceArn"] == instance
    [stopped] = stack.wait("tasks_stopped", [arn], cluster)
    assert stopped["stoppedReason"]
    assert all(not c["State"]["Running"] for c in containers_of(arn))
    assert stack.ecs.list_container_instances(cluster=cluster)["containerInstanceArns"] == []
    [inactive] = stack.ecs.describe_container_instances(
        cluster=cluster, containerInstances=[instance]
    )["containerInstances"]
    assert inactive["status"] == "INACTIVE"
    proc = agent.proc
    assert proc is not None
    until(lambda: proc.poll() is not None, "the agent to exit")
    assert proc.returncode == 0, agent.log_tail()


# -- kill -9 ------------------------------------------------------------------------------


def test_an_agent_killed_and_restarted_readopts_its_containers(stack: Stack) -> None:
    agent, cluster = stack.ec2_agent("readopt")
    td = stack.ec2_td({"name": "idle", "memory": 32, "command": sh(IDLE)})
    kept = stack.run_ec2(td, cluster)
    lost = stack.run_ec2(td, cluster)
    running = stack.wait("tasks_running", [kept, lost], cluster)
    ids = {t["taskArn"]: by_name(t)["idle"]["runtimeId"] for t in running}

    agent.kill9()
    assert inspect(ids[kept])["State"]["Running"]  # containers outlive their agent
    assert inspect(ids[lost])["State"]["Running"]
    docker("rm", "-f", ids[lost])
    silent = stack.instance(
        cluster,
        ready=lambda i: not i["agentConnected"],
        what="the server to mark the agent disconnected",
        timeout=60 + AGENT_TIMEOUT,
    )
    assert silent["status"] == "ACTIVE"
    refused = stack.run(td, cluster=cluster, launchType="EC2")
    assert [f["reason"] for f in refused["failures"]] == ["AGENT"]

    agent.start()  # same data dir: the same container instance
    back = stack.instance(cluster, ready=lambda i: i["agentConnected"], what="reconnection")
    assert back["containerInstanceArn"] == silent["containerInstanceArn"]
    [ended] = stack.wait("tasks_stopped", [lost], cluster)
    assert ended["stopCode"] == "EssentialContainerExited"
    assert "removed while the agent was not running" in ended["stoppedReason"]
    [still] = stack.describe([kept], cluster)
    assert still["lastStatus"] == "RUNNING"
    assert by_name(still)["idle"]["runtimeId"] == ids[kept]
    assert [c["Id"] for c in containers_of(kept)] == [ids[kept]]  # adopted, not duplicated
    [stopped] = stack.stop([kept], cluster)
    assert by_name(stopped)["idle"]["exitCode"] == 0
    assert not inspect(ids[kept])["State"]["Running"]


def test_a_server_killed_and_restarted_loses_nothing_it_acknowledged(stack: Stack) -> None:
    server = stack.servers["doomed"]
    agent, cluster = stack.ec2_agent("doomed")
    ecs = server.client("ecs")
    td = stack.ec2_td({"name": "idle", "memory": 32, "command": sh(IDLE)}, ecs=ecs)
    to_stop = stack.run_ec2(td, cluster, ecs)
    to_die = stack.run_ec2(td, cluster, ecs)
    running = stack.wait("tasks_running", [to_stop, to_die], cluster, ecs)
    dying_container = by_name(running[1])["idle"]["runtimeId"]

    # Freeze the agent so that what the server acknowledges next is not yet acted on.
    agent.signal(signal.SIGSTOP)
    placed = stack.run_ec2(td, cluster, ecs)
    assert stack.one(placed, cluster, ecs)["lastStatus"] == "PROVISIONING"
    ecs.stop_task(cluster=cluster, task=to_stop, reason="stopped before the crash")

    server.kill9()
    agent.signal(signal.SIGCONT)
    docker("kill", dying_container)  # the agent sees this while the server is down
    server.start(timeout=120)

    [started] = stack.wait("tasks_running", [placed], cluster, ecs)
    assert len(containers_of(placed)) == 1  # started once
    assert by_name(started)["idle"]["runtimeId"] == containers_of(placed)[0]["Id"]
    [stopped] = stack.wait("tasks_stopped", [to_stop], cluster, ecs)
    assert (stopped["stopCode"], stopped["stoppedReason"]) == (
        "UserInitiated",
        "stopped before the crash",
    )
    [died] = stack.wait("tasks_stopped", [to_die], cluster, ecs)
    assert died["stopCode"] == "EssentialContainerExited"
    assert by_name(died)["idle"]["exitCode"] == 137
    assert stack.instance(cluster, ecs)["agentConnected"]
    stack.stop([placed], cluster, ecs)
