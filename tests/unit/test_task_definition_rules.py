"""RegisterTaskDefinition's rules, one test per rule: the exception ECS raises and its words.

Each case starts from a valid definition (EC2 or Fargate), breaks exactly one
rule, and checks the error type and message. The tests after the table cover
what a valid registration stores: defaults, task size, compatibilities and
required attributes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from openecs.domain.errors import AwsError, ClientException, InvalidParameterException
from openecs.domain.scope import Scope
from openecs.domain.task_definition import (
    TaskDefinition,
    TaskDefinitionRef,
    parse_task_definition_ref,
)
from openecs.domain.task_definition_rules import prepare_registration
from openecs.domain.task_size import (
    fargate_memory_options,
    is_fargate_size,
    parse_task_cpu,
    parse_task_memory,
)

Request = dict[str, Any]
SCOPE = Scope.root("123456789012", "eu-west-1")
ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"


def ec2() -> Request:
    return {
        "family": "web",
        "containerDefinitions": [
            {"name": "app", "image": "nginx", "memory": 256},
            {"name": "sidecar", "image": "busybox", "memoryReservation": 64},
        ],
    }


def fargate() -> Request:
    return {
        "family": "api",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": ROLE,
        "containerDefinitions": [
            {"name": "app", "image": "nginx", "portMappings": [{"containerPort": 80}]}
        ],
    }


def container(request: Request, index: int = 0) -> dict[str, Any]:
    containers: list[dict[str, Any]] = request["containerDefinitions"]
    return containers[index]


Change = Callable[[Request], None]


def _parent(request: Request, path: str) -> tuple[Any, str]:
    """The object holding the member at a dotted path ("c1" = container 1), and its key."""
    *parents, last = path.split(".")
    target: Any = request
    for part in parents:
        target = container(request, int(part[1:])) if part[0] == "c" else target[part]
    return target, last


def put(path: str, value: Any) -> Change:
    def change(request: Request) -> None:
        target, key = _parent(request, path)
        target[key] = copy.deepcopy(value)

    return change


def drop(path: str) -> Change:
    def change(request: Request) -> None:
        target, key = _parent(request, path)
        del target[key]

    return change


def add_container(definition: dict[str, Any]) -> Change:
    def change(request: Request) -> None:
        request["containerDefinitions"].append(copy.deepcopy(definition))

    return change


def build(*changes: Change, start: Callable[[], Request] = ec2) -> Callable[[], Request]:
    """A case: a valid starting definition with `changes` applied in order."""

    def make() -> Request:
        request = start()
        for change in changes:
            change(request)
        return request

    return make


def on_fargate(*changes: Change) -> Callable[[], Request]:
    return build(*changes, start=fargate)


AWSLOGS = {"logDriver": "awslogs", "options": {"awslogs-group": "g", "awslogs-region": "eu-west-1"}}
CHECK = ["CMD", "true"]
MEMBER_OF = {"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}
CE = ClientException
IPE = InvalidParameterException


def rule(case: Callable[[], Request], error: type[AwsError], message: str, name: str) -> Any:
    return pytest.param(case, error, message, id=name)


RULES = [
    # family
    rule(build(put("family", "")), CE, "Family can not be blank.", "family-blank"),
    rule(
        build(put("family", "web app")),
        CE,
        "Family contains invalid characters.",
        "family-charset",
    ),
    rule(
        build(put("family", "f" * 256)),
        CE,
        "Family name must be no longer than 255 characters.",
        "family-length",
    ),
    # container list and identity
    rule(
        build(put("containerDefinitions", [])),
        CE,
        "Container list cannot be empty.",
        "containers-empty",
    ),
    rule(
        build(
            put(
                "containerDefinitions",
                [{"name": f"c{i}", "image": "busybox", "memory": 32} for i in range(11)],
            )
        ),
        CE,
        "Too many containers.",
        "containers-max-10",
    ),
    rule(
        build(put("c0.name", "")),
        CE,
        "Container.name should not be null or empty.",
        "container-name-blank",
    ),
    rule(
        build(put("c0.name", "my.app")),
        CE,
        "Container.name contains invalid characters.",
        "container-name-charset",
    ),
    rule(
        build(put("c0.image", "")),
        CE,
        "Container.image should not be null or empty.",
        "container-image-blank",
    ),
    rule(
        build(put("c1.name", "app")),
        CE,
        "Container names must be unique within a Task Definition.",
        "container-names-unique",
    ),
    rule(
        build(put("c0.essential", False), put("c1.essential", False)),
        CE,
        "Task definition doesn't have any essential container.",
        "essential-at-least-one",
    ),
    # memory and cpu
    rule(
        build(drop("c0.memory")),
        CE,
        "Invalid setting for container 'app'. "
        "At least one of 'memory' or 'memoryReservation' must be specified.",
        "memory-or-reservation-required",
    ),
    rule(
        build(put("c0.memory", 5)),
        CE,
        "Invalid setting for container 'app'. 'memory' must be at least 6 MiB.",
        "memory-minimum-6",
    ),
    rule(
        build(put("c0.memoryReservation", 512)),
        CE,
        "Invalid setting for container 'app'. "
        "'memoryReservation' must be less than or equal to 'memory'.",
        "reservation-at-most-memory",
    ),
    rule(
        build(put("c0.cpu", -1)),
        CE,
        "Invalid setting for container 'app'. 'cpu' must be 0 or greater.",
        "container-cpu-not-negative",
    ),
    rule(
        build(put("memory", "128")),
        CE,
        "The 'memory' setting for container 'app' is greater than for the task.",
        "container-memory-within-task",
    ),
    rule(
        build(
            put("memory", "300"), put("c0.memoryReservation", 200), put("c1.memoryReservation", 200)
        ),
        CE,
        "The sum of all container 'memoryReservation' values cannot be greater than "
        "the value of the task 'memory'.",
        "reservations-sum-within-task",
    ),
    rule(
        on_fargate(
            put("c0.memory", 256), add_container({"name": "worker", "image": "x", "memory": 384})
        ),
        CE,
        "The sum of all container 'memory' values cannot be greater than "
        "the value of the task 'memory'.",
        "fargate-memory-sum-within-task",
    ),
    rule(
        build(put("cpu", "256"), put("c0.cpu", 512)),
        CE,
        "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
        "cpu-sum-within-task",
    ),
    rule(build(put("cpu", "fast")), CE, "Invalid 'cpu' setting for task.", "task-cpu-format"),
    rule(build(put("cpu", "64")), CE, "Invalid 'cpu' setting for task.", "task-cpu-range"),
    rule(
        build(put("memory", "2 TB")),
        CE,
        "Invalid 'memory' setting for task.",
        "task-memory-format",
    ),
    # Fargate
    rule(
        on_fargate(put("networkMode", "bridge")),
        CE,
        "Fargate only supports network mode \u2018awsvpc\u2019.",
        "fargate-awsvpc-only",
    ),
    rule(
        on_fargate(drop("cpu")),
        CE,
        "Fargate requires that 'cpu' be defined at the task level.",
        "fargate-task-cpu-required",
    ),
    rule(
        on_fargate(drop("memory")),
        CE,
        "Fargate requires that 'memory' be defined at the task level.",
        "fargate-task-memory-required",
    ),
    rule(
        on_fargate(put("memory", "4096")),
        CE,
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory. "
        "See the Amazon ECS documentation for the valid values.",
        "fargate-size-table",
    ),
    rule(
        on_fargate(put("volumes", [{"name": "data", "host": {"sourcePath": "/srv"}}])),
        CE,
        "Fargate compatible task definitions do not support sourcePath",
        "fargate-no-host-source-path",
    ),
    rule(
        on_fargate(put("c0.privileged", True)),
        CE,
        "Fargate compatible task definitions do not support privileged containers",
        "fargate-no-privileged",
    ),
    rule(
        on_fargate(put("ipcMode", "host")),
        CE,
        "Tasks using the Fargate launch type do not support ipcMode.",
        "fargate-no-ipc-mode",
    ),
    rule(
        on_fargate(drop("executionRoleArn"), put("c0.logConfiguration", AWSLOGS)),
        CE,
        "Fargate requires task definition to have execution role ARN "
        "to support log driver awslogs.",
        "fargate-awslogs-needs-execution-role",
    ),
    # network modes and port mappings
    rule(
        on_fargate(put("c0.portMappings", [{"containerPort": 80, "hostPort": 8080}])),
        CE,
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
        "awsvpc-host-port-matches",
    ),
    rule(
        build(
            put("networkMode", "host"),
            put("c0.portMappings", [{"containerPort": 80, "hostPort": 81}]),
        ),
        CE,
        "When networkMode=host, the host ports and container ports in port mappings must match.",
        "host-host-port-matches",
    ),
    rule(
        build(put("c0.portMappings", [{"containerPort": 0}])),
        CE,
        "Invalid port mapping for container 'app'. containerPort must be between 1 and 65535.",
        "container-port-range",
    ),
    rule(
        build(put("c0.portMappings", [{"containerPort": 80, "hostPort": 70000}])),
        CE,
        "Invalid port mapping for container 'app'. hostPort must be between 0 and 65535.",
        "bridge-host-port-range",
    ),
    rule(
        build(put("c0.portMappings", [{"protocol": "tcp"}])),
        CE,
        "Invalid port mapping for container 'app'. "
        "Specify a containerPort or a containerPortRange.",
        "container-port-required",
    ),
    rule(
        on_fargate(
            add_container(
                {"name": "proxy", "image": "envoy", "portMappings": [{"containerPort": 80}]}
            )
        ),
        CE,
        "Container port 80/tcp is mapped more than once. "
        "When networkMode=awsvpc, each container port can be mapped only once.",
        "awsvpc-container-ports-unique",
    ),
    rule(
        build(put("c0.portMappings", [{"containerPortRange": "9000-8000"}])),
        CE,
        "Invalid containerPortRange '9000-8000' for container 'app'. "
        "Specify a range of ports between 1 and 65535, such as 8080-8085.",
        "port-range-format",
    ),
    rule(
        build(put("c0.portMappings", [{"containerPortRange": "8000-8010", "containerPort": 8000}])),
        CE,
        "Invalid port mapping for container 'app'. "
        "Specify either a containerPort or a containerPortRange, not both.",
        "port-range-without-container-port",
    ),
    rule(
        build(put("c0.portMappings", [{"containerPortRange": "8000-8010", "hostPort": 8000}])),
        CE,
        "Invalid port mapping for container 'app'. "
        "A hostPort can't be specified with a containerPortRange.",
        "port-range-without-host-port",
    ),
    rule(
        build(
            put("networkMode", "host"),
            put("c0.portMappings", [{"containerPortRange": "8000-8010"}]),
        ),
        CE,
        "containerPortRange is only supported when networkMode is awsvpc or bridge.",
        "port-range-network-modes",
    ),
    rule(
        build(put("networkMode", "overlay")),
        CE,
        "Invalid networkMode 'overlay'. Valid values are bridge, host, awsvpc and none.",
        "network-mode-values",
    ),
    # links
    rule(
        build(put("networkMode", "awsvpc"), put("c0.links", ["sidecar"])),
        CE,
        "Links are not supported when networkMode=awsvpc.",
        "links-bridge-only",
    ),
    rule(
        build(put("c0.links", ["db:database"])),
        CE,
        "Invalid 'links' setting. Unknown container: 'db'.",
        "links-known-container",
    ),
    # health checks
    rule(
        build(put("c0.healthCheck", {"command": []})),
        CE,
        "Invalid 'healthCheck' setting for container 'app'. 'command' should not be null or empty.",
        "health-check-command",
    ),
    rule(
        build(put("c0.healthCheck", {"command": CHECK, "interval": 4})),
        CE,
        "Invalid 'healthCheck' setting for container 'app'. "
        "'interval' must be between 5 and 300 seconds.",
        "health-check-interval",
    ),
    rule(
        build(put("c0.healthCheck", {"command": CHECK, "timeout": 121})),
        CE,
        "Invalid 'healthCheck' setting for container 'app'. "
        "'timeout' must be between 2 and 120 seconds.",
        "health-check-timeout",
    ),
    rule(
        build(put("c0.healthCheck", {"command": CHECK, "retries": 11})),
        CE,
        "Invalid 'healthCheck' setting for container 'app'. 'retries' must be between 1 and 10.",
        "health-check-retries",
    ),
    rule(
        build(put("c0.healthCheck", {"command": CHECK, "startPeriod": 301})),
        CE,
        "Invalid 'healthCheck' setting for container 'app'. "
        "'startPeriod' must be between 0 and 300 seconds.",
        "health-check-start-period",
    ),
    # volumes, mount points, volumesFrom
    rule(
        build(put("volumes", [{"name": "data"}, {"name": "data"}])),
        CE,
        "Volume names must be unique within a Task Definition.",
        "volume-names-unique",
    ),
    rule(
        build(put("volumes", [{"host": {}}])),
        CE,
        "Volume.name should not be null or empty.",
        "volume-name-required",
    ),
    rule(
        build(put("volumes", [{"name": "my data"}])),
        CE,
        "Volume.name contains invalid characters.",
        "volume-name-charset",
    ),
    rule(
        build(put("c0.mountPoints", [{"sourceVolume": "logs", "containerPath": "/logs"}])),
        CE,
        "Unknown volume 'logs'.",
        "mount-point-known-volume",
    ),
    rule(
        build(put("c0.mountPoints", [{"containerPath": "/logs"}])),
        CE,
        "Unknown volume 'null'.",
        "mount-point-source-volume-required",
    ),
    rule(
        build(put("c0.volumesFrom", [{"sourceContainer": "data"}])),
        CE,
        "Invalid 'volumesFrom' setting. Unknown container: 'data'.",
        "volumes-from-known-container",
    ),
    # dependsOn
    rule(
        build(put("c0.dependsOn", [{"containerName": "db", "condition": "START"}])),
        CE,
        "Cannot depend on container + 'db' because it does not exist",
        "depends-on-known-container",
    ),
    rule(
        build(put("c0.dependsOn", [{"containerName": "sidecar", "condition": "READY"}])),
        CE,
        "Invalid dependency condition 'READY' for container 'app'. "
        "Valid values are START, COMPLETE, SUCCESS and HEALTHY.",
        "depends-on-condition-values",
    ),
    rule(
        build(put("c0.dependsOn", [{"containerName": "sidecar", "condition": "HEALTHY"}])),
        CE,
        "The dependency container 'sidecar' must have a health check "
        "to be used with the HEALTHY condition.",
        "depends-on-healthy-needs-health-check",
    ),
    rule(
        build(put("c0.dependsOn", [{"containerName": "sidecar", "condition": "SUCCESS"}])),
        CE,
        "A dependency container with SUCCESS or COMPLETE condition "
        "cannot be an essential container",
        "depends-on-success-target-not-essential",
    ),
    rule(
        build(
            put("c0.dependsOn", [{"containerName": "sidecar", "condition": "START"}]),
            put("c1.dependsOn", [{"containerName": "app", "condition": "START"}]),
        ),
        CE,
        "The container dependencies form a cycle: app -> sidecar -> app.",
        "depends-on-no-cycles",
    ),
    # logging and registry credentials
    rule(
        build(
            put("c0.logConfiguration", {"logDriver": "awslogs", "options": {"awslogs-region": "x"}})
        ),
        CE,
        "Log driver awslogs requires options: awslogs-group",
        "awslogs-options",
    ),
    rule(
        build(
            put("c0.repositoryCredentials", {"credentialsParameter": "arn:aws:secretsmanager:x"})
        ),
        CE,
        "Private repository authentication requires that the task definition specify a value "
        "for executionRoleArn.",
        "private-registry-needs-execution-role",
    ),
    # placement constraints
    rule(
        build(put("placementConstraints", [MEMBER_OF] * 11)),
        CE,
        "Too many placement constraints.",
        "placement-constraints-max-10",
    ),
    rule(
        build(put("placementConstraints", [{"type": "distinctInstance"}])),
        CE,
        "constraint.type 'distinctInstance' is not supported.",
        "placement-constraint-member-of-only",
    ),
    rule(
        build(put("placementConstraints", [{"type": "memberOf"}])),
        CE,
        "constraint.expression should not be null or empty.",
        "placement-constraint-expression-required",
    ),
    rule(
        build(put("placementConstraints", [{"expression": "attribute:a == b"}])),
        CE,
        "constraint.type should not be null or empty.",
        "placement-constraint-type-required",
    ),
    # tags
    rule(
        build(put("tags", [{"key": "aws:owner", "value": "me"}])),
        IPE,
        "Tag keys cannot start with the reserved prefix 'aws:'.",
        "tags-no-aws-prefix",
    ),
    rule(
        build(put("tags", [{"key": f"k{i}", "value": "v"} for i in range(51)])),
        IPE,
        "The number of tags exceeds the limit of 50 tags per resource.",
        "tags-max-50",
    ),
]


@pytest.mark.parametrize(("build", "error", "message"), RULES)
def test_rule(build: Callable[[], Request], error: type[AwsError], message: str) -> None:
    with pytest.raises(AwsError) as raised:
        prepare_registration(build())
    assert type(raised.value) is error
    assert raised.value.message == message


@pytest.mark.parametrize("start", [ec2, fargate], ids=["ec2", "fargate"])
def test_the_starting_definitions_are_valid(start: Callable[[], Request]) -> None:
    prepare_registration(start())


# What a valid registration stores


def test_container_defaults_are_filled_in_as_ecs_does() -> None:
    body = prepare_registration(ec2()).body
    app = body["containerDefinitions"][0]
    assert app["cpu"] == 0
    assert app["essential"] is True
    for key in ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls"):
        assert app[key] == []
    assert body["volumes"] == []
    assert body["placementConstraints"] == []


def test_network_mode_stays_unset_when_not_given() -> None:
    assert "networkMode" not in prepare_registration(ec2()).body


def test_bridge_port_mappings_get_protocol_and_a_dynamic_host_port() -> None:
    request = ec2()
    container(request)["portMappings"] = [
        {"containerPort": 80},
        {"containerPort": 53, "protocol": "udp", "hostPort": 5353},
    ]
    mappings = prepare_registration(request).body["containerDefinitions"][0]["portMappings"]
    assert mappings == [
        {"containerPort": 80, "hostPort": 0, "protocol": "tcp"},
        {"containerPort": 53, "hostPort": 5353, "protocol": "udp"},
    ]


def test_awsvpc_host_port_defaults_to_the_container_port() -> None:
    mappings = prepare_registration(fargate()).body["containerDefinitions"][0]["portMappings"]
    assert mappings == [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]


def test_health_check_defaults_interval_timeout_retries() -> None:
    request = ec2()
    container(request)["healthCheck"] = {"command": ["CMD-SHELL", "true"]}
    check = prepare_registration(request).body["containerDefinitions"][0]["healthCheck"]
    assert check == {"command": ["CMD-SHELL", "true"], "interval": 30, "timeout": 5, "retries": 3}


def test_health_check_command_without_a_cmd_prefix_is_accepted_as_on_ecs() -> None:
    request = ec2()
    container(request)["healthCheck"] = {"command": ["/healthcheck"]}
    prepare_registration(request)


def test_request_is_not_modified() -> None:
    request = ec2()
    before = copy.deepcopy(request)
    prepare_registration(request)
    assert request == before


def test_tags_are_returned_apart_from_the_body() -> None:
    request = ec2()
    request["tags"] = [{"key": "team", "value": "web"}]
    registration = prepare_registration(request)
    assert registration.tags == {"team": "web"}
    assert "tags" not in registration.body and "family" not in registration.body


@pytest.mark.parametrize(
    ("cpu", "memory", "stored"),
    [
        ("1024", "2048", ("1024", "2048")),
        ("1 vCPU", "2GB", ("1024", "2048")),
        (".25 vcpu", "0.5 GB", ("256", "512")),
        ("2 vCPU", "4096 MiB", ("2048", "4096")),
    ],
)
def test_task_size_is_normalized_to_units_and_mib(
    cpu: str, memory: str, stored: tuple[str, str]
) -> None:
    request = fargate()
    request.update(cpu=cpu, memory=memory)
    body = prepare_registration(request).body
    assert (body["cpu"], body["memory"]) == stored


def test_parse_task_cpu_and_memory() -> None:
    assert parse_task_cpu("4 vCPU") == 4096
    assert parse_task_cpu(" 512 ") == 512
    assert parse_task_memory("30 GB") == 30720
    assert parse_task_memory("1g") == 1024
    for bad in ("1.5", "0.1 vCPU", "1 GHz", ""):
        with pytest.raises(ClientException):
            parse_task_cpu(bad)


def test_fargate_size_table_edges() -> None:
    assert fargate_memory_options(256) == (512, 1024, 2048)
    assert is_fargate_size(512, 4096) and not is_fargate_size(512, 5120)
    assert is_fargate_size(1024, 8192) and not is_fargate_size(1024, 1024)
    assert is_fargate_size(2048, 16384) and not is_fargate_size(2048, 17408)
    assert is_fargate_size(4096, 30720) and not is_fargate_size(4096, 31744)
    assert is_fargate_size(8192, 16384) and is_fargate_size(8192, 61440)
    assert not is_fargate_size(8192, 17408)
    assert is_fargate_size(16384, 32768) and is_fargate_size(16384, 122880)
    assert not is_fargate_size(16384, 36864)
    assert not is_fargate_size(128, 512)


def test_compatibilities_are_ec2_for_a_bridge_definition() -> None:
    assert prepare_registration(ec2()).body["compatibilities"] == ["EC2"]


def test_compatibilities_include_fargate_when_it_could_run_there() -> None:
    request = fargate()
    del request["requiresCompatibilities"]
    assert prepare_registration(request).body["compatibilities"] == ["EC2", "FARGATE"]


def test_compatibilities_list_external_when_asked_for() -> None:
    request = ec2()
    request["requiresCompatibilities"] = ["EXTERNAL"]
    assert prepare_registration(request).body["compatibilities"] == ["EC2", "EXTERNAL"]


def test_required_attributes_follow_the_features_used() -> None:
    request = fargate()
    request["taskRoleArn"] = "arn:aws:iam::123456789012:role/app"
    app = container(request)
    app["image"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1"
    app["logConfiguration"] = {
        "logDriver": "awslogs",
        "options": {"awslogs-group": "g", "awslogs-region": "eu-west-1"},
    }
    app["healthCheck"] = {"command": ["CMD", "true"]}
    request["containerDefinitions"].append(
        {
            "name": "worker",
            "image": "busybox",
            "essential": False,
            "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}],
        }
    )
    names = [a["name"] for a in prepare_registration(request).body["requiresAttributes"]]
    assert names == [
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "com.amazonaws.ecs.capability.docker-remote-api.1.19",
        "ecs.capability.execution-role-awslogs",
        "com.amazonaws.ecs.capability.docker-remote-api.1.18",
        "com.amazonaws.ecs.capability.ecr-auth",
        "ecs.capability.execution-role-ecr-pull",
        "ecs.capability.container-health-check",
        "ecs.capability.container-ordering",
        "com.amazonaws.ecs.capability.task-iam-role",
        "ecs.capability.task-eni",
    ]


def test_a_plain_bridge_definition_requires_no_attributes() -> None:
    assert prepare_registration(ec2()).body["requiresAttributes"] == []


# References


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web", TaskDefinitionRef("web")),
        ("web:3", TaskDefinitionRef("web", 3)),
        ("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3", TaskDefinitionRef("web", 3)),
        ("arn:aws:ecs:eu-west-1:123456789012:task-definition/web", None),
        ("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3", None),
        ("arn:aws:ecs:eu-west-1:999999999999:task-definition/web:3", None),
        ("arn:aws:ecs:eu-west-1:123456789012:cluster/web", None),
        ("web:0", None),
        ("web:latest", None),
        ("web app", None),
        ("", None),
    ],
)
def test_parse_task_definition_ref(text: str, expected: TaskDefinitionRef | None) -> None:
    assert parse_task_definition_ref(text, SCOPE) == expected


def test_document_round_trip_keeps_the_full_ecs_shape() -> None:
    registration = prepare_registration(fargate())
    definition = TaskDefinition(
        family="api",
        revision=7,
        arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/api:7",
        status="INACTIVE",
        registered_at=1.5,
        registered_by="arn:aws:iam::123456789012:root",
        body=registration.body,
        deregistered_at=2.5,
    )
    doc = definition.to_api()
    assert doc["revision"] == 7 and doc["deregisteredAt"] == 2.5
    assert "deleteRequestedAt" not in doc
    assert TaskDefinition.from_api(doc) == definition
