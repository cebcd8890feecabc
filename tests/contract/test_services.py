"""Every service operation through boto3 (and a few through the AWS CLI) against a
real server, with ECS's shapes, defaults, errors and wording.

The server has no agent: a service's tasks are placed only on container
instances a test registers itself through RegisterContainerInstance (they stay
PROVISIONING, nobody runs them); without one, the service controller reports
that it was unable to place a task. What the controller does over time is
awaited by polling, never by sleeping.

Where AWS's behaviour was checked (API reference, error texts users report):
"Creation of service was not idempotent." for a second CreateService of a live
name (also with the same clientToken but other parameters), "Unable to Start a
service that is still Draining." while the old one drains, "The service cannot
be stopped while it is scaled above 0." without force; UpdateService with
nothing changed starts no deployment unless forceNewDeployment;
UpdateTaskProtection refuses standalone tasks with TASK_NOT_VALID; ECS managed
tags are aws:ecs:serviceName and aws:ecs:clusterName.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest
from botocore.exceptions import ClientError

from tests.support.awscli import CliResult
from tests.support.server import ACCOUNT, REGION

Cli = Callable[..., CliResult]
Unique = Callable[[str], str]
T = TypeVar("T")

NOT_IDEMPOTENT = ("InvalidParameterException", "Creation of service was not idempotent.")
NOT_FOUND = ("ServiceNotFoundException", "Service not found.")
NOT_ACTIVE = ("ServiceNotActiveException", "Service was not ACTIVE.")
DEPLOYMENT_ID = re.compile(r"ecs-svc/\d{19}")


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    """(code, message) of the ClientError a boto3 call raises."""
    with pytest.raises(ClientError) as err:
        call(**params)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def cli_ok(result: CliResult) -> Any:
    assert result.returncode == 0, result.stderr
    return result.json


def cli_error(result: CliResult) -> tuple[str, str]:
    assert result.returncode != 0, result.stdout
    found = re.search(
        r"An error occurred \((\w+)\) when calling the \w+ operation: (.*)", result.stderr
    )
    assert found, result.stderr
    return found.group(1), found.group(2).strip()


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def service_arn(cluster: str, name: str) -> str:
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{name}"


def describe(ecs: Any, cluster: str, name: str, **params: Any) -> dict[str, Any]:
    found: dict[str, Any] = ecs.describe_services(cluster=cluster, services=[name], **params)[
        "services"
    ][0]
    return found


def service_tasks(ecs: Any, cluster: str, name: str) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(cluster=cluster, serviceName=name)["taskArns"]
    if not arns:
        return []
    found: list[dict[str, Any]] = ecs.describe_tasks(cluster=cluster, tasks=arns, include=["TAGS"])[
        "tasks"
    ]
    return found


@pytest.fixture
def cluster(ecs: Any, unique: Unique) -> str:
    name = unique("svc")
    ecs.create_cluster(clusterName=name)
    return name


@pytest.fixture
def td(ecs: Any, unique: Unique) -> str:
    """An EC2 (bridge) task definition; its ARN."""
    arn: str = ecs.register_task_definition(
        family=unique("svc-td"),
        containerDefinitions=[
            {"name": "app", "image": "busybox", "memory": 64, "command": ["sleep", "3600"]}
        ],
        tags=[{"key": "from", "value": "task-definition"}],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


@pytest.fixture
def fargate_td(ecs: Any, unique: Unique) -> str:
    arn: str = ecs.register_task_definition(
        family=unique("svc-fg"),
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox", "command": ["sleep", "3600"]}],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


@pytest.fixture
def instance(ecs: Any, cluster: str) -> str:
    """A container instance registered through the API (no agent runs its tasks)."""
    arn: str = ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps(
            {
                "instanceId": f"i-{uuid.uuid4().hex[:17]}",
                "availabilityZone": f"{REGION}a",
                "instanceType": "m5.large",
            }
        ),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192},
        ],
    )["containerInstance"]["containerInstanceArn"]
    return arn


VPC = {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}


# -- CreateService -------------------------------------------------------------------------


def test_create_service_returns_the_new_service_with_ecs_defaults(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")

    service = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]

    assert service["serviceName"] == name
    assert service["serviceArn"] == service_arn(cluster, name)
    assert service["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
    assert service["status"] == "ACTIVE"
    assert (service["desiredCount"], service["runningCount"], service["pendingCount"]) == (0, 0, 0)
    assert service["launchType"] == "EC2"
    assert service["taskDefinition"] == td
    assert service["schedulingStrategy"] == "REPLICA"
    assert service["deploymentController"] == {"type": "ECS"}
    assert service["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    assert service["propagateTags"] == "NONE"
    assert service["enableECSManagedTags"] is False
    assert service["healthCheckGracePeriodSeconds"] == 0
    assert isinstance(service["createdAt"], datetime)
    [deployment] = service["deployments"]
    assert DEPLOYMENT_ID.fullmatch(deployment["id"])
    assert deployment["status"] == "PRIMARY"
    assert deployment["rolloutState"] == "IN_PROGRESS"
    assert deployment["taskDefinition"] == td
    assert service["currentServiceDeployment"].startswith(
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{cluster}/{name}/"
    )
    assert service["tags"] == []


def test_create_service_with_the_same_client_token_is_idempotent(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name, token = unique("web"), str(uuid.uuid4())
    params = {"cluster": cluster, "serviceName": name, "taskDefinition": td, "clientToken": token}

    first = ecs.create_service(**params)["service"]
    second = ecs.create_service(**params)["service"]

    assert second["serviceArn"] == first["serviceArn"]
    assert second["createdAt"] == first["createdAt"]
    assert [d["id"] for d in second["deployments"]] == [d["id"] for d in first["deployments"]]


@pytest.mark.parametrize(
    "change",
    [{"desiredCount": 2}, {"launchType": "FARGATE"}, {"propagateTags": "SERVICE"}],
    ids=["desired count", "launch type", "tag propagation"],
)
def test_the_same_client_token_with_other_parameters_is_not_idempotent(
    ecs: Any, cluster: str, td: str, unique: Unique, change: dict[str, Any]
) -> None:
    name, token = unique("web"), str(uuid.uuid4())
    params = {"cluster": cluster, "serviceName": name, "taskDefinition": td, "clientToken": token}
    first = ecs.create_service(**params)["service"]

    assert error(ecs.create_service, **params, **change) == NOT_IDEMPOTENT
    assert describe(ecs, cluster, name)["createdAt"] == first["createdAt"]
    assert ecs.create_service(**params)["service"]["serviceArn"] == first["serviceArn"]


@pytest.mark.parametrize("second_token", [None, "another-token"], ids=["no token", "other token"])
def test_create_service_again_is_not_idempotent(
    ecs: Any, cluster: str, td: str, unique: Unique, second_token: str | None
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, clientToken="first")
    again: dict[str, Any] = {"cluster": cluster, "serviceName": name, "taskDefinition": td}
    if second_token:
        again["clientToken"] = second_token

    assert error(ecs.create_service, **again) == NOT_IDEMPOTENT


def test_create_service_while_the_old_one_drains_is_refused(
    ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=1)
    eventually(lambda: service_tasks(ecs, cluster, name), "the service's task")
    # Nobody runs the task on this instance, so it never stops: the service stays DRAINING.
    ecs.delete_service(cluster=cluster, service=name, force=True)

    assert error(ecs.create_service, cluster=cluster, serviceName=name, taskDefinition=td) == (
        "InvalidParameterException",
        "Unable to Start a service that is still Draining.",
    )


def test_a_deleted_service_name_can_be_used_again_once_inactive(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    first = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]
    ecs.delete_service(cluster=cluster, service=name)
    eventually(lambda: describe(ecs, cluster, name)["status"] == "INACTIVE", "INACTIVE")

    second = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]

    assert second["status"] == "ACTIVE"
    assert second["createdAt"] > first["createdAt"]
    assert describe(ecs, cluster, name)["createdAt"] == second["createdAt"]


def test_create_service_with_everything_keeps_it(
    ecs: Any, cluster: str, fargate_td: str, unique: Unique
) -> None:
    name = unique("web")
    config = {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 150,
        "minimumHealthyPercent": 50,
    }

    created = ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=fargate_td,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=VPC,
        deploymentConfiguration=config,
        placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}],
        propagateTags="SERVICE",
        enableECSManagedTags=True,
        tags=[{"key": "team", "value": "web"}],
    )["service"]
    described = describe(ecs, cluster, name, include=["TAGS"])

    for service in (created, described):
        assert service["launchType"] == "FARGATE"
        assert service["networkConfiguration"] == VPC
        assert service["deploymentConfiguration"] == config
        assert service["placementStrategy"] == [
            {"type": "spread", "field": "attribute:ecs.availability-zone"}
        ]
        assert service["propagateTags"] == "SERVICE"
        assert service["enableECSManagedTags"] is True
        assert service["tags"] == [{"key": "team", "value": "web"}]
        assert service["desiredCount"] == 2


def test_a_health_check_grace_period_is_kept_without_a_load_balancer(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    """It covers container health checks as well as load balancer ones, as on ECS today."""
    name = unique("web")

    created = ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, healthCheckGracePeriodSeconds=30
    )["service"]
    updated = ecs.update_service(cluster=cluster, service=name, healthCheckGracePeriodSeconds=45)[
        "service"
    ]

    assert created["healthCheckGracePeriodSeconds"] == 30
    assert updated["healthCheckGracePeriodSeconds"] == 45
    assert describe(ecs, cluster, name)["healthCheckGracePeriodSeconds"] == 45
    assert len(updated["deployments"]) == 1  # it starts no deployment


def test_create_service_in_an_unknown_cluster(ecs: Any, td: str, unique: Unique) -> None:
    assert error(
        ecs.create_service, cluster=unique("nope"), serviceName="web", taskDefinition=td
    ) == ("ClusterNotFoundException", "Cluster not found.")


def test_create_service_with_an_unknown_task_definition(ecs: Any, cluster: str) -> None:
    assert error(
        ecs.create_service, cluster=cluster, serviceName="web", taskDefinition="nope-nope:7"
    ) == ("ClientException", "Unable to describe task definition.")


def test_create_service_with_an_inactive_task_definition(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    ecs.deregister_task_definition(taskDefinition=td)

    assert error(
        ecs.create_service, cluster=cluster, serviceName=unique("web"), taskDefinition=td
    ) == ("InvalidParameterException", "TaskDefinition is inactive")


INVALID_CREATES: list[tuple[str, dict[str, Any], str]] = [
    (
        "name with spaces",
        {"serviceName": "no spaces"},
        "Service name can only contain letters, numbers, hyphens and underscores, "
        "and be 1 to 255 characters long.",
    ),
    ("negative desired count", {"desiredCount": -1}, "desiredCount cannot be negative."),
    (
        "daemon with a desired count",
        {"schedulingStrategy": "DAEMON", "desiredCount": 2},
        "The daemon scheduling strategy does not support a desired count for services.",
    ),
    (
        "daemon on Fargate",
        {"schedulingStrategy": "DAEMON", "launchType": "FARGATE"},
        "The daemon scheduling strategy does not support the FARGATE launch type.",
    ),
    (
        "launch type and capacity provider strategy",
        {"launchType": "EC2", "capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
        "Specifying both a launch type and capacity provider strategy is not supported. "
        "Remove one and try again.",
    ),
    (
        "minimum healthy above 100",
        {"deploymentConfiguration": {"minimumHealthyPercent": 101}},
        "minimumHealthyPercent must be between 0 and 100 inclusive.",
    ),
    (
        "maximum below 100",
        {"deploymentConfiguration": {"maximumPercent": 90}},
        "maximumPercent must be greater than or equal to 100.",
    ),
    (
        "load balancer on an unknown container",
        {
            "loadBalancers": [
                {"targetGroupArn": "arn:aws:elasticloadbalancing:tg", "containerName": "x"}
            ]
        },
        "The container x does not exist in the task definition.",
    ),
    (
        "network configuration for a bridge task",
        {"networkConfiguration": VPC},
        "Network Configuration is not valid for the given networkMode of this task definition.",
    ),
    (
        "Fargate for an EC2-only task definition",
        {"launchType": "FARGATE"},
        "Task definition does not support launch_type FARGATE.",
    ),
]


@pytest.mark.parametrize(
    ("params", "message"),
    [(p, m) for _, p, m in INVALID_CREATES],
    ids=[name for name, _, _ in INVALID_CREATES],
)
def test_create_service_validation(
    ecs: Any, cluster: str, td: str, unique: Unique, params: dict[str, Any], message: str
) -> None:
    request = {"cluster": cluster, "serviceName": unique("web"), "taskDefinition": td, **params}

    assert error(ecs.create_service, **request) == ("InvalidParameterException", message)


def test_an_awsvpc_service_needs_a_network_configuration(
    ecs: Any, cluster: str, fargate_td: str, unique: Unique
) -> None:
    assert error(
        ecs.create_service,
        cluster=cluster,
        serviceName=unique("web"),
        taskDefinition=fargate_td,
        launchType="FARGATE",
    ) == (
        "InvalidParameterException",
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    )


def test_create_service_validation_through_the_aws_cli(aws: Cli, cluster: str, td: str) -> None:
    result = aws(
        "ecs",
        "create-service",
        "--cluster",
        cluster,
        "--service-name",
        "daemon-with-count",
        "--task-definition",
        td,
        "--scheduling-strategy",
        "DAEMON",
        "--desired-count",
        "1",
    )

    assert cli_error(result) == (
        "InvalidParameterException",
        "The daemon scheduling strategy does not support a desired count for services.",
    )


# -- placement and service tasks -----------------------------------------------------------


def test_without_capacity_the_service_says_it_was_unable_to_place_a_task(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=2)

    message = eventually(
        lambda: next(
            (
                e["message"]
                for e in describe(ecs, cluster, name)["events"]
                if "was unable to place a task" in e["message"]
            ),
            None,
        ),
        "the placement failure event",
    )

    assert message == (
        f"(service {name}) was unable to place a task because no container instance met all "
        "of its requirements. Reason: No Container Instances were found in your cluster. "
        "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    )
    service = describe(ecs, cluster, name)
    assert (service["runningCount"], service["pendingCount"]) == (0, 0)
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"


def register_instance(ecs: Any, cluster: str) -> str:
    arn: str = ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps(
            {"instanceId": f"i-{uuid.uuid4().hex[:17]}", "availabilityZone": f"{REGION}a"}
        ),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
        ],
    )["containerInstance"]["containerInstanceArn"]
    return arn


def test_a_daemon_service_runs_only_on_instances_its_placement_constraints_select(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    web, other, batch = (register_instance(ecs, cluster) for _ in range(3))
    ecs.put_attributes(
        cluster=cluster,
        attributes=[
            {"name": "role", "value": "web", "targetId": web},
            {"name": "role", "value": "web", "targetId": other},
            {"name": "role", "value": "batch", "targetId": batch},
        ],
    )
    name = unique("logs")

    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td,
        schedulingStrategy="DAEMON",
        placementConstraints=[{"type": "memberOf", "expression": "attribute:role == web"}],
    )

    tasks = eventually(
        lambda: (found := service_tasks(ecs, cluster, name)) and len(found) == 2 and found,
        "a task on each web instance",
    )
    assert sorted(t["containerInstanceArn"] for t in tasks) == sorted([web, other])
    service = describe(ecs, cluster, name)
    assert service["desiredCount"] == 2
    assert service["deployments"][0]["desiredCount"] == 2
    assert not [e for e in service["events"] if "unable to place" in e["message"]]


def test_service_tasks_carry_the_service_group_and_the_deployment_as_started_by(
    ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    service = ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=3
    )["service"]
    deployment = service["deployments"][0]["id"]

    tasks = eventually(
        lambda: (found := service_tasks(ecs, cluster, name)) and len(found) == 3 and found,
        "three tasks",
    )

    for task in tasks:
        assert task["group"] == f"service:{name}"
        assert task["startedBy"] == deployment
        assert task["taskDefinitionArn"] == td
        assert task["containerInstanceArn"] == instance
        assert task["desiredStatus"] == "RUNNING"
    described = describe(ecs, cluster, name)
    assert described["pendingCount"] == 3
    assert described["deployments"][0]["pendingCount"] == 3
    assert any(
        e["message"].startswith(f"(service {name}) has started 3 tasks:")
        for e in described["events"]
    )


@pytest.mark.parametrize(
    ("propagate", "managed", "expected"),
    [
        ("NONE", False, {}),
        ("NONE", True, {"aws:ecs:serviceName": "{name}", "aws:ecs:clusterName": "{cluster}"}),
        ("SERVICE", False, {"team": "web"}),
        ("TASK_DEFINITION", False, {"from": "task-definition"}),
    ],
)
def test_service_tasks_get_managed_and_propagated_tags(
    ecs: Any,
    cluster: str,
    td: str,
    instance: str,
    unique: Unique,
    propagate: str,
    managed: bool,
    expected: dict[str, str],
) -> None:
    name = unique("web")
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td,
        desiredCount=1,
        propagateTags=propagate,
        enableECSManagedTags=managed,
        tags=[{"key": "team", "value": "web"}],
    )

    [task] = eventually(lambda: service_tasks(ecs, cluster, name), "the task")

    tags = {t["key"]: t["value"] for t in task.get("tags", [])}
    assert tags == {k: v.format(name=name, cluster=cluster) for k, v in expected.items()}


def test_a_service_still_scales_after_its_task_definition_is_deregistered(
    ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=1)
    eventually(lambda: service_tasks(ecs, cluster, name), "the first task")
    ecs.deregister_task_definition(taskDefinition=td)

    ecs.update_service(cluster=cluster, service=name, desiredCount=2)

    eventually(lambda: len(service_tasks(ecs, cluster, name)) == 2, "a second task", timeout=10)


# -- UpdateService -------------------------------------------------------------------------


def test_update_desired_count_starts_no_deployment(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    created = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]

    updated = ecs.update_service(cluster=cluster, service=name, desiredCount=4)["service"]

    assert updated["desiredCount"] == 4
    assert [d["id"] for d in updated["deployments"]] == [d["id"] for d in created["deployments"]]
    assert updated["deployments"][0]["desiredCount"] == 4


def test_update_to_a_new_task_definition_starts_a_deployment(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    first = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]
    family = td.rsplit("/", 1)[-1].split(":")[0]
    newer = ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": "busybox:2", "memory": 64}],
    )["taskDefinition"]["taskDefinitionArn"]

    updated = ecs.update_service(cluster=cluster, service=name, taskDefinition=family)["service"]

    assert updated["taskDefinition"] == newer
    primary, previous = updated["deployments"]
    assert (primary["status"], primary["taskDefinition"]) == ("PRIMARY", newer)
    assert primary["id"] != first["deployments"][0]["id"]
    assert (previous["status"], previous["id"]) == ("ACTIVE", first["deployments"][0]["id"])
    # The replaced deployment had no tasks: the controller retires it.
    eventually(
        lambda: [d["status"] for d in describe(ecs, cluster, name)["deployments"]] == ["PRIMARY"],
        "the old deployment to retire",
    )


def test_update_with_the_same_task_definition_starts_no_deployment(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    created = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]

    updated = ecs.update_service(cluster=cluster, service=name, taskDefinition=td)["service"]

    assert [d["id"] for d in updated["deployments"]] == [d["id"] for d in created["deployments"]]


def test_force_new_deployment_starts_a_deployment_of_the_same_task_definition(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    created = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]

    updated = ecs.update_service(cluster=cluster, service=name, forceNewDeployment=True)["service"]

    primary = updated["deployments"][0]
    assert primary["status"] == "PRIMARY"
    assert primary["taskDefinition"] == td
    assert primary["id"] != created["deployments"][0]["id"]
    assert updated["currentServiceDeployment"] != created["currentServiceDeployment"]


def test_update_deployment_configuration_is_merged_and_validated(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)

    updated = ecs.update_service(
        cluster=cluster,
        service=name,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )["service"]

    assert updated["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    assert error(
        ecs.update_service,
        cluster=cluster,
        service=name,
        deploymentConfiguration={"minimumHealthyPercent": 120},
    ) == (
        "InvalidParameterException",
        "minimumHealthyPercent must be between 0 and 100 inclusive.",
    )


def test_update_an_unknown_service(ecs: Any, cluster: str) -> None:
    assert error(ecs.update_service, cluster=cluster, service="nope", desiredCount=1) == NOT_FOUND


def test_update_a_deleted_service(ecs: Any, cluster: str, td: str, unique: Unique) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)
    ecs.delete_service(cluster=cluster, service=name)

    assert error(ecs.update_service, cluster=cluster, service=name, desiredCount=1) == NOT_ACTIVE


def test_update_a_daemon_service_desired_count_is_refused(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("daemon")
    ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, schedulingStrategy="DAEMON"
    )

    assert error(ecs.update_service, cluster=cluster, service=name, desiredCount=3) == (
        "InvalidParameterException",
        "The daemon scheduling strategy does not support a desired count for services.",
    )


def test_update_service_through_the_aws_cli(
    aws: Cli, ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)

    updated = cli_ok(
        aws(
            "ecs",
            "update-service",
            "--cluster",
            cluster,
            "--service",
            name,
            "--desired-count",
            "0",
            "--force-new-deployment",
        )
    )["service"]

    assert len(updated["deployments"]) == 2
    assert updated["deployments"][0]["status"] == "PRIMARY"


# -- DeleteService -------------------------------------------------------------------------


def test_delete_a_scaled_up_service_needs_force(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=2)

    assert error(ecs.delete_service, cluster=cluster, service=name) == (
        "InvalidParameterException",
        "The service cannot be stopped while it is scaled above 0.",
    )
    assert describe(ecs, cluster, name)["status"] == "ACTIVE"


def test_force_delete_drains_the_service_and_stops_its_tasks(
    ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=2)
    eventually(lambda: len(service_tasks(ecs, cluster, name)) == 2, "two tasks")

    deleted = ecs.delete_service(cluster=cluster, service=name, force=True)["service"]

    assert deleted["status"] == "DRAINING"
    assert deleted["desiredCount"] == 0
    stopping = eventually(
        lambda: (
            all(t["desiredStatus"] == "STOPPED" for t in service_tasks_any(ecs, cluster, name))
            and service_tasks_any(ecs, cluster, name)
        ),
        "the tasks to be asked to stop",
    )
    assert {t["stopCode"] for t in stopping} == {"ServiceSchedulerInitiated"}


def service_tasks_any(ecs: Any, cluster: str, name: str) -> list[dict[str, Any]]:
    arns: list[str] = []
    for status in ("RUNNING", "STOPPED"):
        arns += ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=status)["taskArns"]
    if not arns:
        return []
    found: list[dict[str, Any]] = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    return found


def test_delete_a_service_scaled_to_zero_makes_it_inactive(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)

    deleted = ecs.delete_service(cluster=cluster, service=name)["service"]

    assert deleted["status"] == "DRAINING"
    inactive = eventually(
        lambda: (s := describe(ecs, cluster, name))["status"] == "INACTIVE" and s,
        "the service to become INACTIVE",
    )
    assert inactive["taskDefinition"] == td
    assert error(ecs.delete_service, cluster=cluster, service=name) == NOT_ACTIVE


def test_delete_an_unknown_service(ecs: Any, cluster: str) -> None:
    assert error(ecs.delete_service, cluster=cluster, service="nope") == NOT_FOUND


# -- DescribeServices and ListServices ------------------------------------------------------


def test_describe_services_reports_unknown_services_as_missing(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)
    foreign = service_arn(cluster, "also-missing")

    found = ecs.describe_services(cluster=cluster, services=[name, "missing", foreign])

    assert [s["serviceName"] for s in found["services"]] == [name]
    assert found["failures"] == [
        {"arn": service_arn(cluster, "missing"), "reason": "MISSING"},
        {"arn": foreign, "reason": "MISSING"},
    ]


def test_describe_services_by_arn_shows_tags_only_when_asked(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    arn = ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=td,
        tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
    )["service"]["serviceArn"]

    plain = describe(ecs, cluster, arn)
    tagged = describe(ecs, cluster, arn, include=["TAGS"])

    assert "tags" not in plain
    assert sorted(tagged["tags"], key=lambda t: t["key"]) == [
        {"key": "a", "value": "1"},
        {"key": "b", "value": "2"},
    ]


def test_describe_services_takes_one_to_ten_services(ecs: Any, cluster: str) -> None:
    assert error(ecs.describe_services, cluster=cluster, services=[f"s{i}" for i in range(11)]) == (
        "InvalidParameterException",
        "services must name between 1 and 10 services.",
    )


def test_describe_services_in_an_unknown_cluster(ecs: Any, unique: Unique) -> None:
    assert error(ecs.describe_services, cluster=unique("nope"), services=["web"]) == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_describe_services_through_the_aws_cli(
    aws: Cli, ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)

    found = cli_ok(aws("ecs", "describe-services", "--cluster", cluster, "--services", name, "x"))

    assert found["services"][0]["serviceArn"] == service_arn(cluster, name)
    assert found["failures"] == [{"arn": service_arn(cluster, "x"), "reason": "MISSING"}]


@pytest.fixture
def listed_cluster(
    ecs: Any, cluster: str, td: str, fargate_td: str
) -> tuple[str, list[str], list[str], list[str]]:
    """A cluster with 5 EC2 replica services, 2 Fargate ones and 1 daemon; their ARNs."""
    ec2 = [
        ecs.create_service(cluster=cluster, serviceName=f"ec2-{i}", taskDefinition=td)["service"][
            "serviceArn"
        ]
        for i in range(5)
    ]
    fargate = [
        ecs.create_service(
            cluster=cluster,
            serviceName=f"fg-{i}",
            taskDefinition=fargate_td,
            launchType="FARGATE",
            networkConfiguration=VPC,
        )["service"]["serviceArn"]
        for i in range(2)
    ]
    daemon = [
        ecs.create_service(
            cluster=cluster, serviceName="daemon", taskDefinition=td, schedulingStrategy="DAEMON"
        )["service"]["serviceArn"]
    ]
    return cluster, ec2, fargate, daemon


def test_list_services_pages_through_every_service_with_the_paginator(
    ecs: Any, listed_cluster: tuple[str, list[str], list[str], list[str]]
) -> None:
    cluster, ec2, fargate, daemon = listed_cluster

    pages = list(
        ecs.get_paginator("list_services").paginate(
            cluster=cluster, PaginationConfig={"PageSize": 3}
        )
    )

    assert [len(p["serviceArns"]) for p in pages] == [3, 3, 2]
    listed = [arn for p in pages for arn in p["serviceArns"]]
    assert sorted(listed) == sorted(ec2 + fargate + daemon)


def test_list_services_by_launch_type_and_scheduling_strategy(
    ecs: Any, listed_cluster: tuple[str, list[str], list[str], list[str]]
) -> None:
    cluster, ec2, fargate, daemon = listed_cluster

    def listed(**filters: Any) -> list[str]:
        pages = ecs.get_paginator("list_services").paginate(cluster=cluster, **filters)
        return sorted(arn for p in pages for arn in p["serviceArns"])

    assert listed(launchType="FARGATE") == sorted(fargate)
    assert listed(launchType="EC2") == sorted(ec2 + daemon)
    assert listed(schedulingStrategy="DAEMON") == daemon
    assert listed(schedulingStrategy="REPLICA", launchType="EC2") == sorted(ec2)


def test_a_capacity_provider_strategy_replaces_the_launch_type(
    ecs: Any, cluster: str, fargate_td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(
        cluster=cluster,
        serviceName=name,
        taskDefinition=fargate_td,
        launchType="FARGATE",
        networkConfiguration=VPC,
    )
    strategy = [{"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 0}]

    updated = ecs.update_service(cluster=cluster, service=name, capacityProviderStrategy=strategy)[
        "service"
    ]
    listed = ecs.list_services(cluster=cluster, launchType="FARGATE")["serviceArns"]

    assert "launchType" not in updated
    assert updated["capacityProviderStrategy"] == strategy
    assert updated["deployments"][0]["capacityProviderStrategy"] == strategy
    assert service_arn(cluster, name) not in listed


def test_list_services_of_an_unknown_cluster(ecs: Any, unique: Unique) -> None:
    assert error(ecs.list_services, cluster=unique("nope")) == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


# -- service deployments and revisions ------------------------------------------------------


def test_service_deployments_and_revisions_record_each_rollout(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    first = ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)["service"]
    second = ecs.update_service(cluster=cluster, service=name, forceNewDeployment=True)["service"]
    # With no tasks to run, the new deployment completes and the old one is replaced.
    eventually(
        lambda: ecs.list_service_deployments(cluster=cluster, service=name, status=["SUCCESSFUL"])[
            "serviceDeployments"
        ],
        "a successful deployment",
    )

    listed = ecs.list_service_deployments(cluster=cluster, service=name)["serviceDeployments"]

    assert [d["serviceDeploymentArn"] for d in listed] == [
        second["currentServiceDeployment"],
        first["currentServiceDeployment"],
    ]
    assert [d["status"] for d in listed] == ["SUCCESSFUL", "STOPPED"]
    for brief in listed:
        assert brief["serviceArn"] == service_arn(cluster, name)
        assert brief["targetServiceRevisionArn"].startswith(
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{cluster}/{name}/"
        )

    described = ecs.describe_service_deployments(
        serviceDeploymentArns=[d["serviceDeploymentArn"] for d in listed]
        + [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{cluster}/{name}/nope"]
    )
    newest, oldest = described["serviceDeployments"]
    assert newest["sourceServiceRevisions"] == [{"arn": oldest["targetServiceRevision"]["arn"]}]
    assert newest["deploymentCircuitBreaker"]["status"] == "DISABLED"
    assert newest["deploymentConfiguration"]["maximumPercent"] == 200
    assert described["failures"][0]["reason"] == "MISSING"

    revisions = ecs.describe_service_revisions(
        serviceRevisionArns=[newest["targetServiceRevision"]["arn"]]
    )["serviceRevisions"]
    assert [(r["taskDefinition"], r["launchType"]) for r in revisions] == [(td, "EC2")]


def test_list_service_deployments_pages_and_filters_by_creation_time(
    ecs: Any, cluster: str, td: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td)
    for _ in range(3):
        ecs.update_service(cluster=cluster, service=name, forceNewDeployment=True)

    pages = [ecs.list_service_deployments(cluster=cluster, service=name, maxResults=3)]
    while pages[-1].get("nextToken"):
        pages.append(
            ecs.list_service_deployments(
                cluster=cluster, service=name, maxResults=3, nextToken=pages[-1]["nextToken"]
            )
        )
    everything = [d for p in pages for d in p["serviceDeployments"]]
    newest = everything[0]["createdAt"]
    recent = ecs.list_service_deployments(
        cluster=cluster, service=name, createdAt={"after": newest}
    )["serviceDeployments"]

    assert [len(p["serviceDeployments"]) for p in pages] == [3, 1]
    assert len({d["serviceDeploymentArn"] for d in everything}) == 4
    assert [d["serviceDeploymentArn"] for d in recent] == [everything[0]["serviceDeploymentArn"]]


def test_service_deployment_arns_must_be_well_formed(ecs: Any) -> None:
    assert error(ecs.describe_service_deployments, serviceDeploymentArns=["not-an-arn"]) == (
        "InvalidParameterException",
        "Invalid service-deployment ARN: not-an-arn",
    )


def test_service_deployments_of_an_unknown_service(ecs: Any, cluster: str) -> None:
    assert error(ecs.list_service_deployments, cluster=cluster, service="nope") == NOT_FOUND


# -- task protection -----------------------------------------------------------------------


def test_protect_a_service_task_and_read_it_back(
    ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=1)
    [task] = eventually(lambda: service_tasks(ecs, cluster, name), "the task")
    before = time.time()

    updated = ecs.update_task_protection(
        cluster=cluster, tasks=[task["taskArn"]], protectionEnabled=True, expiresInMinutes=60
    )
    read = ecs.get_task_protection(cluster=cluster, tasks=[task["taskArn"].rsplit("/", 1)[-1]])

    for result in (updated, read):
        [protected] = result["protectedTasks"]
        assert protected["taskArn"] == task["taskArn"]
        assert protected["protectionEnabled"] is True
        expires = protected["expirationDate"].timestamp()
        assert before + 3600 - 5 <= expires <= time.time() + 3600 + 5
        assert result["failures"] == []

    cleared = ecs.update_task_protection(
        cluster=cluster, tasks=[task["taskArn"]], protectionEnabled=False
    )["protectedTasks"][0]
    assert cleared["protectionEnabled"] is False
    assert "expirationDate" not in cleared


def test_protection_defaults_to_two_hours(
    ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=1)
    [task] = eventually(lambda: service_tasks(ecs, cluster, name), "the task")
    before = time.time()

    [protected] = ecs.update_task_protection(
        cluster=cluster, tasks=[task["taskArn"]], protectionEnabled=True
    )["protectedTasks"]

    assert before + 7200 - 5 <= protected["expirationDate"].timestamp() <= time.time() + 7205


def test_scale_in_spares_the_protected_task(
    ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=2)
    first, second = eventually(
        lambda: (found := service_tasks(ecs, cluster, name)) and len(found) == 2 and found,
        "two tasks",
    )
    ecs.update_task_protection(cluster=cluster, tasks=[first["taskArn"]], protectionEnabled=True)

    ecs.update_service(cluster=cluster, service=name, desiredCount=1)

    [kept] = eventually(
        lambda: (found := service_tasks(ecs, cluster, name)) and len(found) == 1 and found,
        "one task left",
    )
    assert kept["taskArn"] == first["taskArn"]
    [gone] = ecs.describe_tasks(cluster=cluster, tasks=[second["taskArn"]])["tasks"]
    assert (gone["desiredStatus"], gone["stoppedReason"]) == (
        "STOPPED",
        "Service desired count was reduced.",
    )


def test_protection_of_standalone_missing_and_unknown_tasks_fails(
    ecs: Any, cluster: str, td: str, instance: str
) -> None:
    [standalone] = ecs.run_task(cluster=cluster, taskDefinition=td)["tasks"]
    missing = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{uuid.uuid4().hex}"

    result = ecs.update_task_protection(
        cluster=cluster, tasks=[standalone["taskArn"], missing], protectionEnabled=True
    )

    assert result["protectedTasks"] == []
    assert result["failures"] == [
        {
            "arn": standalone["taskArn"],
            "reason": "TASK_NOT_VALID",
            "detail": "The task is not part of a service.",
        },
        {"arn": missing, "reason": "MISSING"},
    ]


@pytest.mark.parametrize("minutes", [0, 2881])
def test_protection_lasts_one_minute_to_48_hours(ecs: Any, cluster: str, minutes: int) -> None:
    assert error(
        ecs.update_task_protection,
        cluster=cluster,
        tasks=["abc"],
        protectionEnabled=True,
        expiresInMinutes=minutes,
    ) == ("InvalidParameterException", "expiresInMinutes must be between 1 and 2880 minutes.")


def test_task_protection_through_the_aws_cli(
    aws: Cli, ecs: Any, cluster: str, td: str, instance: str, unique: Unique
) -> None:
    name = unique("web")
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=1)
    [task] = eventually(lambda: service_tasks(ecs, cluster, name), "the task")

    updated = cli_ok(
        aws(
            "ecs",
            "update-task-protection",
            "--cluster",
            cluster,
            "--tasks",
            task["taskArn"],
            "--protection-enabled",
            "--expires-in-minutes",
            "5",
        )
    )

    assert updated["protectedTasks"][0]["protectionEnabled"] is True
    read = ecs.get_task_protection(cluster=cluster, tasks=[task["taskArn"]])
    assert read["protectedTasks"][0]["protectionEnabled"] is True
