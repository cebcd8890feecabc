"""Application Auto Scaling for ECS services through boto3 and the AWS CLI: scalable
targets, target tracking and step scaling policies, scheduled actions, scaling
activities, and AWS's errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.awscli import CliResult
from tests.support.server import ACCOUNT, REGION, ServerProcess

Unique = Callable[[str], str]
Aws = Callable[..., CliResult]
DIM = "ecs:service:DesiredCount"
KIND = {"ServiceNamespace": "ecs", "ScalableDimension": DIM}
CPU_POLICY = {
    "TargetValue": 50.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    "ScaleOutCooldown": 60,
    "ScaleInCooldown": 120,
}


@pytest.fixture(scope="module")
def scaling(server: ServerProcess) -> Any:
    return server.client("application-autoscaling")


@pytest.fixture
def service(ecs: Any, unique: Unique) -> str:
    """An ACTIVE service (desired count 1, no capacity needed); its resource id."""
    cluster = unique("as")
    ecs.create_cluster(clusterName=cluster)
    family = unique("as-td")
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}],
    )
    ecs.create_service(cluster=cluster, serviceName="web", taskDefinition=family, desiredCount=1)
    return f"service/{cluster}/web"


@pytest.fixture
def target(scaling: Any, service: str) -> str:
    scaling.register_scalable_target(**KIND, ResourceId=service, MinCapacity=1, MaxCapacity=5)
    return service


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**params)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def cli_json(result: CliResult) -> Any:
    assert result.returncode == 0, result.stderr
    return result.json


# --- scalable targets ----------------------------------------------------------------


def test_a_registered_target_is_described_as_aws_shows_it(scaling: Any, service: str) -> None:
    before = time.time()
    arn = scaling.register_scalable_target(
        **KIND, ResourceId=service, MinCapacity=2, MaxCapacity=8
    )["ScalableTargetARN"]
    assert arn.startswith(f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:scalable-target/")
    [found] = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[service])[
        "ScalableTargets"
    ]
    assert found["ResourceId"] == service
    assert (found["MinCapacity"], found["MaxCapacity"]) == (2, 8)
    assert found["ScalableTargetARN"] == arn
    assert found["RoleARN"].endswith("AWSServiceRoleForApplicationAutoScaling_ECSService")
    assert found["CreationTime"].timestamp() >= before - 1
    assert found["SuspendedState"] == {
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }


def test_registering_again_updates_only_what_is_given(scaling: Any, target: str) -> None:
    scaling.register_scalable_target(
        **KIND,
        ResourceId=target,
        MaxCapacity=9,
        SuspendedState={"DynamicScalingInSuspended": True},
    )
    [found] = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[target])[
        "ScalableTargets"
    ]
    assert (found["MinCapacity"], found["MaxCapacity"]) == (1, 9)
    assert found["SuspendedState"]["DynamicScalingInSuspended"] is True
    assert found["SuspendedState"]["ScheduledScalingSuspended"] is False


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ResourceId": "service/nope/web", "MinCapacity": 1, "MaxCapacity": 2}, "doesn't exist"),
        ({"ResourceId": "cluster/web", "MinCapacity": 1, "MaxCapacity": 2}, "Unsupported resource"),
        ({"ResourceId": "service/nope/web"}, "doesn't exist"),
    ],
)
def test_register_scalable_target_refuses_what_aws_refuses(
    scaling: Any, params: dict[str, Any], message: str
) -> None:
    code, text = error(scaling.register_scalable_target, **KIND, **params)
    assert code == "ValidationException"
    assert message in text


def test_a_new_target_needs_min_and_max_and_min_at_most_max(scaling: Any, service: str) -> None:
    code, text = error(scaling.register_scalable_target, **KIND, ResourceId=service, MinCapacity=1)
    assert (code, "MinCapacity and MaxCapacity are required" in text) == (
        "ValidationException",
        True,
    )
    code, text = error(
        scaling.register_scalable_target, **KIND, ResourceId=service, MinCapacity=5, MaxCapacity=2
    )
    assert (code, text) == (
        "ValidationException",
        "Minimum capacity cannot be greater than maximum capacity",
    )


def test_another_namespace_is_refused(scaling: Any) -> None:
    code, _ = error(
        scaling.describe_scalable_targets, ServiceNamespace="dynamodb", ResourceIds=["table/t"]
    )
    assert code == "ValidationException"


def test_deregistering_a_target_removes_it_with_its_policies(scaling: Any, target: str) -> None:
    scaling.put_scaling_policy(
        **KIND,
        ResourceId=target,
        PolicyName="cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=CPU_POLICY,
    )
    scaling.deregister_scalable_target(**KIND, ResourceId=target)
    assert (
        scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[target])[
            "ScalableTargets"
        ]
        == []
    )
    assert (
        scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=target)[
            "ScalingPolicies"
        ]
        == []
    )
    code, text = error(scaling.deregister_scalable_target, **KIND, ResourceId=target)
    assert code == "ObjectNotFoundException"
    assert text == (
        f"No scalable target registered for service namespace: ecs, resource ID: {target}, "
        f"scalable dimension: {DIM}"
    )


def test_describe_scalable_targets_pages(scaling: Any, ecs: Any, unique: Unique) -> None:
    cluster = unique("as-page")
    ecs.create_cluster(clusterName=cluster)
    family = unique("as-page-td")
    ecs.register_task_definition(
        family=family, containerDefinitions=[{"name": "a", "image": "busybox", "memory": 8}]
    )
    ids = []
    for name in ("a", "b", "c"):
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=family)
        ids.append(f"service/{cluster}/{name}")
        scaling.register_scalable_target(**KIND, ResourceId=ids[-1], MinCapacity=0, MaxCapacity=1)
    first = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=ids, MaxResults=2)
    rest = scaling.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=ids, NextToken=first["NextToken"]
    )
    assert [t["ResourceId"] for t in first["ScalableTargets"] + rest["ScalableTargets"]] == ids
    assert "NextToken" not in rest


# --- scaling policies ----------------------------------------------------------------


def test_a_target_tracking_policy_gets_an_arn_and_its_two_alarms(scaling: Any, target: str) -> None:
    result = scaling.put_scaling_policy(
        **KIND,
        ResourceId=target,
        PolicyName="cpu50",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=CPU_POLICY,
    )
    assert result["PolicyARN"].startswith(f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:scalingPolicy:")
    assert result["PolicyARN"].endswith(f":resource/ecs/{target}:policyName/cpu50")
    names = sorted(a["AlarmName"] for a in result["Alarms"])
    assert [n.split("-Alarm")[0] for n in names] == [f"TargetTracking-{target}"] * 2
    assert ["AlarmHigh" in names[0], "AlarmLow" in names[1]] == [True, True]
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=target)[
        "ScalingPolicies"
    ]
    assert policy["PolicyARN"] == result["PolicyARN"]
    assert policy["TargetTrackingScalingPolicyConfiguration"] == CPU_POLICY
    assert policy["Alarms"] == result["Alarms"]


def test_putting_a_policy_again_keeps_its_arn_and_replaces_its_configuration(
    scaling: Any, target: str
) -> None:
    params = {
        **KIND,
        "ResourceId": target,
        "PolicyName": "p",
        "PolicyType": "TargetTrackingScaling",
    }
    first = scaling.put_scaling_policy(
        **params, TargetTrackingScalingPolicyConfiguration=CPU_POLICY
    )
    second = scaling.put_scaling_policy(
        **params,
        TargetTrackingScalingPolicyConfiguration={**CPU_POLICY, "TargetValue": 70.0},
    )
    assert second["PolicyARN"] == first["PolicyARN"]
    [policy] = scaling.describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId=target, PolicyNames=["p"]
    )["ScalingPolicies"]
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 70.0


def test_an_alb_request_count_policy_needs_a_resource_label(scaling: Any, target: str) -> None:
    config = {
        "TargetValue": 100.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget"},
    }
    params = {
        **KIND,
        "ResourceId": target,
        "PolicyName": "rps",
        "PolicyType": "TargetTrackingScaling",
    }
    code, text = error(
        scaling.put_scaling_policy, **params, TargetTrackingScalingPolicyConfiguration=config
    )
    assert code == "ValidationException"
    assert "ResourceLabel" in text
    label = "app/web-lb/50dc6c495c0c9188/targetgroup/web-tg/73e2d6bc24d8a067"
    labelled = {
        "TargetValue": 100.0,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": "ALBRequestCountPerTarget",
            "ResourceLabel": label,
        },
    }
    scaling.put_scaling_policy(**params, TargetTrackingScalingPolicyConfiguration=labelled)
    [policy] = scaling.describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId=target, PolicyNames=["rps"]
    )["ScalingPolicies"]
    spec = policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert spec["ResourceLabel"] == label


def test_a_step_scaling_policy_is_stored_without_alarms(scaling: Any, target: str) -> None:
    config = {
        "AdjustmentType": "ChangeInCapacity",
        "StepAdjustments": [
            {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 1},
            {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 2},
        ],
        "Cooldown": 60,
        "MetricAggregationType": "Average",
    }
    result = scaling.put_scaling_policy(
        **KIND,
        ResourceId=target,
        PolicyName="steps",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration=config,
    )
    assert result["Alarms"] == []
    [policy] = scaling.describe_scaling_policies(
        ServiceNamespace="ecs", ResourceId=target, PolicyNames=["steps"]
    )["ScalingPolicies"]
    assert policy["PolicyType"] == "StepScaling"
    assert policy["StepScalingPolicyConfiguration"] == config


def test_policy_errors(scaling: Any, service: str, target: str) -> None:
    code, text = error(
        scaling.put_scaling_policy,
        **KIND,
        ResourceId="service/none/none",
        PolicyName="x",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=CPU_POLICY,
    )
    assert code == "ObjectNotFoundException"
    assert text.startswith("No scalable target registered for service namespace: ecs")
    code, _ = error(
        scaling.put_scaling_policy,
        **KIND,
        ResourceId=target,
        PolicyName="x",
        PolicyType="TargetTrackingScaling",
    )
    assert code == "ValidationException"
    code, text = error(
        scaling.delete_scaling_policy, **KIND, ResourceId=target, PolicyName="missing"
    )
    assert code == "ObjectNotFoundException"
    assert text.endswith("policy name: missing")


def test_a_deleted_policy_is_gone(scaling: Any, target: str) -> None:
    scaling.put_scaling_policy(
        **KIND,
        ResourceId=target,
        PolicyName="gone",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=CPU_POLICY,
    )
    scaling.delete_scaling_policy(**KIND, ResourceId=target, PolicyName="gone")
    assert (
        scaling.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=target)[
            "ScalingPolicies"
        ]
        == []
    )


# --- scheduled actions ---------------------------------------------------------------


def test_scheduled_actions_are_described_and_deleted(scaling: Any, target: str) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    scaling.put_scheduled_action(
        **KIND,
        ResourceId=target,
        ScheduledActionName="mornings",
        Schedule="cron(0 8 ? * MON-FRI *)",
        Timezone="Europe/Paris",
        StartTime=start,
        ScalableTargetAction={"MinCapacity": 3, "MaxCapacity": 5},
    )
    [action] = scaling.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=target)[
        "ScheduledActions"
    ]
    assert action["ScheduledActionName"] == "mornings"
    assert action["ScheduledActionARN"].endswith(
        f":resource/ecs/{target}:scheduledActionName/mornings"
    )
    assert action["Schedule"] == "cron(0 8 ? * MON-FRI *)"
    assert action["Timezone"] == "Europe/Paris"
    assert action["StartTime"] == start
    assert action["ScalableTargetAction"] == {"MinCapacity": 3, "MaxCapacity": 5}
    scaling.delete_scheduled_action(**KIND, ResourceId=target, ScheduledActionName="mornings")
    assert (
        scaling.describe_scheduled_actions(ServiceNamespace="ecs", ResourceId=target)[
            "ScheduledActions"
        ]
        == []
    )
    code, text = error(
        scaling.delete_scheduled_action, **KIND, ResourceId=target, ScheduledActionName="mornings"
    )
    assert code == "ObjectNotFoundException"
    assert text.endswith("scheduled action name: mornings")


@pytest.mark.parametrize(
    ("schedule", "timezone"),
    [
        ("every day", None),
        ("cron(0 8 * * * *)", None),
        ("rate(5 fortnights)", None),
        ("at(2030-02-30T00:00:00)", None),
        ("rate(1 hour)", "Mars/Olympus"),
    ],
)
def test_invalid_schedules_are_refused(
    scaling: Any, target: str, schedule: str, timezone: str | None
) -> None:
    params: dict[str, Any] = {"Schedule": schedule}
    if timezone:
        params["Timezone"] = timezone
    code, _ = error(
        scaling.put_scheduled_action,
        **KIND,
        ResourceId=target,
        ScheduledActionName="bad",
        ScalableTargetAction={"MinCapacity": 1},
        **params,
    )
    assert code == "ValidationException"


def test_a_due_scheduled_action_scales_the_service_and_is_an_activity(
    scaling: Any, ecs: Any, target: str
) -> None:
    when = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    scaling.put_scheduled_action(
        **KIND,
        ResourceId=target,
        ScheduledActionName="burst",
        Schedule=f"at({when})",
        ScalableTargetAction={"MinCapacity": 3, "MaxCapacity": 4},
    )
    _, cluster, name = target.split("/")
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        [svc] = ecs.describe_services(cluster=cluster, services=[name])["services"]
        if svc["desiredCount"] == 3:
            break
        time.sleep(0.5)
    assert svc["desiredCount"] == 3
    activities = scaling.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=target)[
        "ScalingActivities"
    ]
    causes = [a["Cause"] for a in activities]
    assert "scheduled action name burst was triggered" in causes
    assert "minimum capacity was set to 3" in causes
    assert {a["StatusCode"] for a in activities} == {"Successful"}
    [found] = scaling.describe_scalable_targets(ServiceNamespace="ecs", ResourceIds=[target])[
        "ScalableTargets"
    ]
    assert (found["MinCapacity"], found["MaxCapacity"]) == (3, 4)


# --- the AWS CLI ---------------------------------------------------------------------


def test_the_aws_cli_registers_and_describes_targets(aws: Aws, service: str) -> None:
    cli_json(
        aws(
            "application-autoscaling",
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            "--scalable-dimension",
            DIM,
            "--resource-id",
            service,
            "--min-capacity",
            "1",
            "--max-capacity",
            "3",
        )
    )
    out = cli_json(
        aws(
            "application-autoscaling",
            "describe-scalable-targets",
            "--service-namespace",
            "ecs",
            "--resource-ids",
            service,
        )
    )
    assert [t["MaxCapacity"] for t in out["ScalableTargets"]] == [3]


def test_the_aws_cli_puts_a_policy_and_sees_object_not_found(aws: Aws, target: str) -> None:
    out = cli_json(
        aws(
            "application-autoscaling",
            "put-scaling-policy",
            "--service-namespace",
            "ecs",
            "--scalable-dimension",
            DIM,
            "--resource-id",
            target,
            "--policy-name",
            "cpu",
            "--policy-type",
            "TargetTrackingScaling",
            "--target-tracking-scaling-policy-configuration",
            '{"TargetValue": 60, "PredefinedMetricSpecification": '
            '{"PredefinedMetricType": "ECSServiceAverageMemoryUtilization"}}',
        )
    )
    assert len(out["Alarms"]) == 2
    failed = aws(
        "application-autoscaling",
        "delete-scaling-policy",
        "--service-namespace",
        "ecs",
        "--scalable-dimension",
        DIM,
        "--resource-id",
        target,
        "--policy-name",
        "nope",
    )
    assert failed.returncode != 0
    assert "ObjectNotFoundException" in failed.stderr
