"""Server-side bugs found while testing the task path end to end.

Each test here fails until the server is fixed; the final report that added
it says where and why. They run real processes like test_tasks_docker.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import AgentProcess, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("tasks-server-bugs")]

AGENT_TIMEOUT = 3.0


@pytest.fixture
def short_timeout_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "server", extra_args=["--agent-timeout", str(AGENT_TIMEOUT)])
    server.start(timeout=120)
    yield server
    server.stop()


def _instance(ecs: Any, cluster: str) -> dict[str, Any] | None:
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    if not arns:
        return None
    [found] = ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
        "containerInstances"
    ]
    return dict(found)


def test_an_agent_in_a_long_poll_is_not_taken_for_lost(
    short_timeout_server: ServerProcess, tmp_path: Path
) -> None:
    """A healthy agent holds its long poll open for up to 20 s (the server allows
    25), but the server counts only the start of each poll as a heartbeat
    (api/agent_endpoints.py `poll` → record_heartbeat once), so any
    --agent-timeout shorter than the poll marks live agents disconnected
    (controllers/housekeeping.py → mark_silent_agents_disconnected), and
    RunTask then fails with AGENT until the next poll begins."""
    ecs = short_timeout_server.client("ecs")
    cluster = f"bug-{uuid.uuid4().hex[:8]}"
    ecs.create_cluster(clusterName=cluster)
    agent = AgentProcess(
        endpoint=short_timeout_server.endpoint,
        data_dir=tmp_path / "agent",
        cluster=cluster,
        extra_args=["--poll-wait", "20", "--cpu-units", "1024", "--memory-mib", "512"],
    ).start()
    try:
        deadline = time.monotonic() + 60
        while (found := _instance(ecs, cluster)) is None:
            assert time.monotonic() < deadline, agent.log_tail()
            time.sleep(0.2)
        # Watch the live agent for three agent timeouts (plus the liveness step's period).
        seen = []
        watch_until = time.monotonic() + AGENT_TIMEOUT * 3 + 1
        while time.monotonic() < watch_until:
            instance = _instance(ecs, cluster)
            assert instance is not None
            seen.append(instance["agentConnected"])
            time.sleep(0.25)
        assert agent.proc is not None and agent.proc.poll() is None, agent.log_tail()
        assert all(seen), f"a live agent was shown disconnected in {seen.count(False)} samples"
        assert found["agentConnected"]
    finally:
        agent.stop()
