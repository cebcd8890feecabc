"""Every cluster operation through boto3 and the AWS CLI, with ECS's shapes, defaults,
errors and wording.

Where AWS's behaviour was checked (AWS CLI examples shipped with awscli, the API
reference, error texts users report): strategy items come back with `weight`
and `base` filled in with 0; DescribeClusters shows `settings`, `tags` and
`statistics` as empty lists unless asked to include them; a repeated
CreateCluster that asks for something else fails with "Arguments on this
idempotent request are inconsistent ..."; an unknown capacity provider is "not
found".
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.awscli import CliResult
from tests.support.server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, ServerProcess

Cli = Callable[..., CliResult]
Unique = Callable[[str], str]

NOT_FOUND = ("ClusterNotFoundException", "Cluster not found.")
INCONSISTENT = (
    "InvalidParameterException",
    "Arguments on this idempotent request are inconsistent with arguments used in "
    "previous request(s).",
)
PROVIDER_NOT_FOUND = (
    "InvalidParameterException",
    "The specified capacity provider was not found. "
    "Specify a valid capacity provider and try again.",
)
STATISTICS = [
    "runningEC2TasksCount",
    "runningFargateTasksCount",
    "pendingEC2TasksCount",
    "pendingFargateTasksCount",
    "activeEC2ServiceCount",
    "activeFargateServiceCount",
    "drainingEC2ServiceCount",
    "drainingFargateServiceCount",
]


def arn(name: str, region: str = REGION) -> str:
    return f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/{name}"


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


@pytest.fixture(scope="module")
def raw(server: ServerProcess) -> Any:
    """boto3 without client-side validation: what reaches the server is what we send."""
    return server.client("ecs", parameter_validation=False)


def client_in(server: ServerProcess, region: str) -> Any:
    return boto3.client(
        "ecs",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def isolated(server: ServerProcess, unique: Unique) -> tuple[Any, str]:
    """A client in a region of its own, so listings see only this test's clusters."""
    region = unique("zz")
    return client_in(server, region), region


# --- CreateCluster -------------------------------------------------------------------


def test_create_cluster_returns_the_whole_new_cluster(ecs: Any, unique: Unique) -> None:
    name = unique("shape")
    cluster = ecs.create_cluster(clusterName=name)["cluster"]
    assert cluster == {
        "clusterArn": arn(name),
        "clusterName": name,
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
        "activeServicesCount": 0,
        "statistics": [],
        "tags": [],
        "settings": [{"name": "containerInsights", "value": "disabled"}],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    }


def test_create_cluster_without_a_name_creates_the_default_cluster(ecs: Any) -> None:
    cluster = ecs.create_cluster()["cluster"]
    assert cluster["clusterName"] == "default"
    assert cluster["clusterArn"] == arn("default")
    assert cluster["status"] == "ACTIVE"
    (described,) = ecs.describe_clusters()["clusters"]
    assert described["clusterArn"] == arn("default")


@pytest.mark.parametrize("value", ["enabled", "enhanced", "disabled"])
def test_create_cluster_with_container_insights(ecs: Any, unique: Unique, value: str) -> None:
    name = unique("insights")
    settings = [{"name": "containerInsights", "value": value}]
    assert (
        ecs.create_cluster(clusterName=name, settings=settings)["cluster"]["settings"] == settings
    )
    (described,) = ecs.describe_clusters(clusters=[name], include=["SETTINGS"])["clusters"]
    assert described["settings"] == settings


def test_create_cluster_keeps_its_configuration(ecs: Any, unique: Unique) -> None:
    name = unique("config")
    configuration = {
        "executeCommandConfiguration": {
            "kmsKeyId": "alias/exec",
            "logging": "OVERRIDE",
            "logConfiguration": {
                "cloudWatchLogGroupName": "/exec/logs",
                "cloudWatchEncryptionEnabled": True,
                "s3BucketName": "exec-bucket",
                "s3EncryptionEnabled": False,
                "s3KeyPrefix": "exec/",
            },
        }
    }
    created = ecs.create_cluster(clusterName=name, configuration=configuration)["cluster"]
    assert created["configuration"] == configuration
    (described,) = ecs.describe_clusters(clusters=[name], include=["CONFIGURATIONS"])["clusters"]
    assert described["configuration"] == configuration


