"""Target groups, their attributes, and targets (register, deregister, health)
through boto3's elbv2 client and the AWS CLI. Target health comes from the
server's own data plane (HAProxy) checking small HTTP servers in this process."""

from __future__ import annotations

import http.server
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from openecs.lb.haproxy_process import DEFAULT_BINARY as HAPROXY
from tests.support import elbv2 as support
from tests.support.awscli import CliResult
from tests.support.elbv2 import Resources, error_of
from tests.support.server import ACCOUNT, REGION, ServerProcess, free_port

TG_ARN = re.compile(
    rf"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/([A-Za-z0-9-]+)/[0-9a-f]{{16}}"
)


@pytest.fixture(scope="module")
def elbv2(server: ServerProcess) -> Any:
    return server.client("elbv2")


@pytest.fixture
def made(elbv2: Any) -> Iterator[Resources]:
    with support.resources(elbv2) as resources:
        yield resources


class HealthEndpoint:
    """An HTTP server on `address` that answers every request with `status`."""

    def __init__(self, address: str, status: int) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # health checks hang up once they have the status line

        self.server = Server((address, 0), Handler)
        self.port: int = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoints() -> Iterator[Callable[[str, int], HealthEndpoint]]:
    started: list[HealthEndpoint] = []

    def start(address: str, status: int) -> HealthEndpoint:
        started.append(HealthEndpoint(address, status))
        return started[-1]

    yield start
    for endpoint in started:
        endpoint.close()


def _health(elbv2: Any, tg: dict[str, Any], **kw: Any) -> list[tuple[Any, ...]]:
    found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"], **kw)
    return [
        (
            d["Target"]["Id"],
            d["Target"]["Port"],
            d["TargetHealth"]["State"],
            d["TargetHealth"].get("Reason"),
        )
        for d in found["TargetHealthDescriptions"]
    ]


# --- target groups ----------------------------------------------------------------------


def test_a_new_target_group_has_awss_health_check_defaults(
    made: Resources, unique: Callable[[str], str]
) -> None:
    name = unique("tg")
    tg = made.target_group(name, VpcId="vpc-0abc")
    match = TG_ARN.fullmatch(tg["TargetGroupArn"])
    assert match is not None and match.group(1) == name
    tg.pop("TargetGroupArn")
    assert tg == {
        "TargetGroupName": name,
        "Protocol": "HTTP",
        "Port": 8080,
        "VpcId": "vpc-0abc",
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port",
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": 30,
        "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 5,
        "UnhealthyThresholdCount": 2,
        "HealthCheckPath": "/",
        "Matcher": {"HttpCode": "200"},
        "LoadBalancerArns": [],
        "TargetType": "ip",
        "ProtocolVersion": "HTTP1",
        "IpAddressType": "ipv4",
    }


def test_health_check_settings_are_kept_and_modified(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    tg = made.target_group(
        unique("tg"),
        TargetType="instance",
        HealthCheckPath="/healthz",
        HealthCheckPort="8081",
        HealthCheckIntervalSeconds=10,
        HealthCheckTimeoutSeconds=3,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=3,
        Matcher={"HttpCode": "200-299"},
    )
    assert (tg["TargetType"], tg["HealthCheckPath"], tg["HealthCheckPort"]) == (
        "instance",
        "/healthz",
        "8081",
    )
    modified = elbv2.modify_target_group(
        TargetGroupArn=tg["TargetGroupArn"],
        Matcher={"HttpCode": "200,302"},
        HealthCheckPort="traffic-port",
    )["TargetGroups"][0]
    assert (modified["Matcher"], modified["HealthCheckPort"], modified["HealthCheckPath"]) == (
        {"HttpCode": "200,302"},
        "traffic-port",
        "/healthz",
    )
    assert elbv2.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])["TargetGroups"] == [
        modified
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"Matcher": {"HttpCode": "600"}},
            "Health check matcher HTTP code '600' must be within '200-499' range",
        ),
        (
            {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 5},
            "Health check interval must be greater than the timeout.",
        ),
        (
            {"HealthCheckIntervalSeconds": 301},
            "1 validation error detected: Value '301' at 'healthCheckIntervalSeconds' failed to "
            "satisfy constraint: Member must have value less than or equal to 300",
        ),
        (
            {"HealthCheckEnabled": False},
            "Health check enabled must be true for target groups with target type 'ip'",
        ),
        (
            {"Name": "web_1"},
            "Target group name 'web_1' can only contain characters that are alphanumeric "
            "characters or hyphens(-)",
        ),
        ({"Port": None}, "A port must be specified for target groups with target type 'ip'"),
        ({"TargetType": "lambda"}, "Target type 'lambda' is not supported by OpenECS"),
    ],
)
def test_target_group_settings_aws_refuses(
    elbv2: Any, unique: Callable[[str], str], settings: dict[str, Any], message: str
) -> None:
    request: dict[str, Any] = {
        "Name": unique("tg"),
        "Protocol": "HTTP",
        "Port": 80,
        "TargetType": "ip",
    }
    request.update(settings)
    request = {k: v for k, v in request.items() if v is not None}
    with pytest.raises(ClientError) as err:
        elbv2.create_target_group(**request)
    code, text = error_of(err)
    assert code == "ValidationError"
    assert text.startswith(message)


