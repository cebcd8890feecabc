"""The metrics pipeline through a real server: an agent posts its tasks'
utilization on the agent channel, the datapoints can be queried back, and
`GET /metrics` is valid Prometheus text (format 0.0.4) showing them."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from sqlalchemy import event

from openecs.domain.metrics import ECS_NAMESPACE, dimensions
from openecs.store.database import Database
from openecs.usecases.backend import Backend
from openecs.usecases.metrics import query_metric
from tests.support.server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, ServerProcess


@pytest.fixture
def metrics_server(server: ServerProcess) -> ServerProcess:
    """The session's shared server (its own would cost a start of many seconds)."""
    return server


def read_only_backend(server: ServerProcess) -> Backend:
    """The running server's database, for reads only: no migrations, and every
    connection refuses writes (no API answers metric queries yet)."""
    database = Database(f"sqlite:///{server.data_dir / 'openecs.db'}")

    @event.listens_for(database.engine, "connect")
    def _query_only(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA query_only=ON")

    return Backend(db=database)


def post_agent(server: ServerProcess, path: str, payload: dict[str, Any]) -> httpx.Response:
    url = server.endpoint + path
    body = json.dumps(payload).encode()
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ecs", REGION).add_auth(request)
    return httpx.post(url, content=body, headers=dict(request.headers.items()), timeout=30)


# --- a tiny reader of the Prometheus text format 0.0.4 ------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)(?: (-?\d+))?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse_exposition(text: str) -> Samples:
    """Samples by metric name; fails on anything the format does not allow."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    types: dict[str, str] = {}
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert re.fullmatch(_NAME, name) and kind in ("counter", "gauge", "untyped")
            assert name not in types, f"TYPE given twice for {name}"
            assert name not in samples, f"TYPE of {name} after its samples"
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, label_text, value = match.group(1), match.group(2) or "", match.group(3)
        labels: dict[str, str] = {}
        position = 0
        while position < len(label_text):
            label = _LABEL.match(label_text, position)
            assert label, f"bad labels in {line!r}"
            assert label.group(1) not in labels, f"label repeated in {line!r}"
            labels[label.group(1)] = (
                label.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
            )
            position = label.end()
        assert name in types, f"{name} has no TYPE line"
        if types[name] == "counter":
            assert name.endswith("_total"), f"counter {name} must end in _total"
        number = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
        assert not math.isnan(number) or value == "NaN"
        samples.setdefault(name, []).append((labels, number))
    return samples


def value_of(samples: Samples, name: str, **labels: str) -> float:
    found = [v for ls, v in samples.get(name, []) if all(ls.get(k) == x for k, x in labels.items())]
    assert len(found) == 1, f"{name}{labels}: {found} in {samples.get(name)}"
    return found[0]


def test_the_parser_refuses_what_the_format_does_not_allow() -> None:
    with pytest.raises(AssertionError):
        parse_exposition("x 1\n")  # no TYPE
    with pytest.raises(AssertionError):
        parse_exposition('# TYPE x gauge\nx{a="1",a="2"} 1\n')
    with pytest.raises(AssertionError):
        parse_exposition("# TYPE x counter\nx 1\n")  # a counter without _total
    assert parse_exposition('# TYPE x gauge\nx{a="q\\"uote"} 2.5\n') == {
        "x": [({"a": 'q"uote'}, 2.5)]
    }


# --- the pipeline --------------------------------------------------------------------------


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_task_utilization_posted_by_an_agent_is_queryable_and_exposed(
    metrics_server: ServerProcess,
) -> None:
    ecs = metrics_server.client("ecs")
    cluster, service = f"metrics-{uuid.uuid4().hex[:8]}", "web"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps(
            {"instanceId": f"i-{uuid.uuid4().hex[:17]}", "availabilityZone": f"{REGION}a"}
        ),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
        ],
    )
    td = ecs.register_task_definition(
        family=f"{cluster}-app",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=td, desiredCount=1)
    arns = wait_for(lambda: ecs.list_tasks(cluster=cluster)["taskArns"])
    assert len(arns) == 1, "the service placed its task"
    task_arn = arns[0]
    task_id = task_arn.rsplit("/", 1)[-1]

    samples = [{"taskArn": task_arn, "cpuUtilization": 40.0, "memoryUtilization": 25.0}]
    answer = post_agent(metrics_server, "/agent/v1/metrics", {"tasks": samples})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"recorded": 4}  # two metrics, per task and per service
    unknown = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{'0' * 32}"
    samples = [
        {"taskArn": task_arn, "cpuUtilization": 60.0},
        {"taskArn": unknown, "cpuUtilization": 99.0},
    ]
    assert post_agent(metrics_server, "/agent/v1/metrics", {"tasks": samples}).json() == {
        "recorded": 2
    }
    bad = post_agent(metrics_server, "/agent/v1/metrics", {"tasks": "nope"})
    assert bad.status_code == 400 and bad.json()["__type"] == "InvalidParameterException"

    backend = read_only_backend(metrics_server)
    try:
        now = time.time()

        def stat(statistic: str, **dims: str) -> list[tuple[float, float]]:
            return query_metric(
                backend,
                account_id=ACCOUNT,
                region=REGION,
                namespace=ECS_NAMESPACE,
                metric="CPUUtilization",
                dims=dimensions(**dims),
                start=now - 300,
                end=now + 300,
                period=10,
                statistic=statistic,
            )

        # The two posts may fall in one 10-second period or in two: totals tell either way.
        per_service = {"ClusterName": cluster, "ServiceName": service}
        assert sum(v for _, v in stat("SampleCount", **per_service)) == 2
        assert sum(v for _, v in stat("Sum", **per_service)) == 100.0
        assert sum(v for _, v in stat("Sum", **per_service, TaskId=task_id)) == 100.0
        assert max(v for _, v in stat("Maximum", **per_service)) == 60.0
    finally:
        backend.close()

    response = httpx.get(metrics_server.endpoint + "/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    exposed = parse_exposition(response.text)
    where = {"cluster": cluster, "service": service}
    assert value_of(exposed, "openecs_service_cpu_utilization_percent", **where) in (50.0, 60.0)
    assert value_of(exposed, "openecs_service_memory_utilization_percent", **where) == 25.0
    assert value_of(exposed, "openecs_service_desired_tasks", **where) == 1
    assert value_of(exposed, "openecs_service_running_tasks", **where) == 0
    assert value_of(exposed, "openecs_tasks", cluster=cluster, last_status="PROVISIONING") == 1
    assert value_of(exposed, "openecs_container_instances", cluster=cluster) == 1
    # The server may be shared with other tests: at least this test's call is counted.
    assert (
        value_of(exposed, "openecs_api_requests_total", operation="CreateService", status="200")
        >= 1
    )