def test_create_cluster_with_tags(ecs: Any, unique: Unique) -> None:
    name = unique("tagged")
    tags = [{"key": "team", "value": "platform"}, {"key": "équipe", "value": "données"}]
    created = ecs.create_cluster(clusterName=name, tags=tags)["cluster"]
    assert sorted(created["tags"], key=lambda t: t["key"]) == sorted(tags, key=lambda t: t["key"])
    (described,) = ecs.describe_clusters(clusters=[name], include=["TAGS"])["clusters"]
    assert sorted(described["tags"], key=lambda t: t["key"]) == sorted(tags, key=lambda t: t["key"])


def test_create_cluster_with_fargate_capacity_providers_and_a_default_strategy(
    ecs: Any, unique: Unique
) -> None:
    name = unique("fargate")
    cluster = ecs.create_cluster(
        clusterName=name,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 4},
        ],
    )["cluster"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 2},
        {"capacityProvider": "FARGATE_SPOT", "weight": 4, "base": 0},
    ]
    (described,) = ecs.describe_clusters(clusters=[name])["clusters"]
    assert (
        described["defaultCapacityProviderStrategy"] == cluster["defaultCapacityProviderStrategy"]
    )


def test_create_cluster_again_with_the_same_arguments_returns_the_same_cluster(
    ecs: Any, unique: Unique
) -> None:
    name = unique("again")
    params: dict[str, Any] = {
        "clusterName": name,
        "tags": [{"key": "a", "value": "1"}],
        "settings": [{"name": "containerInsights", "value": "enabled"}],
        "capacityProviders": ["FARGATE"],
        "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
    }
    first = ecs.create_cluster(**params)["cluster"]
    second = ecs.create_cluster(**params)["cluster"]
    assert second == first
    assert ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"] == first["clusterArn"]
    described = ecs.describe_clusters(clusters=[name])["clusters"]
    assert [c["clusterArn"] for c in described] == [first["clusterArn"]]


@pytest.mark.parametrize(
    "different",
    [
        {"settings": [{"name": "containerInsights", "value": "enhanced"}]},
        {"tags": [{"key": "a", "value": "2"}]},
        {"capacityProviders": ["FARGATE_SPOT"]},
        {
            "capacityProviders": ["FARGATE"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 9}],
        },
        {"configuration": {"executeCommandConfiguration": {"logging": "NONE"}}},
    ],
    ids=["settings", "tags", "capacity-providers", "strategy", "configuration"],
)
def test_create_cluster_again_with_other_arguments_is_inconsistent(
    ecs: Any, unique: Unique, different: dict[str, Any]
) -> None:
    name = unique("inconsistent")
    ecs.create_cluster(
        clusterName=name,
        tags=[{"key": "a", "value": "1"}],
        settings=[{"name": "containerInsights", "value": "enabled"}],
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    assert error(ecs.create_cluster, clusterName=name, **different) == INCONSISTENT


def test_concurrent_creates_of_one_name_make_one_cluster(ecs: Any, unique: Unique) -> None:
    name = unique("race")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: ecs.create_cluster(clusterName=name), range(16)))
    assert {r["cluster"]["clusterArn"] for r in results} == {arn(name)}
    described = ecs.describe_clusters(clusters=[name])["clusters"]
    assert len(described) == 1


