"""The console in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright, never a downloaded browser) against `openecs up` running a FARGATE
service in real containers on the local Docker engine.

One walk through what a user does: sign in, open a service, scale it from 1 to 3
and watch the new tasks appear without reloading, read a task's live logs, stop a
task (after confirming), sign out. A screenshot of every main page is saved under
the test's tmp dir and, when OPENECS_ARTIFACTS is set, in that directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.images import ensure_busybox_image
from tests.support.server import ACCESS_KEY, SECRET_KEY, ServerProcess
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("console-browser")]

T = TypeVar("T")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMAGE = "openecs-test/busybox:latest"
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-00000001"]}}
# Prints a numbered line a second; exits at once on SIGTERM.
TICKER = [
    "sh",
    "-c",
    "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done",
]
# Browser waits: the live regions refresh every 2 s.
UI_TIMEOUT_MS = 30_000


@dataclass
class Running:
    up: ServerProcess
    ecs: Any
    cluster: str
    service: str
    family: str


def _agent_identity(up: ServerProcess) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError, ValueError):
        data: dict[str, Any] = json.loads(
            (up.data_dir / "fargate-agent" / "agent.json").read_text()
        )
        return data
    return {}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """`openecs up` with a FARGATE service of one task that logs through awslogs."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh)")
    ensure_busybox_image()
    up = ServerProcess(
        tmp_path_factory.mktemp("console-e2e") / "up",
        command="up",
        extra_args=["--cleanup-delay", "2"],
    )
    up.start(timeout=120)
    try:
        until(lambda: _agent_identity(up).get("container_instance_arn"), "the FARGATE agent")
        ecs = up.client("ecs")
        cluster = f"console-{uuid.uuid4().hex[:6]}"
        ecs.create_cluster(clusterName=cluster)
        family = f"ticker-{uuid.uuid4().hex[:6]}"
        td = ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            executionRoleArn="arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
            containerDefinitions=[
                {
                    "name": "app",
                    "image": IMAGE,
                    "command": TICKER,
                    "stopTimeout": 2,
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": f"/ecs/{family}",
                            "awslogs-region": "us-east-1",
                            "awslogs-stream-prefix": "web",
                            "awslogs-create-group": "true",
                        },
                    },
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=cluster,
            serviceName="web",
            taskDefinition=td,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=SUBNETS,
        )
        yield Running(up, ecs, cluster, "web", family)
        with contextlib.suppress(Exception):
            ecs.delete_service(cluster=cluster, service="web", force=True)
    finally:
        owner = _agent_identity(up).get("agent_id")
        up.stop()
        if owner:
            ids = subprocess.run(
                ["docker", "ps", "-aq", "--filter", f"label=openecs.agent={owner}"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Save a full-page screenshot under the tmp dir and OPENECS_ARTIFACTS (if set)."""
    extra = os.environ.get("OPENECS_ARTIFACTS")

    def save(page: Any, name: str) -> Path:
        path = tmp_path / "screenshots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        if extra:
            target = Path(extra) / "console"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)
        return path

    return save


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert not errors, f"JavaScript errors: {errors}"


def live_task_links(page: Any) -> int:
    """Tasks shown in the service's task table that have not been asked to stop."""
    return int(
        page.evaluate(
            """() => Array.from(document.querySelectorAll('[data-live="tasks"] tbody tr'))
                 .filter(r => r.children[2].textContent.trim() === 'RUNNING'
                           && r.children[1].textContent.trim() === 'RUNNING').length"""
        )
    )


def test_sign_in_scale_read_logs_stop_a_task_and_sign_out(
    running: Running, browser_page: Any, shots: Callable[[Any, str], Path]
) -> None:
    page, base = browser_page, running.up.endpoint
    started = time.monotonic()

    # Nothing without a session: the console sends the browser to sign in.
    page.goto(f"{base}/console/clusters")
    assert "/console/signin" in page.url
    shots(page, "01-sign-in")
    page.fill("input[name=accessKeyId]", ACCESS_KEY)
    page.fill("input[name=secretAccessKey]", SECRET_KEY)
    page.click("form.signin button[type=submit]")
    page.wait_for_url("**/console/clusters")
    page.locator(f"text={running.cluster}").first.wait_for()
    shots(page, "02-clusters")

    page.click(f"a:text-is('{running.cluster}')")
    page.wait_for_url(f"**/console/clusters/{running.cluster}")
    shots(page, "03-cluster")

    page.click("a:text-is('web')")
    page.wait_for_url("**/services/web")
    # The live region shows the first task running, without reloading.
    page.wait_for_function(
        "() => document.getElementById('running-count')?.textContent.trim() === '1'"
    )
    shots(page, "04-service-one-task")

    page.fill("input[name=desiredCount]", "3")
    page.click("text=Set desired count")
    page.wait_for_url("**/services/web")
    assert page.locator(".flash").inner_text().startswith("Desired count of web set to 3")
    marker = page.evaluate("() => { window.__sameDocument = true; return true; }")
    assert marker
    page.wait_for_function(
        "() => document.getElementById('running-count')?.textContent.trim() === '3'",
        timeout=45_000,
    )
    until(lambda: live_task_links(page) >= 3, "three running tasks in the table", timeout=10)
    # Seen through polling: the page was never reloaded.
    assert page.evaluate("() => window.__sameDocument === true")
    shots(page, "05-service-three-tasks")

    page.locator('[data-live="tasks"] a.task-link').first.click()
    page.wait_for_url("**/tasks/*")
    task_id = page.url.rsplit("/", 1)[-1]
    page.wait_for_function(
        "() => (document.getElementById('log-tail')?.textContent || '').includes('tick 2')",
        timeout=30_000,
    )
    shots(page, "06-task-logs")

    page.click("button:text('Stop task')")
    page.wait_for_selector("text=Please confirm")
    shots(page, "07-confirm-stop")
    page.click("#confirm")
    page.wait_for_url(f"**/tasks/{task_id}")
    page.wait_for_function(
        "() => document.getElementById('task-status')?.textContent.trim() === 'STOPPED'",
        timeout=30_000,
    )
    shots(page, "08-task-stopped")
    described = running.ecs.describe_tasks(cluster=running.cluster, tasks=[task_id])["tasks"][0]
    assert described["lastStatus"] == "STOPPED"
    assert described["stoppedReason"] == "Stopped from the OpenECS console"

    for name, path in (
        ("09-task-definitions", f"/console/task-definitions/{running.family}/1"),
        ("10-load-balancers", "/console/load-balancers"),
        ("11-glossary", "/console/glossary"),
        ("12-cost", "/console/cost?groupBy=service&since=1h"),
    ):
        page.goto(base + path)
        shots(page, name)

    page.click("header button:text('Sign out')")
    page.wait_for_url("**/console/signin")
    page.goto(f"{base}/console/clusters")
    assert "/console/signin" in page.url
    assert time.monotonic() - started < 60
