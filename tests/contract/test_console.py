"""The web console over HTTP against a real server: nothing without a session,
sign-in, CSRF on every POST, every page rendered for resources made with boto3,
actions going through the same use cases as the API, and user data escaped."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.console import csrf_of, sign_in, signed_in
from tests.support.server import REGION, ServerProcess, free_port

IMAGE = "openecs-test/busybox:latest"


@pytest.fixture
def anonymous(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, timeout=30) as client:
        yield client


@pytest.fixture
def console(server: ServerProcess) -> Iterator[httpx.Client]:
    client = signed_in(server.endpoint)
    yield client
    client.close()


@pytest.fixture
def world(server: ServerProcess, unique: Callable[[str], str]) -> dict[str, Any]:
    """A cluster with an instance, two revisions, a service of two tasks with awslogs
    and a log line, and a load balancer with a listener and a target group."""
    ecs, logs, elb = server.client("ecs"), server.client("logs"), server.client("elbv2")
    cluster = unique("console")
    ecs.create_cluster(clusterName=cluster)
    family = unique("web")
    group = f"/console/{family}"
    logs.create_log_group(logGroupName=group)

    def register(command: list[str]) -> dict[str, Any]:
        return dict(
            ecs.register_task_definition(
                family=family,
                containerDefinitions=[
                    {
                        "name": "app",
                        "image": IMAGE,
                        "command": command,
                        "cpu": 128,
                        "memory": 64,
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": group,
                                "awslogs-region": REGION,
                                "awslogs-stream-prefix": "web",
                            },
                        },
                    }
                ],
            )["taskDefinition"]
        )

    first_td = register(["sleep", "3600"])
    first, second = first_td["taskDefinitionArn"], register(["sleep", "7200"])["taskDefinitionArn"]
    required = first_td.get("requiresAttributes", [])
    ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps(
            {"instanceId": f"i-{uuid.uuid4().hex[:17]}", "availabilityZone": f"{REGION}a"}
        ),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
        ],
        # What the definitions require (awslogs, docker API versions), as an agent reports.
        attributes=[{"name": a["name"]} for a in required],
    )
    service = unique("svc")
    ecs.create_service(
        cluster=cluster, serviceName=service, taskDefinition=first, desiredCount=2, launchType="EC2"
    )
    ecs.update_service(cluster=cluster, service=service, taskDefinition=second)
    deadline = time.monotonic() + 30
    task_arns: list[str] = []
    while time.monotonic() < deadline and len(task_arns) < 2:
        task_arns = ecs.list_tasks(cluster=cluster, serviceName=service)["taskArns"]
        time.sleep(0.2)
    assert task_arns, "the service placed no task"
    task_id = task_arns[0].rsplit("/", 1)[-1]
    stream = f"web/app/{task_id}"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello <b>from</b> app"}],
    )
    lb_name = unique("lb")[:32]
    lb = elb.create_load_balancer(Name=lb_name, Subnets=["subnet-1", "subnet-2"])
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name=unique("tg")[:32], Protocol="HTTP", Port=80, VpcId="vpc-1", TargetType="ip"
    )["TargetGroups"][0]
    elb.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=free_port(),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    return {
        "ecs": ecs,
        "cluster": cluster,
        "family": family,
        "service": service,
        "task_id": task_id,
        "lb": lb_name,
        "tg": tg["TargetGroupName"],
        "revisions": (first, second),
    }


# -- access ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/console/clusters",
        "/console/clusters/default",
        "/console/task-definitions",
        "/console/load-balancers",
        "/console/glossary",
    ],
)
def test_pages_redirect_to_sign_in_without_a_session(anonymous: httpx.Client, path: str) -> None:
    answer = anonymous.get(path)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/signin?next=")


def test_live_json_answers_401_without_a_session(anonymous: httpx.Client) -> None:
    answer = anonymous.get("/console/clusters?format=json")

    assert answer.status_code == 401
    assert "clusters" not in answer.json()


def test_sign_in_with_wrong_keys_fails(anonymous: httpx.Client) -> None:
    answer = sign_in(anonymous, secret="not-the-secret")

    assert answer.status_code == 401
    assert "not valid" in answer.text
    assert anonymous.get("/console/clusters").status_code == 303


def test_sign_in_with_an_unknown_key_id_fails(anonymous: httpx.Client) -> None:
    assert sign_in(anonymous, key="AKIAUNKNOWN000000000").status_code == 401


def test_sign_in_without_its_form_token_is_refused(anonymous: httpx.Client) -> None:
    answer = anonymous.post(
        "/console/signin",
        data={"accessKeyId": "x", "secretAccessKey": "y", "region": REGION, "csrf": "forged"},
    )

    assert answer.status_code == 403


def test_session_cookie_is_http_only_and_same_site_strict(anonymous: httpx.Client) -> None:
    answer = sign_in(anonymous)

    cookie = answer.headers["set-cookie"].lower()
    assert "openecs_console=" in cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_a_forged_session_cookie_is_refused(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.endpoint, cookies={"openecs_console": "e30.AAAA"}) as c:
        assert c.get("/console/clusters").status_code == 303


def test_sign_out_ends_the_session_even_for_a_kept_cookie(server: ServerProcess) -> None:
    client = signed_in(server.endpoint)
    cookie = client.cookies["openecs_console"]
    page = client.get("/console/clusters")
    answer = client.post("/console/signout", data={"csrf": csrf_of(page.text)})
    client.close()
    assert answer.status_code == 303
    with httpx.Client(base_url=server.endpoint, cookies={"openecs_console": cookie}) as replay:
        assert replay.get("/console/clusters").status_code == 303


# -- CSRF -----------------------------------------------------------------------------


def test_posts_without_the_csrf_token_are_refused(
    console: httpx.Client, world: dict[str, Any]
) -> None:
    base = f"/console/clusters/{world['cluster']}/services/{world['service']}"

    missing = console.post(f"{base}/scale", data={"desiredCount": "5"})
    wrong = console.post(f"{base}/scale", data={"desiredCount": "5", "csrf": "x" * 43})
    signout = console.post("/console/signout", data={})

    assert (missing.status_code, wrong.status_code, signout.status_code) == (403, 403, 403)
    service = world["ecs"].describe_services(cluster=world["cluster"], services=[world["service"]])
    assert service["services"][0]["desiredCount"] == 2


# -- pages ----------------------------------------------------------------------------


def test_every_page_renders_for_real_resources(
    console: httpx.Client, world: dict[str, Any]
) -> None:
    cluster, service, family = world["cluster"], world["service"], world["family"]
    pages = {
        "/console/clusters": [cluster],
        f"/console/clusters/{cluster}": [service, world["task_id"], "Container instances"],
        f"/console/clusters/{cluster}/services/{service}": [
            "Deployments",
            "PRIMARY",
            f"{family}:2",
            "Roll back to",
            "Events",
            "a month",
        ],
        f"/console/clusters/{cluster}/tasks/{world['task_id']}": [
            "Phases",
            "Provisioning",
            "hello &lt;b&gt;from&lt;/b&gt; app",
        ],
        "/console/task-definitions": [family],
        f"/console/task-definitions/{family}": [f"{family}:1", f"{family}:2"],
        f"/console/task-definitions/{family}/2": [
            "containerDefinitions",
            "7200",
            "What one task would cost",
        ],
        f"/console/task-definitions/{family}/diff?a=1&b=2": ['class="del"', "3600", "7200"],
        "/console/load-balancers": [world["lb"]],
        f"/console/load-balancers/{world['lb']}": ["Listener HTTP", world["tg"]],
        "/console/glossary": ["Capacity provider", "FARGATE vs EC2", "Target group"],
        "/console/cost": ["Group by", "Cost by line", "Total"],
        f"/console/cost?groupBy=day&since=7d&cluster={cluster}": ["Day", "Total"],
        "/console/cost?groupBy=tag&tag=team&since=all": ["Tag:team"],
    }
    for path, expected in pages.items():
        answer = console.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "Content-Security-Policy" in answer.headers
        for text in expected:
            assert text in answer.text, (path, text)
        assert "<b>from</b>" not in answer.text


def test_a_page_has_a_live_json_twin_with_regions_and_chart_data(
    console: httpx.Client, world: dict[str, Any]
) -> None:
    path = f"/console/clusters/{world['cluster']}/services/{world['service']}"

    body = console.get(path, params={"format": "json"}).json()

    assert {"counts", "deployments", "tasks", "events"} <= set(body["regions"])
    assert set(body["data"]["charts"]) == {"cpu", "memory", "requests"}


def test_the_cost_page_has_a_live_json_twin_with_its_chart(
    console: httpx.Client, world: dict[str, Any]
) -> None:
    body = console.get("/console/cost", params={"groupBy": "cluster", "format": "json"}).json()

    assert {"totals", "lines"} <= set(body["regions"])
    assert isinstance(body["data"]["charts"]["cost"], list)


def test_grouping_cost_by_tag_needs_a_key(console: httpx.Client) -> None:
    assert console.get("/console/cost", params={"groupBy": "tag"}).status_code == 404


def test_terms_explain_themselves_on_hover(console: httpx.Client) -> None:
    page = console.get("/console/clusters").text

    assert '<abbr title="A named group of capacity' in page
    assert 'href="/console/glossary#cluster"' in page


def test_an_unknown_service_is_a_404_page(console: httpx.Client, world: dict[str, Any]) -> None:
    answer = console.get(f"/console/clusters/{world['cluster']}/services/nope")

    assert answer.status_code == 404


# -- actions --------------------------------------------------------------------------


def _form_post(console: httpx.Client, page: str, action: str, **data: str) -> httpx.Response:
    token = csrf_of(console.get(page).text)
    return console.post(action, data={"csrf": token, **data})


def test_scaling_out_sets_the_desired_count(console: httpx.Client, world: dict[str, Any]) -> None:
    page = f"/console/clusters/{world['cluster']}/services/{world['service']}"

    answer = _form_post(console, page, f"{page}/scale", desiredCount="3")

    assert answer.status_code == 303
    got = world["ecs"].describe_services(cluster=world["cluster"], services=[world["service"]])
    assert got["services"][0]["desiredCount"] == 3
    assert "Desired count of" in console.get(page).text


def test_scaling_in_asks_for_confirmation_first(
    console: httpx.Client, world: dict[str, Any]
) -> None:
    page = f"/console/clusters/{world['cluster']}/services/{world['service']}"

    asked = _form_post(console, page, f"{page}/scale", desiredCount="1")
    assert asked.status_code == 200 and "Please confirm" in asked.text
    described = world["ecs"].describe_services(
        cluster=world["cluster"], services=[world["service"]]
    )
    assert described["services"][0]["desiredCount"] == 2

    done = console.post(
        f"{page}/scale", data={"csrf": csrf_of(asked.text), "desiredCount": "1", "confirm": "yes"}
    )
    assert done.status_code == 303
    described = world["ecs"].describe_services(
        cluster=world["cluster"], services=[world["service"]]
    )
    assert described["services"][0]["desiredCount"] == 1


def test_force_new_deployment_and_roll_back(console: httpx.Client, world: dict[str, Any]) -> None:
    ecs, cluster, service = world["ecs"], world["cluster"], world["service"]
    page = f"/console/clusters/{cluster}/services/{service}"

    _form_post(console, page, f"{page}/deploy", confirm="yes")
    deployments = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    assert len(deployments["deployments"]) >= 2

    first, _ = world["revisions"]
    _form_post(console, page, f"{page}/rollback", taskDefinition=first, confirm="yes")
    now = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    assert now["taskDefinition"] == first


def test_stopping_a_task_goes_through_stop_task(
    console: httpx.Client, world: dict[str, Any]
) -> None:
    page = f"/console/clusters/{world['cluster']}/tasks/{world['task_id']}"

    asked = _form_post(console, page, f"{page}/stop")
    assert "Please confirm" in asked.text
    console.post(f"{page}/stop", data={"csrf": csrf_of(asked.text), "confirm": "yes"})

    task = world["ecs"].describe_tasks(cluster=world["cluster"], tasks=[world["task_id"]])
    assert task["tasks"][0]["desiredStatus"] == "STOPPED"
    assert task["tasks"][0]["stoppedReason"] == "Stopped from the OpenECS console"


def test_deregistering_a_revision(console: httpx.Client, world: dict[str, Any]) -> None:
    family = world["family"]
    page = f"/console/task-definitions/{family}/1"

    _form_post(console, page, f"{page}/deregister", confirm="yes")

    got = world["ecs"].describe_task_definition(taskDefinition=f"{family}:1")
    assert got["taskDefinition"]["status"] == "INACTIVE"


def test_a_failing_action_shows_the_api_error(console: httpx.Client, world: dict[str, Any]) -> None:
    page = f"/console/clusters/{world['cluster']}/services/{world['service']}"

    answer = _form_post(console, page, f"{page}/scale", desiredCount="-4")

    assert answer.status_code == 303
    assert "Failed" in console.get(page).text