def test_create_cluster_after_delete_makes_a_new_active_cluster(ecs: Any, unique: Unique) -> None:
    name = unique("phoenix")
    ecs.create_cluster(clusterName=name, tags=[{"key": "life", "value": "first"}])
    ecs.delete_cluster(cluster=name)
    reborn = ecs.create_cluster(
        clusterName=name, settings=[{"name": "containerInsights", "value": "enabled"}]
    )["cluster"]
    assert reborn["status"] == "ACTIVE"
    assert reborn["clusterArn"] == arn(name)
    (described,) = ecs.describe_clusters(clusters=[name], include=["TAGS", "SETTINGS"])["clusters"]
    assert described["status"] == "ACTIVE"
    assert described["tags"] == []
    assert described["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    pages = ecs.get_paginator("list_clusters").paginate()
    assert any(arn(name) in page["clusterArns"] for page in pages)


def test_create_cluster_through_the_aws_cli(aws: Cli, unique: Unique) -> None:
    name = unique("cli")
    created = cli_ok(
        aws(
            "ecs",
            "create-cluster",
            "--cluster-name",
            name,
            "--tags",
            "key=owner,value=cli",
            "--settings",
            "name=containerInsights,value=enabled",
            "--capacity-providers",
            "FARGATE",
            "FARGATE_SPOT",
            "--default-capacity-provider-strategy",
            "capacityProvider=FARGATE,weight=1,base=1",
            "capacityProvider=FARGATE_SPOT,weight=3",
        )
    )["cluster"]
    assert created["clusterArn"] == arn(name)
    assert created["tags"] == [{"key": "owner", "value": "cli"}]
    assert created["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert created["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]


def test_create_cluster_error_through_the_aws_cli(aws: Cli) -> None:
    result = aws("ecs", "create-cluster", "--cluster-name", "no spaces allowed")
    assert cli_error(result) == (
        "InvalidParameterException",
        "Cluster name should be between 1 and 255 characters long and can only contain "
        "letters, numbers, hyphens and underscores.",
    )


# --- CreateCluster: one test per validation rule --------------------------------------

BAD_NAME = (
    "InvalidParameterException",
    "Cluster name should be between 1 and 255 characters long and can only contain "
    "letters, numbers, hyphens and underscores.",
)


@pytest.mark.parametrize("name", ["has space", "dot.ted", "slash/ed", "ünïcode", "x" * 256])
def test_cluster_names_are_letters_digits_hyphens_underscores_up_to_255(
    ecs: Any, name: str
) -> None:
    assert error(ecs.create_cluster, clusterName=name) == BAD_NAME


def test_a_255_character_cluster_name_is_allowed(ecs: Any, unique: Unique) -> None:
    name = unique("long")
    name = name + "x" * (255 - len(name))
    assert ecs.create_cluster(clusterName=name)["cluster"]["clusterName"] == name
    ecs.delete_cluster(cluster=name)


def test_an_unknown_capacity_provider_is_not_found(ecs: Any, unique: Unique) -> None:
    assert (
        error(ecs.create_cluster, clusterName=unique("cp"), capacityProviders=["EC2_MAGIC"])
        == PROVIDER_NOT_FOUND
    )


def test_a_capacity_provider_listed_twice_is_refused(ecs: Any, unique: Unique) -> None:
    assert error(
        ecs.create_cluster, clusterName=unique("cp"), capacityProviders=["FARGATE", "FARGATE"]
    ) == (
        "InvalidParameterException",
        "The specified capacity provider 'FARGATE' was specified more than once.",
    )


def test_a_default_strategy_may_only_name_the_clusters_providers(ecs: Any, unique: Unique) -> None:
    assert error(
        ecs.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    ) == (
        "InvalidParameterException",
        "The specified capacity provider strategy cannot contain a capacity provider that is "
        "not associated with the cluster. Associate the capacity provider with the cluster or "
        "specify a valid capacity provider and try again. Capacity provider: FARGATE_SPOT",
    )


def test_a_default_strategy_may_name_a_provider_once(ecs: Any, unique: Unique) -> None:
    assert error(
        ecs.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "weight": 1},
            {"capacityProvider": "FARGATE", "weight": 2},
        ],
    ) == (
        "InvalidParameterException",
        "The capacity provider strategy contains FARGATE more than once.",
    )


def test_only_one_provider_of_a_default_strategy_may_have_a_base(ecs: Any, unique: Unique) -> None:
    assert error(
        ecs.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 1, "base": 1},
        ],
    ) == (
        "InvalidParameterException",
        "Only one capacity provider in a capacity provider strategy can have a base defined.",
    )


def test_a_default_strategy_holds_at_most_20_items(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}] * 21,
    ) == (
        "InvalidParameterException",
        "The default capacity provider strategy can contain a maximum of 20 capacity providers.",
    )


def test_a_strategy_weight_is_at_most_1000(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1001}],
    ) == (
        "InvalidParameterException",
        "1 validation error detected: Value '1001' at "
        "'defaultCapacityProviderStrategy.1.member.weight' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000",
    )


def test_a_strategy_base_is_at_most_100000(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "base": 100_001}],
    ) == (
        "InvalidParameterException",
        "1 validation error detected: Value '100001' at "
        "'defaultCapacityProviderStrategy.1.member.base' failed to satisfy constraint: "
        "Member must have value less than or equal to 100000",
    )


def test_a_strategy_weight_is_not_negative(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": -1}],
    ) == (
        "InvalidParameterException",
        "1 validation error detected: Value '-1' at "
        "'defaultCapacityProviderStrategy.1.member.weight' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0",
    )


def test_a_strategy_item_needs_a_capacity_provider(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster,
        clusterName=unique("cp"),
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"weight": 1}],
    ) == (
        "InvalidParameterException",
        "1 validation error detected: Value null at "
        "'defaultCapacityProviderStrategy.1.member.capacityProvider' failed to satisfy "
        "constraint: Member must not be null",
    )


