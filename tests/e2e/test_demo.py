"""The showcase end to end: `openecs demo` deploys the e-commerce shop on a real
`openecs up` (FARGATE tasks in Docker, HAProxy as the load balancer) through the
public APIs, with shortened timings.

One shop per module (its own name, listener port and database volume, so it never
meets the shop `make demo` runs on the same Docker engine): it answers through
the load balancer, a checkout lands in PostgreSQL, orders survive a killed backend
task and a replaced database task, running the demo again changes nothing, a
headless Chromium clicks through the shop, and a load burst scales the backend
out and produces the chart. Images come from the same hash-tagged cache as
`make demo` (the first build on a machine takes a few minutes).
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from openecs.cli.main import main
from openecs.demo.images import build_images
from tests.support.server import ACCESS_KEY, SECRET_KEY, ServerProcess, free_port
from tests.support.waiting import until as wait_until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("demo")]

T = TypeVar("T")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


# Waits here may take longer than the shared default.
until = functools.partial(wait_until, timeout=120.0)


@dataclass
class DemoShop:
    up: ServerProcess
    name: str
    port: int
    ecs: Any

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def demo(self, *extra: str) -> int:
        return main(
            [
                "demo",
                *extra,
                "--endpoint",
                self.up.endpoint,
                "--data-dir",
                str(self.up.data_dir),
                "--name",
                self.name,
                "--shop-port",
                str(self.port),
                "--no-start",
                "--skip-system-deps",
                "--max-tasks",
                "4",
                # One task's worth of the burst below is ten times this.
                "--requests-per-target",
                "60",
                "--scale-out-cooldown",
                "10",
                "--scale-in-cooldown",
                "10",
            ]
        )

    def service(self, part: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs.describe_services(
            cluster=self.name, services=[f"{self.name}-{part}"]
        )["services"][0]
        return found

    def tasks(self, part: str) -> list[dict[str, Any]]:
        arns = self.ecs.list_tasks(cluster=self.name, serviceName=f"{self.name}-{part}")["taskArns"]
        if not arns:
            return []
        found: list[dict[str, Any]] = self.ecs.describe_tasks(cluster=self.name, tasks=arns)[
            "tasks"
        ]
        return found

    def steady(self, part: str) -> bool:
        service = self.service(part)
        deployments = service["deployments"]
        return (
            len(deployments) == 1
            and deployments[0]["rolloutState"] == "COMPLETED"
            and service["runningCount"] == service["desiredCount"]
        )

    def orders(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/orders", timeout=10)
        answer.raise_for_status()
        orders: list[dict[str, Any]] = answer.json()["orders"]
        return orders

    def checkout(self, customer: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.url}/api/orders",
            json={"customer": customer, "items": [{"product_id": 2, "quantity": 3}]},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        order: dict[str, Any] = answer.json()
        return order


def _agent_id(up: ServerProcess) -> str | None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        return str(
            json.loads((up.data_dir / "fargate-agent" / "agent.json").read_text())["agent_id"]
        )
    return None


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShop]:
    build_images(log=lambda _: None)  # shared with `make demo`: cached by content hash
    up = ServerProcess(
        tmp_path_factory.mktemp("demo-e2e") / "up",
        command="up",
        extra_args=["--cleanup-delay", "2"],
    )
    up.start(timeout=180)
    name = f"e2e-{uuid.uuid4().hex[:6]}"
    made = DemoShop(up, name, free_port(), up.client("ecs"))
    try:
        with pytest.MonkeyPatch.context() as env:
            # What `openecs up` was started with; the demo picks these up first.
            env.setenv("OPENECS_ACCESS_KEY_ID", ACCESS_KEY)
            env.setenv("OPENECS_SECRET_ACCESS_KEY", SECRET_KEY)
            yield made
    finally:
        for part in ("frontend", "backend", "database"):
            with contextlib.suppress(Exception):
                made.ecs.delete_service(cluster=name, service=f"{name}-{part}", force=True)
        agent = _agent_id(up)
        up.stop()
        if agent:
            ids = subprocess.run(
                ["docker", "ps", "-aq", "--filter", f"label=openecs.agent={agent}"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            if ids:
                subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)
        subprocess.run(
            ["docker", "volume", "rm", "-f", f"{name}-pgdata"], capture_output=True, check=False
        )


def test_the_demo_deploys_the_shop_behind_the_load_balancer(shop: DemoShop) -> None:
    started = time.monotonic()
    assert shop.demo() == 0
    deployed = time.monotonic() - started

    page = httpx.get(shop.url + "/", timeout=10)
    assert page.status_code == 200 and '<div id="root">' in page.text
    products = httpx.get(shop.url + "/api/products", timeout=10).json()["products"]
    assert len(products) == 6 and products[0]["price_cents"] > 0

    assert [shop.service(p)["desiredCount"] for p in ("frontend", "backend", "database")] == [
        2,
        2,
        1,
    ]
    elbv2 = shop.up.client("elbv2")
    lb = elbv2.describe_load_balancers(Names=[shop.name])["LoadBalancers"][0]
    listener = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"][0]
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    patterns = [
        c["PathPatternConfig"]["Values"]
        for r in rules
        for c in r["Conditions"]
        if not r["IsDefault"]
    ]
    assert patterns == [["/api/*"]]
    target = shop.up.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{shop.name}/{shop.name}-backend"]
    )["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    groups = shop.up.client("logs").describe_log_groups(logGroupNamePrefix=f"/ecs/{shop.name}/")
    assert len(groups["logGroups"]) == 3
    assert deployed < 150, f"the deployment took {deployed:.0f}s"


def test_a_checkout_lands_in_the_database(shop: DemoShop) -> None:
    import psycopg

    order = shop.checkout("e2e-checkout")
    database = shop.tasks("database")[0]
    binding = database["containers"][0]["networkBindings"][0]
    with psycopg.connect(
        host="127.0.0.1",
        port=binding["hostPort"],
        user="shop",
        password="shop-demo-password",
        dbname="shop",
        connect_timeout=5,
    ) as conn:
        row = conn.execute(
            "SELECT customer, total_cents FROM orders WHERE id = %s", (order["id"],)
        ).fetchone()
    assert row == ("e2e-checkout", 3 * 4999)


def test_orders_survive_a_killed_backend_task(shop: DemoShop) -> None:
    order = shop.checkout("before-the-kill")
    victim = shop.tasks("backend")[0]
    subprocess.run(
        ["docker", "kill", victim["containers"][0]["runtimeId"]], check=True, capture_output=True
    )
    until(
        lambda: (
            victim["taskArn"] not in [t["taskArn"] for t in shop.tasks("backend")]
            and shop.steady("backend")
        ),
        "the killed backend task to be replaced",
    )
    assert order["id"] in [o["id"] for o in shop.orders()]


def test_running_the_demo_again_changes_nothing(shop: DemoShop) -> None:
    before = {p: shop.service(p)["taskDefinition"] for p in ("frontend", "backend", "database")}
    assert shop.demo() == 0
    after = {p: shop.service(p)["taskDefinition"] for p in ("frontend", "backend", "database")}
    assert after == before
    assert all(arn.endswith(":1") for arn in after.values())
    assert [len(shop.service(p)["deployments"]) for p in before] == [1, 1, 1]


def test_orders_survive_a_replaced_database_task_on_its_named_volume(shop: DemoShop) -> None:
    order = shop.checkout("before-the-database-moves")
    old = shop.tasks("database")[0]
    shop.ecs.stop_task(cluster=shop.name, task=old["taskArn"], reason="e2e: replace the database")
    until(
        lambda: (
            old["taskArn"] not in [t["taskArn"] for t in shop.tasks("database")]
            and shop.steady("database")
        ),
        "a new database task",
    )
    # The new task may have another address: the demo rolls the backend to it.
    assert shop.demo() == 0
    assert order["id"] in [o["id"] for o in shop.orders()]
    volume = subprocess.run(
        ["docker", "volume", "inspect", f"{shop.name}-pgdata"], capture_output=True, check=False
    )
    assert volume.returncode == 0, "the shop's data lives on a volume of its own"


def test_a_shopper_browses_adds_to_cart_and_checks_out_in_a_browser(shop: DemoShop) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-deps.sh)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(shop.url + "/")
            expect(page.get_by_test_id("product")).to_have_count(6)
            page.get_by_test_id("add-1").click()
            page.get_by_test_id("add-4").click()
            page.get_by_test_id("add-4").click()
            expect(page.get_by_test_id("cart-line")).to_have_count(2)
            expect(page.get_by_test_id("cart-total")).to_have_text("$139.97")
            page.get_by_test_id("customer").fill("Playwright Shopper")
            page.get_by_test_id("checkout").click()
            expect(page.get_by_test_id("confirmation")).to_contain_text("Order #")
            expect(page.get_by_test_id("cart-line")).to_have_count(0)
            expect(page.get_by_test_id("orders")).to_contain_text("Playwright Shopper")
            page.screenshot(path=str(shop.up.data_dir / "shop.png"), full_page=True)
            assert not errors, f"JavaScript errors: {errors}"
        finally:
            browser.close()
    assert "Playwright Shopper" in [o["customer"] for o in shop.orders()]


def test_a_load_burst_scales_the_backend_out_and_charts_it(
    shop: DemoShop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "blackfriday.png"
    started = time.monotonic()
    code = shop.demo(
        "blackfriday",
        "--duration",
        "90",
        "--peak-rate",
        "10",
        "--base-rate",
        "10",
        "--settle",
        "0",
        "--stop-at-scale-out",
        "--chart",
        str(chart),
    )
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 0, out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for line in ("peak rate", "latency p50", "latency p99", "errors", "backend tasks", "cost"):
        assert line in out
    activities = shop.up.client("application-autoscaling").describe_scaling_activities(
        ServiceNamespace="ecs", ResourceId=f"service/{shop.name}/{shop.name}-backend"
    )["ScalingActivities"]
    assert any("ALBRequestCountPerTarget" in a.get("Cause", "") for a in activities), out
    assert shop.service("backend")["desiredCount"] > 2, out
    assert elapsed < 120, f"the burst took {elapsed:.0f}s"