def test_a_protocol_other_than_http_is_unsupported(
    elbv2: Any, unique: Callable[[str], str]
) -> None:
    with pytest.raises(ClientError) as err:
        elbv2.create_target_group(Name=unique("tg"), Protocol="TCP", Port=80)
    assert error_of(err)[0] == "UnsupportedProtocol"


def test_create_is_idempotent_and_other_settings_are_a_duplicate(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    name = unique("tg")
    tg = made.target_group(name)
    again = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8080, TargetType="ip")
    assert again["TargetGroups"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    with pytest.raises(ClientError) as err:
        elbv2.create_target_group(Name=name, Protocol="HTTP", Port=9090, TargetType="ip")
    assert error_of(err) == (
        "DuplicateTargetGroupName",
        f"A target group with the same name '{name}' exists, but with different settings",
    )


def test_describe_by_names_arns_load_balancer_and_pages(server: ServerProcess) -> None:
    isolated = support.client(server, "sa-east-9")
    with support.resources(isolated) as made:
        groups = [made.target_group(f"group-{i}") for i in (2, 0, 3, 1)]
        lb = made.load_balancer("pages")
        made.listener(lb, groups[0], 80)
        names = [tg["TargetGroupName"] for tg in isolated.describe_target_groups()["TargetGroups"]]
        assert names == ["group-0", "group-1", "group-2", "group-3"]
        first = isolated.describe_target_groups(PageSize=3)
        assert len(first["TargetGroups"]) == 3
        rest = isolated.describe_target_groups(PageSize=3, Marker=first["NextMarker"])
        assert [tg["TargetGroupName"] for tg in rest["TargetGroups"]] == ["group-3"]
        assert "NextMarker" not in rest
        by_lb = isolated.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])
        assert [tg["TargetGroupName"] for tg in by_lb["TargetGroups"]] == ["group-2"]
        assert by_lb["TargetGroups"][0]["LoadBalancerArns"] == [lb["LoadBalancerArn"]]
        by_name = isolated.describe_target_groups(Names=["group-1", "group-3"])
        assert [tg["TargetGroupName"] for tg in by_name["TargetGroups"]] == ["group-1", "group-3"]
        with pytest.raises(isolated.exceptions.TargetGroupNotFoundException):
            isolated.describe_target_groups(Names=["group-1", "group-9"])
        with pytest.raises(ClientError) as err:
            isolated.describe_target_groups(
                Names=["group-1"], LoadBalancerArn=lb["LoadBalancerArn"]
            )
        assert error_of(err)[0] == "ValidationError"
        with pytest.raises(isolated.exceptions.LoadBalancerNotFoundException):
            isolated.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"][:-16] + "0" * 16)


def test_a_group_in_use_cannot_be_deleted_until_nothing_forwards_to_it(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    lb, tg, other = (
        made.load_balancer(unique("lb")),
        made.target_group(unique("tg")),
        made.target_group(unique("tg")),
    )
    listener = made.listener(lb, tg, 80)
    with pytest.raises(ClientError) as err:
        elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    assert error_of(err) == (
        "ResourceInUse",
        f"Target group '{tg['TargetGroupArn']}' is currently in use by a listener or a rule",
    )
    elbv2.modify_listener(
        ListenerArn=listener["ListenerArn"],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": other["TargetGroupArn"]}],
    )
    elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    with pytest.raises(elbv2.exceptions.TargetGroupNotFoundException):
        elbv2.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])


# --- attributes -------------------------------------------------------------------------