def test_the_only_cluster_setting_is_container_insights(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster,
        clusterName=unique("set"),
        settings=[{"name": "insights", "value": "enabled"}],
    ) == (
        "InvalidParameterException",
        "1 validation error detected: Value 'insights' at 'settings.1.member.name' failed to "
        "satisfy constraint: Member must satisfy enum value set: [containerInsights]",
    )


def test_container_insights_is_enabled_enhanced_or_disabled(ecs: Any, unique: Unique) -> None:
    assert error(
        ecs.create_cluster,
        clusterName=unique("set"),
        settings=[{"name": "containerInsights", "value": "sometimes"}],
    ) == (
        "InvalidParameterException",
        "Invalid value 'sometimes' for cluster setting containerInsights. "
        "Valid values are enabled, enhanced and disabled.",
    )


def test_tag_keys_may_not_use_the_aws_prefix(ecs: Any, unique: Unique) -> None:
    assert error(
        ecs.create_cluster,
        clusterName=unique("tag"),
        tags=[{"key": "aws:owner", "value": "me"}],
    ) == ("InvalidParameterException", "Tag keys cannot start with the reserved prefix 'aws:'.")


def test_a_cluster_holds_at_most_50_tags(raw: Any, unique: Unique) -> None:
    tags = [{"key": f"k{i}", "value": "v"} for i in range(51)]
    code, message = error(raw.create_cluster, clusterName=unique("tag"), tags=tags)
    assert code == "InvalidParameterException"
    assert message.startswith("1 validation error detected: Value '[")
    assert message.endswith(
        "' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    )


def test_tag_keys_are_at_most_128_characters(raw: Any, unique: Unique) -> None:
    key = "k" * 129
    assert error(
        raw.create_cluster, clusterName=unique("tag"), tags=[{"key": key, "value": "v"}]
    ) == (
        "InvalidParameterException",
        f"1 validation error detected: Value '{key}' at 'tags.1.member.key' failed to satisfy "
        "constraint: Member must have length less than or equal to 128",
    )


def test_tag_values_follow_the_tag_pattern(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster, clusterName=unique("tag"), tags=[{"key": "k", "value": "semi;colon"}]
    ) == (
        "InvalidParameterException",
        "1 validation error detected: Value 'semi;colon' at 'tags.1.member.value' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
        "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)",
    )


def test_execute_command_logging_is_none_default_or_override(raw: Any, unique: Unique) -> None:
    assert error(
        raw.create_cluster,
        clusterName=unique("exec"),
        configuration={"executeCommandConfiguration": {"logging": "VERBOSE"}},
    ) == (
        "InvalidParameterException",
        "1 validation error detected: Value 'VERBOSE' at "
        "'configuration.executeCommandConfiguration.logging' failed to satisfy constraint: "
        "Member must satisfy enum value set: [NONE, DEFAULT, OVERRIDE]",
    )


def test_service_connect_defaults_need_a_namespace(raw: Any, unique: Unique) -> None:
    assert error(raw.create_cluster, clusterName=unique("sc"), serviceConnectDefaults={}) == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'serviceConnectDefaults.namespace' failed "
        "to satisfy constraint: Member must not be null",
    )


# --- DescribeClusters ----------------------------------------------------------------


@pytest.fixture
def described_cluster(ecs: Any, unique: Unique) -> str:
    name = unique("described")
    ecs.create_cluster(
        clusterName=name,
        tags=[{"key": "k", "value": "v"}],
        settings=[{"name": "containerInsights", "value": "enabled"}],
        configuration={"executeCommandConfiguration": {"logging": "DEFAULT"}},
    )
    return name


def test_describe_clusters_without_include_shows_empty_settings_tags_and_statistics(
    ecs: Any, described_cluster: str
) -> None:
    (cluster,) = ecs.describe_clusters(clusters=[described_cluster])["clusters"]
    assert cluster["settings"] == []
    assert cluster["tags"] == []
    assert cluster["statistics"] == []
    assert "configuration" not in cluster
    assert "attachments" not in cluster


