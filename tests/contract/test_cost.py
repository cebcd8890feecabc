"""Cost accounting through its public doors: the signed `GET /cost...` endpoints and
`openecs cost`, against the shared server. State is made through the ECS API only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.server import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess

FARGATE_1VCPU_2GB = 0.04048 + 2 * 0.004445


def signed_get(server: ServerProcess, path: str, **params: Any) -> httpx.Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    url = server.endpoint + path + (f"?{query}" if query else "")
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ecs", REGION).add_auth(request)
    return httpx.get(url, headers=dict(request.headers.items()), timeout=30)


def openecs(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openecs.cli.main", *args],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture
def ec2_service(ecs: Any, unique: Callable[[str], str]) -> dict[str, str]:
    """A cluster with one m5.large instance (4 vCPU, 8 GiB registered) and a service
    whose one task reserves a quarter of it."""
    cluster = unique("cost")
    ecs.create_cluster(clusterName=cluster)
    instance = ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps(
            {
                "instanceId": f"i-{cluster[-17:]}",
                "availabilityZone": f"{REGION}a",
                "instanceType": "m5.large",
            }
        ),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
        ],
    )["containerInstance"]["containerInstanceArn"]
    family = f"{cluster}-app"
    ecs.register_task_definition(
        family=family,
        cpu="1024",
        memory="2048",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}],
        tags=[{"key": "team", "value": "billing"}],
    )
    ecs.create_service(
        cluster=cluster,
        serviceName="web",
        taskDefinition=family,
        desiredCount=1,
        propagateTags="TASK_DEFINITION",
    )
    assert wait_for(lambda: ecs.list_tasks(cluster=cluster)["taskArns"]), "a task was placed"
    return {"cluster": cluster, "family": family, "instance": instance}


def test_the_report_splits_a_cluster_into_its_services_and_idle_capacity(
    server: ServerProcess, ec2_service: dict[str, str]
) -> None:
    answer = signed_get(server, "/cost", cluster=ec2_service["cluster"], groupBy="service")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    lines = {line["key"]: line for line in report["lines"]}
    assert set(lines) == {"web", "(idle EC2 capacity)"}
    assert lines["web"]["tasks"] == 1 and lines["web"]["taskCost"] > 0
    assert lines["web"]["idleCost"] == 0
    # The task reserves a quarter of the instance; the rest is idle.
    assert lines["(idle EC2 capacity)"]["idleCost"] > 2 * lines["web"]["taskCost"]
    assert report["total"] == pytest.approx(report["taskCost"] + report["idleCost"], abs=1e-9)
    assert report["currency"] == "USD" and report["groupBy"] == "service"
    assert report["prices"]["instanceHour"]["m5.large"] == 0.096

    by_tag = signed_get(server, "/cost", cluster=ec2_service["cluster"], groupBy="tag:team").json()
    assert "billing" in {line["key"] for line in by_tag["lines"]}
    by_day = signed_get(server, "/cost", cluster=ec2_service["cluster"], groupBy="day").json()
    assert [line["key"] for line in by_day["lines"]] == [
        time.strftime("%Y-%m-%d", time.gmtime(report["until"]))
    ] or len(by_day["lines"]) == 2  # a run across midnight


def test_a_deregistered_instance_keeps_its_bill_and_stops_accruing(
    server: ServerProcess, ecs: Any, ec2_service: dict[str, str]
) -> None:
    ecs.deregister_container_instance(
        cluster=ec2_service["cluster"], containerInstance=ec2_service["instance"], force=True
    )
    first = signed_get(server, "/cost", cluster=ec2_service["cluster"], groupBy="cluster").json()
    time.sleep(1.5)
    later = signed_get(server, "/cost", cluster=ec2_service["cluster"], groupBy="cluster").json()
    assert first["total"] > 0
    assert later["total"] == first["total"]
    assert [line["key"] for line in later["lines"]] == [ec2_service["cluster"]]


def test_a_forecast_prices_the_service_at_its_share_of_the_instances(
    server: ServerProcess, ec2_service: dict[str, str]
) -> None:
    answer = signed_get(server, "/cost/forecast", cluster=ec2_service["cluster"], service="web")
    assert answer.status_code == 200, answer.text
    forecast = answer.json()
    assert forecast["desiredCount"] == 1 and forecast["tasksByPricing"] == {"EC2": 1}
    # A quarter of the CPU and of the memory of a $0.096/h instance.
    assert forecast["hourly"] == pytest.approx(0.096 / 4)
    assert forecast["monthly"] == pytest.approx(0.096 / 4 * 730)


def test_an_estimate_prices_a_definition_before_it_runs(
    server: ServerProcess, ec2_service: dict[str, str]
) -> None:
    answer = signed_get(server, "/cost/estimate", taskDefinition=ec2_service["family"], count=2)
    assert answer.status_code == 200, answer.text
    options = {(o["pricing"], o["cpuArchitecture"]): o for o in answer.json()["options"]}
    assert options[("FARGATE", "X86_64")]["perTaskHourly"] == pytest.approx(FARGATE_1VCPU_2GB)
    assert options[("FARGATE", "X86_64")]["hourly"] == pytest.approx(2 * FARGATE_1VCPU_2GB)
    assert set(options) == {("FARGATE", "X86_64"), ("FARGATE", "ARM64"), ("FARGATE_SPOT", "X86_64")}


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/cost", {"groupBy": "instance"}, "InvalidParameterException"),
        ("/cost", {"since": "yesterday"}, "InvalidParameterException"),
        ("/cost/estimate", {}, "InvalidParameterException"),
        ("/cost/estimate", {"taskDefinition": "no-such-family-xyz"}, "ClientException"),
        ("/cost/forecast", {"service": "none", "cluster": "no-such-cluster-xyz"}, None),
    ],
)
def test_bad_questions_get_ecs_style_errors(
    server: ServerProcess, path: str, params: dict[str, str], error: str | None
) -> None:
    answer = signed_get(server, path, **params)
    assert answer.status_code == 400, answer.text
    if error is not None:
        assert answer.json()["__type"] == error


def test_an_unsigned_request_is_refused(server: ServerProcess) -> None:
    answer = httpx.get(server.endpoint + "/cost", timeout=30)
    assert answer.status_code in (400, 403)
    assert "__type" in answer.json()


def test_the_cli_prints_a_table_and_json(
    server: ServerProcess, ec2_service: dict[str, str]
) -> None:
    cluster = ec2_service["cluster"]
    table = openecs(server, "cost", "--cluster", cluster, "--group-by", "cluster", "--since", "1h")
    assert table.returncode == 0, table.stderr
    assert cluster in table.stdout and "TOTAL" in table.stdout and "$" in table.stdout
    raw = openecs(server, "cost", "--cluster", cluster, "--json")
    assert raw.returncode == 0, raw.stderr
    assert {line["key"] for line in json.loads(raw.stdout)["lines"]} >= {"web"}
    estimate = openecs(
        server, "cost", "estimate", "--task-definition", ec2_service["family"], "--count", "3"
    )
    assert estimate.returncode == 0, estimate.stderr
    assert "FARGATE_SPOT" in estimate.stdout and "per month" in estimate.stdout
    forecast = openecs(server, "cost", "forecast", "--cluster", cluster, "--service", "web")
    assert forecast.returncode == 0 and "per month" in forecast.stdout
    refused = openecs(server, "cost", "--group-by", "nonsense")
    assert refused.returncode == 254 and "InvalidParameterException" in refused.stderr