def test_attributes_start_at_awss_defaults_and_change(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    tg = made.target_group(unique("tg"))
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])
    assert {a["Key"]: a["Value"] for a in attributes["Attributes"]} == {
        "deregistration_delay.timeout_seconds": "300",
        "stickiness.enabled": "false",
        "stickiness.type": "lb_cookie",
        "stickiness.lb_cookie.duration_seconds": "86400",
        "load_balancing.algorithm.type": "round_robin",
        "slow_start.duration_seconds": "0",
    }
    changed = elbv2.modify_target_group_attributes(
        TargetGroupArn=tg["TargetGroupArn"],
        Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "15"},
            {"Key": "stickiness.enabled", "Value": "true"},
            {"Key": "stickiness.lb_cookie.duration_seconds", "Value": "60"},
            {"Key": "slow_start.duration_seconds", "Value": "30"},
        ],
    )
    values = {a["Key"]: a["Value"] for a in changed["Attributes"]}
    assert (values["deregistration_delay.timeout_seconds"], values["stickiness.enabled"]) == (
        "15",
        "true",
    )
    again = elbv2.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])
    assert again["Attributes"] == changed["Attributes"]


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("deregistration_delay.timeout_seconds", "3601", "ValidationError"),
        ("stickiness.type", "source_ip", "ValidationError"),
        ("load_balancing.algorithm.type", "weighted_random", "ValidationError"),
        ("no.such.attribute", "1", "ValidationError"),
    ],
)
def test_attribute_values_aws_refuses(
    elbv2: Any, made: Resources, unique: Callable[[str], str], key: str, value: str, code: str
) -> None:
    tg = made.target_group(unique("tg"))
    with pytest.raises(ClientError) as err:
        elbv2.modify_target_group_attributes(
            TargetGroupArn=tg["TargetGroupArn"], Attributes=[{"Key": key, "Value": value}]
        )
    assert error_of(err)[0] == code


# --- targets and health -----------------------------------------------------------------


def test_targets_of_a_group_no_listener_uses_are_unused(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    tg = made.target_group(unique("tg"))
    elbv2.register_targets(
        TargetGroupArn=tg["TargetGroupArn"],
        Targets=[{"Id": "127.0.0.1"}, {"Id": "127.0.0.1", "Port": 9000}],
    )
    assert _health(elbv2, tg) == [
        ("127.0.0.1", 8080, "unused", "Target.NotInUse"),
        ("127.0.0.1", 9000, "unused", "Target.NotInUse"),
    ]


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK), reason="HAProxy is not installed")
def test_targets_of_a_group_in_use_start_initial_and_take_the_data_planes_health(
    elbv2: Any,
    made: Resources,
    unique: Callable[[str], str],
    endpoints: Callable[[str, int], HealthEndpoint],
) -> None:
    ok, failing = endpoints("127.0.0.1", 200), endpoints("127.0.0.2", 503)
    lb = made.load_balancer(unique("lb"))
    tg = made.target_group(
        unique("tg"),
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
        HealthyThresholdCount=2,
        UnhealthyThresholdCount=2,
    )
    made.listener(lb, tg, free_port())
    elbv2.register_targets(
        TargetGroupArn=tg["TargetGroupArn"],
        Targets=[{"Id": "127.0.0.1", "Port": ok.port}, {"Id": "127.0.0.2", "Port": failing.port}],
    )
    # The data plane may already have taken them in and be checking them.
    starting = {"Elb.RegistrationInProgress", "Elb.InitialHealthChecking"}
    initial = _health(elbv2, tg)
    assert [(t[0], t[1], t[2]) for t in initial] == [
        ("127.0.0.1", ok.port, "initial"),
        ("127.0.0.2", failing.port, "initial"),
    ]
    assert {t[3] for t in initial} <= starting, initial

    expected = [
        {
            "Target": {"Id": "127.0.0.1", "Port": ok.port},
            "HealthCheckPort": str(ok.port),
            "TargetHealth": {"State": "healthy"},
        },
        {
            "Target": {"Id": "127.0.0.2", "Port": failing.port},
            "HealthCheckPort": str(failing.port),
            "TargetHealth": {
                "State": "unhealthy",
                "Reason": "Target.ResponseCodeMismatch",
                "Description": "Health checks failed with these codes: [503]",
            },
        },
    ]
    deadline = time.monotonic() + 60
    while True:
        found = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])
        if found["TargetHealthDescriptions"] == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert found["TargetHealthDescriptions"] == expected
    asked = _health(
        elbv2,
        tg,
        Targets=[{"Id": "127.0.0.2", "Port": failing.port}, {"Id": "10.1.1.1", "Port": 81}],
    )
    assert asked == [
        ("127.0.0.2", failing.port, "unhealthy", "Target.ResponseCodeMismatch"),
        ("10.1.1.1", 81, "unused", "Target.NotRegistered"),
    ]


def test_deregistered_targets_drain_then_go(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    lb, tg = made.load_balancer(unique("lb")), made.target_group(unique("tg"))
    made.listener(lb, tg, 80)
    arn = tg["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.1"}, {"Id": "10.0.0.2"}])
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.1"}])
    assert _health(elbv2, tg) == [
        ("10.0.0.1", 8080, "draining", "Target.DeregistrationInProgress"),
        ("10.0.0.2", 8080, "initial", "Elb.RegistrationInProgress"),
    ]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.1"}])
    assert _health(elbv2, tg)[0] == ("10.0.0.1", 8080, "initial", "Elb.RegistrationInProgress")
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}],
    )
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.1", "Port": 8080}])
    assert [t[0] for t in _health(elbv2, tg)] == ["10.0.0.2"]
    with pytest.raises(ClientError) as err:
        elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.0.9"}])
    assert error_of(err) == (
        "InvalidTarget",
        f"The following targets are not registered in target group '{arn}': '10.0.0.9:8080'",
    )