@pytest.mark.parametrize(
    ("include", "member", "expected"),
    [
        ("SETTINGS", "settings", [{"name": "containerInsights", "value": "enabled"}]),
        ("TAGS", "tags", [{"key": "k", "value": "v"}]),
        (
            "CONFIGURATIONS",
            "configuration",
            {"executeCommandConfiguration": {"logging": "DEFAULT"}},
        ),
        ("ATTACHMENTS", "attachments", []),
        ("STATISTICS", "statistics", [{"name": n, "value": "0"} for n in STATISTICS]),
    ],
)
def test_describe_clusters_includes_what_it_is_asked_for(
    ecs: Any, described_cluster: str, include: str, member: str, expected: Any
) -> None:
    (cluster,) = ecs.describe_clusters(clusters=[described_cluster], include=[include])["clusters"]
    assert cluster[member] == expected
    others = {"settings", "tags", "statistics"} - {member}
    assert all(cluster[o] == [] for o in others)


def test_describe_clusters_includes_several_at_once(ecs: Any, described_cluster: str) -> None:
    (cluster,) = ecs.describe_clusters(
        clusters=[described_cluster],
        include=["ATTACHMENTS", "CONFIGURATIONS", "SETTINGS", "STATISTICS", "TAGS"],
    )["clusters"]
    assert cluster["tags"] and cluster["settings"] and cluster["statistics"]
    assert cluster["configuration"] and cluster["attachments"] == []


def test_describe_clusters_by_arn(ecs: Any, described_cluster: str) -> None:
    (cluster,) = ecs.describe_clusters(clusters=[arn(described_cluster)])["clusters"]
    assert cluster["clusterName"] == described_cluster


def test_describe_clusters_reports_unknown_names_as_missing(
    ecs: Any, described_cluster: str, unique: Unique
) -> None:
    ghost = unique("ghost")
    result = ecs.describe_clusters(clusters=[ghost, described_cluster, arn(ghost + "-2")])
    assert [c["clusterName"] for c in result["clusters"]] == [described_cluster]
    assert result["failures"] == [
        {"arn": arn(ghost), "reason": "MISSING"},
        {"arn": arn(ghost + "-2"), "reason": "MISSING"},
    ]


def test_describe_clusters_takes_up_to_100_clusters(
    ecs: Any, described_cluster: str, unique: Unique
) -> None:
    names = [described_cluster] + [unique("many") for _ in range(99)]
    result = ecs.describe_clusters(clusters=names)
    assert len(result["clusters"]) == 1
    assert len(result["failures"]) == 99


def test_describe_clusters_refuses_more_than_100_clusters(ecs: Any) -> None:
    assert error(ecs.describe_clusters, clusters=[f"c{i}" for i in range(101)]) == (
        "InvalidParameterException",
        "The clusters parameter can contain at most 100 items.",
    )


def test_describe_clusters_shows_a_deleted_cluster_as_inactive(ecs: Any, unique: Unique) -> None:
    name = unique("gone")
    ecs.create_cluster(clusterName=name)
    ecs.delete_cluster(cluster=name)
    (cluster,) = ecs.describe_clusters(clusters=[name])["clusters"]
    assert cluster["status"] == "INACTIVE"


def test_describe_clusters_through_the_aws_cli(
    aws: Cli, described_cluster: str, unique: Unique
) -> None:
    ghost = unique("ghost")
    result = cli_ok(
        aws(
            "ecs",
            "describe-clusters",
            "--clusters",
            described_cluster,
            ghost,
            "--include",
            "TAGS",
            "SETTINGS",
        )
    )
    (cluster,) = result["clusters"]
    assert cluster["tags"] == [{"key": "k", "value": "v"}]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert result["failures"] == [{"arn": arn(ghost), "reason": "MISSING"}]


# --- ListClusters --------------------------------------------------------------------


def test_list_clusters_pages_through_active_clusters_in_name_order(
    isolated: tuple[Any, str],
) -> None:
    ecs, region = isolated
    names = [f"list-{i:02d}" for i in range(7)]
    for name in names:
        ecs.create_cluster(clusterName=name)
    ecs.delete_cluster(cluster="list-03")
    expected = [arn(n, region) for n in names if n != "list-03"]

    pages = list(ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 4}))
    assert [len(p["clusterArns"]) for p in pages] == [4, 2]
    assert [a for p in pages for a in p["clusterArns"]] == expected

    first = ecs.list_clusters(maxResults=2)
    assert first["clusterArns"] == expected[:2]
    second = ecs.list_clusters(maxResults=2, nextToken=first["nextToken"])
    assert second["clusterArns"] == expected[2:4]
    rest = ecs.list_clusters(nextToken=second["nextToken"])
    assert rest["clusterArns"] == expected[4:]
    assert "nextToken" not in rest


