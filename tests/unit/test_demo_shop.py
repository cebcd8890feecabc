"""The demo's pure parts: the shop's resource specs and the create-or-update
decisions that make `openecs demo` safe to run twice."""

from __future__ import annotations

from typing import Any

from openecs.agent.agent import AGENT_CAPABILITIES
from openecs.demo.decisions import (
    Action,
    listener_rule_action,
    matches,
    plan_service,
    target_group_changes,
    task_definition_changed,
)
from openecs.demo.images import ShopImages, recipe_hash
from openecs.demo.shop_spec import (
    ShopSettings,
    backend_task_definition,
    database_task_definition,
    frontend_task_definition,
    resource_label,
    scaling_policy,
    target_group,
)
from openecs.domain.task_definition_attributes import compute_required_attributes

IMAGES = ShopImages("openecs-demo/frontend:1", "openecs-demo/backend:1", "openecs-demo/database:1")
SETTINGS = ShopSettings()
TD_ARN = "arn:aws:ecs:us-east-1:000000000000:task-definition/shop-backend:"


def _described(desired: dict[str, Any]) -> dict[str, Any]:
    """A task definition as DescribeTaskDefinition shows it: defaults filled in."""
    described = {
        **desired,
        "taskDefinitionArn": TD_ARN + "1",
        "revision": 1,
        "status": "ACTIVE",
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "ecs.capability.task-eni"}],
    }
    containers = []
    for container in desired["containerDefinitions"]:
        filled = {**container, "cpu": 0, "volumesFrom": [], "systemControls": []}
        filled["portMappings"] = [
            {**p, "hostPort": p["containerPort"]} for p in container.get("portMappings", [])
        ]
        containers.append(filled)
    described["containerDefinitions"] = containers
    return described


def test_every_shop_task_definition_can_be_placed_on_openecs_fargate_capacity() -> None:
    for definition in (
        frontend_task_definition(SETTINGS, IMAGES),
        backend_task_definition(SETTINGS, IMAGES, "172.18.0.5"),
        database_task_definition(SETTINGS, IMAGES),
    ):
        required = {a["name"] for a in compute_required_attributes(definition)}
        assert required <= set(AGENT_CAPABILITIES), (
            definition["family"],
            required - set(AGENT_CAPABILITIES),
        )


def test_the_database_keeps_its_data_on_a_shared_autoprovisioned_named_volume() -> None:
    definition = database_task_definition(SETTINGS, IMAGES)
    volume = definition["volumes"][0]
    assert volume["dockerVolumeConfiguration"]["scope"] == "shared"
    assert volume["dockerVolumeConfiguration"]["autoprovision"] is True
    mount = definition["containerDefinitions"][0]["mountPoints"][0]
    assert mount["sourceVolume"] == volume["name"] == "shop-pgdata"
    assert mount["containerPath"] == "/var/lib/postgresql/data"


def test_every_container_logs_to_its_own_group_and_has_a_health_check() -> None:
    for part, definition in (
        ("frontend", frontend_task_definition(SETTINGS, IMAGES)),
        ("backend", backend_task_definition(SETTINGS, IMAGES, "10.0.0.1")),
        ("database", database_task_definition(SETTINGS, IMAGES)),
    ):
        container = definition["containerDefinitions"][0]
        assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/shop/{part}"
        assert container["healthCheck"]["command"][0] in ("CMD", "CMD-SHELL")
        assert definition["networkMode"] == "awsvpc"
        assert definition["requiresCompatibilities"] == ["FARGATE"]


def test_the_backend_finds_the_database_through_its_environment() -> None:
    container = backend_task_definition(SETTINGS, IMAGES, "172.18.0.9")["containerDefinitions"][0]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["DATABASE_HOST"] == "172.18.0.9"
    assert env["DATABASE_PORT"] == "5432"


def test_a_named_shop_keeps_its_resources_apart_from_the_default_one() -> None:
    other = ShopSettings(name="e2e-1")
    assert other.cluster == "e2e-1"
    assert database_task_definition(other, IMAGES)["family"] == "e2e-1-database"
    # A shared-scope volume is the Docker volume of that name: one per shop.
    assert database_task_definition(other, IMAGES)["volumes"][0]["name"] == "e2e-1-pgdata"
    assert target_group(other, "backend", "/api/health")["Name"] == "e2e-1-backend"


def test_the_scaling_policy_tracks_requests_per_backend_task_of_the_listener() -> None:
    label = resource_label(
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/shop/50dc6c495c0c9188",
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/shop-backend/73e2d6bc24d8a067",
    )
    assert label == "app/shop/50dc6c495c0c9188/targetgroup/shop-backend/73e2d6bc24d8a067"
    policy = scaling_policy(ShopSettings(scale_in_cooldown=15), label)
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ALBRequestCountPerTarget",
        "ResourceLabel": label,
    }
    assert config["ScaleInCooldown"] == 15
    assert policy["ResourceId"] == "service/shop/shop-backend"