@pytest.mark.parametrize("target_id", ["10.0.0", "i-0123456789abcdef0", "0.0.0.0"])
def test_ip_targets_must_be_ipv4_addresses(
    elbv2: Any, made: Resources, unique: Callable[[str], str], target_id: str
) -> None:
    tg = made.target_group(unique("tg"))
    with pytest.raises(ClientError) as err:
        elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": target_id}])
    assert error_of(err)[0] == "ValidationError"


def test_a_group_holds_at_most_a_thousand_targets(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    tg = made.target_group(unique("tg"))
    many = [{"Id": f"10.0.{i // 250}.{i % 250 + 1}"} for i in range(1000)]
    elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=many)
    elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=many[:5])
    with pytest.raises(ClientError) as err:
        elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "10.9.9.9"}])
    assert error_of(err)[0] == "TooManyTargets"


def test_instance_targets_are_registered_container_instances(
    server: ServerProcess, elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    ecs = server.client("ecs")
    cluster = unique("cluster")
    ecs.create_cluster(clusterName=cluster)
    instance_id = "i-0" + unique("x").encode().hex()[-16:]
    ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps(
            {"instanceId": instance_id, "privateIp": "127.0.0.1", "availabilityZone": "us-east-1c"}
        ),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
        ],
    )
    tg = made.target_group(unique("tg"), TargetType="instance", HealthCheckPort="9090")
    elbv2.register_targets(
        TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": instance_id, "Port": 32768}]
    )
    (found,) = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])[
        "TargetHealthDescriptions"
    ]
    assert found["Target"] == {"Id": instance_id, "Port": 32768, "AvailabilityZone": "us-east-1c"}
    assert found["HealthCheckPort"] == "9090"
    with pytest.raises(ClientError) as err:
        elbv2.register_targets(
            TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": "i-00000000000000000"}]
        )
    assert error_of(err) == (
        "InvalidTarget",
        "The following targets are not in a running state and cannot be registered: "
        "'i-00000000000000000'",
    )


def test_target_operations_on_a_missing_group_are_not_found(elbv2: Any) -> None:
    missing = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/none/{'0' * 16}"
    for call, kw in (
        (elbv2.register_targets, {"Targets": [{"Id": "10.0.0.1"}]}),
        (elbv2.deregister_targets, {"Targets": [{"Id": "10.0.0.1"}]}),
        (elbv2.describe_target_health, {}),
        (elbv2.describe_target_group_attributes, {}),
        (elbv2.modify_target_group, {"HealthCheckPath": "/x"}),
    ):
        with pytest.raises(ClientError) as err:
            call(TargetGroupArn=missing, **kw)
        assert error_of(err) == ("TargetGroupNotFound", "One or more target groups not found")
    with pytest.raises(ClientError) as err:
        elbv2.describe_target_health(TargetGroupArn="web")
    assert error_of(err) == ("ValidationError", "'web' is not a valid target group ARN")


# --- the AWS CLI ------------------------------------------------------------------------


def test_the_aws_cli_manages_a_target_group_and_its_targets(
    aws: Callable[..., CliResult], unique: Callable[[str], str]
) -> None:
    name = unique("cli")
    created = aws(
        "elbv2",
        "create-target-group",
        "--name",
        name,
        "--protocol",
        "HTTP",
        "--port",
        "8080",
        "--target-type",
        "ip",
        "--health-check-path",
        "/ready",
        "--matcher",
        "HttpCode=200-299",
    )
    assert created.returncode == 0, created.stderr
    (tg,) = created.json["TargetGroups"]
    assert (tg["HealthCheckPath"], tg["Matcher"]) == ("/ready", {"HttpCode": "200-299"})
    arn = tg["TargetGroupArn"]
    registered = aws(
        "elbv2",
        "register-targets",
        "--target-group-arn",
        arn,
        "--targets",
        "Id=127.0.0.1,Port=9000",
    )
    assert registered.returncode == 0, registered.stderr
    health = aws("elbv2", "describe-target-health", "--target-group-arn", arn)
    assert health.json["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "unused"
    attrs = aws(
        "elbv2",
        "modify-target-group-attributes",
        "--target-group-arn",
        arn,
        "--attributes",
        "Key=deregistration_delay.timeout_seconds,Value=5",
    )
    assert attrs.returncode == 0, attrs.stderr
    assert aws("elbv2", "delete-target-group", "--target-group-arn", arn).returncode == 0
    bad = aws(
        "elbv2", "create-target-group", "--name", name, "--protocol", "HTTP", "--port", "70000"
    )
    assert bad.returncode != 0
    assert "ValidationError" in bad.stderr