def test_list_clusters_with_exactly_a_page_has_no_next_token(isolated: tuple[Any, str]) -> None:
    ecs, region = isolated
    for name in ("a", "b"):
        ecs.create_cluster(clusterName=name)
    page = ecs.list_clusters(maxResults=2)
    assert page["clusterArns"] == [arn("a", region), arn("b", region)]
    assert "nextToken" not in page


def test_list_clusters_in_an_empty_region_is_empty(isolated: tuple[Any, str]) -> None:
    ecs, _ = isolated
    assert ecs.list_clusters()["clusterArns"] == []


@pytest.mark.parametrize("max_results", [0, 101])
def test_list_clusters_max_results_is_between_1_and_100(ecs: Any, max_results: int) -> None:
    assert error(ecs.list_clusters, maxResults=max_results) == (
        "InvalidParameterException",
        "maxResults must be between 1 and 100, inclusive.",
    )


def test_list_clusters_refuses_a_token_it_did_not_make(ecs: Any) -> None:
    code, message = error(ecs.list_clusters, nextToken="not-a-token")
    assert (code, message) == ("InvalidParameterException", "Invalid token not-a-token")


def test_list_clusters_through_the_aws_cli_paginates(
    server: ServerProcess, aws: Cli, unique: Unique
) -> None:
    region = unique("zz")
    ecs = client_in(server, region)
    for i in range(5):
        ecs.create_cluster(clusterName=f"cli-{i}")
    everything = cli_ok(aws("ecs", "list-clusters", "--region", region, "--page-size", "2"))
    assert everything["clusterArns"] == [arn(f"cli-{i}", region) for i in range(5)]
    limited = cli_ok(aws("ecs", "list-clusters", "--region", region, "--max-items", "3"))
    assert limited["clusterArns"] == [arn(f"cli-{i}", region) for i in range(3)]
    assert limited["NextToken"]


# --- UpdateCluster and UpdateClusterSettings -----------------------------------------