# Create-or-update decisions


def test_an_unchanged_task_definition_is_reused_despite_the_defaults_the_server_adds() -> None:
    desired = backend_task_definition(SETTINGS, IMAGES, "172.18.0.5")
    assert not task_definition_changed(_described(desired), desired)


def test_a_new_image_or_database_address_makes_a_new_revision() -> None:
    desired = backend_task_definition(SETTINGS, IMAGES, "172.18.0.5")
    current = _described(desired)
    moved = backend_task_definition(SETTINGS, IMAGES, "172.18.0.6")
    assert task_definition_changed(current, moved)
    images = ShopImages(IMAGES.frontend, "openecs-demo/backend:2", IMAGES.database)
    rebuilt = backend_task_definition(SETTINGS, images, "172.18.0.5")
    assert task_definition_changed(current, rebuilt)


def test_a_missing_or_inactive_task_definition_is_registered() -> None:
    desired = frontend_task_definition(SETTINGS, IMAGES)
    assert task_definition_changed(None, desired)
    assert task_definition_changed({**_described(desired), "status": "INACTIVE"}, desired)


def test_matches_compares_dicts_as_subsets_and_lists_item_by_item() -> None:
    assert matches({"a": 1, "b": 2}, {"a": 1})
    assert not matches({"a": 1}, {"a": 1, "b": 2})
    assert matches({"xs": [{"n": 1, "extra": True}]}, {"xs": [{"n": 1}]})
    assert not matches({"xs": [{"n": 1}, {"n": 2}]}, {"xs": [{"n": 1}]})
    assert matches({"cpu": "256"}, {"cpu": "256"}) and not matches({"cpu": 256}, {"cpu": "256"})
    assert matches({"v": 5}, {"v": 5.0})


def test_a_missing_or_deleted_service_is_created() -> None:
    assert plan_service(None, TD_ARN + "1", 2).action is Action.CREATE
    assert plan_service({"status": "INACTIVE"}, TD_ARN + "1", 2).action is Action.CREATE


def test_an_up_to_date_service_is_kept() -> None:
    current = {"status": "ACTIVE", "taskDefinition": TD_ARN + "1", "desiredCount": 2}
    plan = plan_service(current, TD_ARN + "1", 2)
    assert plan.action is Action.KEEP and plan.changes == {}


def test_a_new_revision_rolls_the_service_without_touching_an_autoscaled_count() -> None:
    current = {"status": "ACTIVE", "taskDefinition": TD_ARN + "1", "desiredCount": 7}
    plan = plan_service(current, TD_ARN + "2", None)
    assert plan.action is Action.UPDATE
    assert plan.changes == {"taskDefinition": TD_ARN + "2"}


def test_a_fixed_size_service_gets_its_count_back() -> None:
    current = {"status": "ACTIVE", "taskDefinition": TD_ARN + "1", "desiredCount": 5}
    plan = plan_service(current, TD_ARN + "1", 2)
    assert plan.changes == {"desiredCount": 2}


def test_target_group_changes_name_only_the_health_check_settings_that_differ() -> None:
    desired = target_group(SETTINGS, "backend", "/api/health")
    current = {**desired, "HealthCheckPath": "/", "HealthCheckIntervalSeconds": 5}
    assert target_group_changes(current, desired) == {"HealthCheckPath": "/api/health"}
    assert target_group_changes(desired, desired) == {}


def _rule(arn: str, path: str, tg: str) -> dict[str, Any]:
    return {
        "RuleArn": arn,
        "IsDefault": False,
        "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": [path]}}],
        "Actions": [{"Type": "forward", "TargetGroupArn": tg}],
    }


def test_the_api_rule_is_created_once_then_kept_or_pointed_at_the_backend() -> None:
    default = {"RuleArn": "default", "IsDefault": True, "Conditions": [], "Actions": []}
    assert listener_rule_action([default], "/api/*", "tg-b") == (Action.CREATE, None)
    rules = [default, _rule("r1", "/api/*", "tg-b")]
    assert listener_rule_action(rules, "/api/*", "tg-b") == (Action.KEEP, "r1")
    assert listener_rule_action(rules, "/api/*", "tg-new") == (Action.UPDATE, "r1")


def test_image_tags_change_with_any_input_and_only_then() -> None:
    assert recipe_hash(["a", b"b"]) == recipe_hash(["a", b"b"])
    assert recipe_hash(["a", b"b"]) != recipe_hash(["a", b"c"])
    # Inputs are length-prefixed: moving a byte between parts changes the hash.
    assert recipe_hash(["ab", "c"]) != recipe_hash(["a", "bc"])