def test_update_cluster_changes_settings_configuration_and_service_connect(
    ecs: Any, unique: Unique
) -> None:
    name = unique("update")
    ecs.create_cluster(clusterName=name, tags=[{"key": "k", "value": "v"}])
    configuration = {"executeCommandConfiguration": {"logging": "NONE"}}
    updated = ecs.update_cluster(
        cluster=name,
        settings=[{"name": "containerInsights", "value": "enhanced"}],
        configuration=configuration,
        serviceConnectDefaults={"namespace": "apps"},
    )["cluster"]
    assert updated["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    assert updated["configuration"] == configuration
    assert updated["serviceConnectDefaults"] == {"namespace": "apps"}
    assert updated["status"] == "ACTIVE"
    (described,) = ecs.describe_clusters(
        clusters=[name], include=["SETTINGS", "CONFIGURATIONS", "TAGS"]
    )["clusters"]
    assert described["settings"] == updated["settings"]
    assert described["configuration"] == configuration
    assert described["tags"] == [{"key": "k", "value": "v"}]


def test_update_cluster_with_nothing_to_change_keeps_the_cluster(ecs: Any, unique: Unique) -> None:
    name = unique("noop")
    created = ecs.create_cluster(clusterName=name)["cluster"]
    assert ecs.update_cluster(cluster=arn(name))["cluster"] == created


def test_update_cluster_of_an_unknown_cluster_is_not_found(ecs: Any, unique: Unique) -> None:
    assert error(ecs.update_cluster, cluster=unique("ghost")) == NOT_FOUND


def test_update_cluster_of_a_deleted_cluster_is_not_found(ecs: Any, unique: Unique) -> None:
    name = unique("gone")
    ecs.create_cluster(clusterName=name)
    ecs.delete_cluster(cluster=name)
    assert error(ecs.update_cluster, cluster=name) == NOT_FOUND


def test_update_cluster_refuses_an_invalid_setting_value(ecs: Any, unique: Unique) -> None:
    name = unique("update")
    ecs.create_cluster(clusterName=name)
    assert error(
        ecs.update_cluster, cluster=name, settings=[{"name": "containerInsights", "value": "on"}]
    ) == (
        "InvalidParameterException",
        "Invalid value 'on' for cluster setting containerInsights. "
        "Valid values are enabled, enhanced and disabled.",
    )


def test_update_cluster_needs_a_cluster(raw: Any) -> None:
    assert error(raw.update_cluster) == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'cluster' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_update_cluster_through_the_aws_cli(ecs: Any, aws: Cli, unique: Unique) -> None:
    name = unique("cli-update")
    ecs.create_cluster(clusterName=name)
    updated = cli_ok(
        aws(
            "ecs",
            "update-cluster",
            "--cluster",
            name,
            "--settings",
            "name=containerInsights,value=enabled",
            "--configuration",
            json.dumps({"executeCommandConfiguration": {"logging": "DEFAULT"}}),
        )
    )["cluster"]
    assert updated["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert updated["configuration"] == {"executeCommandConfiguration": {"logging": "DEFAULT"}}


def test_update_cluster_settings_turns_container_insights_on(ecs: Any, unique: Unique) -> None:
    name = unique("settings")
    ecs.create_cluster(clusterName=name)
    updated = ecs.update_cluster_settings(
        cluster=name, settings=[{"name": "containerInsights", "value": "enabled"}]
    )["cluster"]
    assert updated["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    (described,) = ecs.describe_clusters(clusters=[name], include=["SETTINGS"])["clusters"]
    assert described["settings"] == [{"name": "containerInsights", "value": "enabled"}]


def test_update_cluster_settings_of_an_unknown_cluster_is_not_found(
    ecs: Any, unique: Unique
) -> None:
    assert (
        error(
            ecs.update_cluster_settings,
            cluster=unique("ghost"),
            settings=[{"name": "containerInsights", "value": "enabled"}],
        )
        == NOT_FOUND
    )


def test_update_cluster_settings_needs_settings(raw: Any) -> None:
    assert error(raw.update_cluster_settings, cluster="any") == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'settings' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_update_cluster_settings_through_the_aws_cli(ecs: Any, aws: Cli, unique: Unique) -> None:
    name = unique("cli-settings")
    ecs.create_cluster(clusterName=name)
    updated = cli_ok(
        aws(
            "ecs",
            "update-cluster-settings",
            "--cluster",
            name,
            "--settings",
            "name=containerInsights,value=enhanced",
        )
    )["cluster"]
    assert updated["settings"] == [{"name": "containerInsights", "value": "enhanced"}]


# --- PutClusterCapacityProviders -----------------------------------------------------


def test_put_cluster_capacity_providers_sets_providers_and_strategy(
    ecs: Any, unique: Unique
) -> None:
    name = unique("put")
    ecs.create_cluster(clusterName=name)
    cluster = ecs.put_cluster_capacity_providers(
        cluster=name,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
            {"capacityProvider": "FARGATE", "weight": 1, "base": 2},
        ],
    )["cluster"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
        {"capacityProvider": "FARGATE", "weight": 1, "base": 2},
    ]
    (described,) = ecs.describe_clusters(clusters=[name])["clusters"]
    assert described["capacityProviders"] == cluster["capacityProviders"]
    assert (
        described["defaultCapacityProviderStrategy"] == cluster["defaultCapacityProviderStrategy"]
    )


def test_put_cluster_capacity_providers_with_empty_lists_removes_them(
    ecs: Any, unique: Unique
) -> None:
    name = unique("put")
    ecs.create_cluster(
        clusterName=name,
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    cluster = ecs.put_cluster_capacity_providers(
        cluster=name, capacityProviders=[], defaultCapacityProviderStrategy=[]
    )["cluster"]
    assert cluster["capacityProviders"] == []
    assert cluster["defaultCapacityProviderStrategy"] == []


def test_put_cluster_capacity_providers_accepts_a_strategy_of_zero_weights(
    ecs: Any, unique: Unique
) -> None:
    # ECS refuses such a strategy when a RunTask or CreateService falls back on it.
    name = unique("put")
    ecs.create_cluster(clusterName=name)
    cluster = ecs.put_cluster_capacity_providers(
        cluster=name,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE"},
            {"capacityProvider": "FARGATE_SPOT"},
        ],
    )["cluster"]
    assert [i["weight"] for i in cluster["defaultCapacityProviderStrategy"]] == [0, 0]


def test_put_cluster_capacity_providers_refuses_an_unknown_provider(
    ecs: Any, unique: Unique
) -> None:
    name = unique("put")
    ecs.create_cluster(clusterName=name)
    assert (
        error(
            ecs.put_cluster_capacity_providers,
            cluster=name,
            capacityProviders=["FARGATE", "my-asg-provider"],
            defaultCapacityProviderStrategy=[],
        )
        == PROVIDER_NOT_FOUND
    )


def test_put_cluster_capacity_providers_refuses_two_providers_with_a_base(
    ecs: Any, unique: Unique
) -> None:
    name = unique("put")
    ecs.create_cluster(clusterName=name)
    assert error(
        ecs.put_cluster_capacity_providers,
        cluster=name,
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "base": 5, "weight": 1},
        ],
    ) == (
        "InvalidParameterException",
        "Only one capacity provider in a capacity provider strategy can have a base defined.",
    )


def test_put_cluster_capacity_providers_refuses_a_strategy_outside_the_providers(
    ecs: Any, unique: Unique
) -> None:
    name = unique("put")
    ecs.create_cluster(clusterName=name)
    code, message = error(
        ecs.put_cluster_capacity_providers,
        cluster=name,
        capacityProviders=[],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    assert code == "InvalidParameterException"
    assert message.endswith("Capacity provider: FARGATE")


def test_put_cluster_capacity_providers_leaves_the_cluster_alone_when_refused(
    ecs: Any, unique: Unique
) -> None:
    name = unique("put")
    ecs.create_cluster(clusterName=name, capacityProviders=["FARGATE"])
    error(
        ecs.put_cluster_capacity_providers,
        cluster=name,
        capacityProviders=["NOPE"],
        defaultCapacityProviderStrategy=[],
    )
    (described,) = ecs.describe_clusters(clusters=[name])["clusters"]
    assert described["capacityProviders"] == ["FARGATE"]


def test_put_cluster_capacity_providers_on_an_unknown_cluster_is_not_found(
    ecs: Any, unique: Unique
) -> None:
    assert (
        error(
            ecs.put_cluster_capacity_providers,
            cluster=unique("ghost"),
            capacityProviders=[],
            defaultCapacityProviderStrategy=[],
        )
        == NOT_FOUND
    )


def test_put_cluster_capacity_providers_needs_a_strategy(raw: Any) -> None:
    assert error(raw.put_cluster_capacity_providers, cluster="c", capacityProviders=[]) == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'defaultCapacityProviderStrategy' failed "
        "to satisfy constraint: Member must not be null",
    )


def test_put_cluster_capacity_providers_through_the_aws_cli(
    ecs: Any, aws: Cli, unique: Unique
) -> None:
    name = unique("cli-put")
    ecs.create_cluster(clusterName=name)
    cluster = cli_ok(
        aws(
            "ecs",
            "put-cluster-capacity-providers",
            "--cluster",
            name,
            "--capacity-providers",
            "FARGATE",
            "FARGATE_SPOT",
            "--default-capacity-provider-strategy",
            "capacityProvider=FARGATE,weight=1,base=1",
            "capacityProvider=FARGATE_SPOT,weight=1",
        )
    )["cluster"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategy"][1] == {
        "capacityProvider": "FARGATE_SPOT",
        "weight": 1,
        "base": 0,
    }


# --- DeleteCluster -------------------------------------------------------------------


def test_delete_cluster_makes_it_inactive_and_unlisted(
    isolated: tuple[Any, str], unique: Unique
) -> None:
    ecs, region = isolated
    name = unique("delete")
    ecs.create_cluster(clusterName=name, tags=[{"key": "k", "value": "v"}])
    deleted = ecs.delete_cluster(cluster=name)["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert deleted["clusterArn"] == arn(name, region)
    assert ecs.list_clusters()["clusterArns"] == []
    (described,) = ecs.describe_clusters(clusters=[name])["clusters"]
    assert described["status"] == "INACTIVE"


def test_delete_cluster_by_arn(ecs: Any, unique: Unique) -> None:
    name = unique("delete")
    ecs.create_cluster(clusterName=name)
    assert ecs.delete_cluster(cluster=arn(name))["cluster"]["status"] == "INACTIVE"


def test_delete_cluster_of_an_unknown_cluster_is_not_found(ecs: Any, unique: Unique) -> None:
    assert error(ecs.delete_cluster, cluster=unique("ghost")) == NOT_FOUND


def test_delete_cluster_twice_is_not_found_the_second_time(ecs: Any, unique: Unique) -> None:
    name = unique("twice")
    ecs.create_cluster(clusterName=name)
    ecs.delete_cluster(cluster=name)
    assert error(ecs.delete_cluster, cluster=name) == NOT_FOUND


def test_delete_cluster_through_the_aws_cli(ecs: Any, aws: Cli, unique: Unique) -> None:
    name = unique("cli-delete")
    ecs.create_cluster(clusterName=name)
    deleted = cli_ok(aws("ecs", "delete-cluster", "--cluster", name))["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert cli_error(aws("ecs", "delete-cluster", "--cluster", name)) == NOT_FOUND
