"""PutAttributes, ListAttributes and DeleteAttributes through boto3 and the AWS CLI.

Container instances come from RegisterContainerInstance with the registered
attributes a test chooses (no availability zone or instance type in the identity
document, so the server adds none of its own), and DeregisterContainerInstance
for deregistered ones.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.awscli import CliResult
from tests.support.server import ACCOUNT, REGION

REGISTERED = [
    {"name": "ecs.os-type", "value": "linux"},
    {"name": "ecs.capability.docker-remote-api.1.44"},
]


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = err.value.response["Error"]
    return error["Code"], error["Message"]


@pytest.fixture
def add_instance(ecs: Any) -> Callable[..., str]:
    """Register a container instance in a cluster (deregistered for INACTIVE); its ARN.
    It has no resources, so no task is ever placed on it."""

    def add(
        cluster: str, *, registered: list[dict[str, str]] | None = None, status: str = "ACTIVE"
    ) -> str:
        arn: str = ecs.register_container_instance(
            cluster=cluster,
            instanceIdentityDocument=json.dumps({"instanceId": f"i-{uuid.uuid4().hex[:17]}"}),
            attributes=REGISTERED if registered is None else registered,
        )["containerInstance"]["containerInstanceArn"]
        if status == "INACTIVE":
            ecs.deregister_container_instance(cluster=cluster, containerInstance=arn)
        else:
            assert status == "ACTIVE", status
        return arn

    return add


@pytest.fixture
def cluster(ecs: Any, unique: Callable[[str], str]) -> str:
    name = unique("attr")
    ecs.create_cluster(clusterName=name)
    return name


def _listed(ecs: Any, cluster: str, **filters: Any) -> list[tuple[str, str, str | None]]:
    pages = ecs.get_paginator("list_attributes").paginate(
        cluster=cluster, targetType="container-instance", **filters
    )
    return [
        (a["targetId"], a["name"], a.get("value")) for page in pages for a in page["attributes"]
    ]


def test_put_attributes_by_arn_and_list_them_with_the_registered_ones(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    arn = add_instance(cluster)
    answer = ecs.put_attributes(
        cluster=cluster,
        attributes=[
            {"name": "stack", "value": "production", "targetId": arn},
            {"name": "gpu", "targetId": arn},
        ],
    )
    # PutAttributes answers with the attributes as they were given.
    assert answer["attributes"] == [
        {"name": "stack", "value": "production", "targetId": arn},
        {"name": "gpu", "targetId": arn},
    ]
    listed = ecs.list_attributes(cluster=cluster, targetType="container-instance")["attributes"]
    on_instance = {"targetType": "container-instance", "targetId": arn}
    assert listed == [
        {"name": "ecs.capability.docker-remote-api.1.44", **on_instance},
        {"name": "ecs.os-type", "value": "linux", **on_instance},
        {"name": "gpu", **on_instance},
        {"name": "stack", "value": "production", **on_instance},
    ]


def test_put_attributes_by_instance_id_needs_the_target_type(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    arn = add_instance(cluster)
    instance_id = arn.rsplit("/", 1)[-1]
    ecs.put_attributes(
        cluster=cluster,
        attributes=[
            {
                "name": "rack",
                "value": "r1",
                "targetType": "container-instance",
                "targetId": instance_id,
            }
        ],
    )
    assert (arn, "rack", "r1") in _listed(ecs, cluster)
    with pytest.raises(ClientError) as err:
        ecs.put_attributes(
            cluster=cluster, attributes=[{"name": "rack", "value": "r2", "targetId": instance_id}]
        )
    assert _error(err) == (
        "InvalidParameterException",
        f"The targetType must be specified when the targetId {instance_id} is not an ARN.",
    )


def test_putting_an_attribute_again_replaces_its_value(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    arn = add_instance(cluster, registered=[])
    ecs.put_attributes(
        cluster=cluster, attributes=[{"name": "stack", "value": "blue", "targetId": arn}]
    )
    ecs.put_attributes(
        cluster=cluster, attributes=[{"name": "stack", "value": "green", "targetId": arn}]
    )
    assert _listed(ecs, cluster) == [(arn, "stack", "green")]


def test_delete_attributes_removes_custom_attributes_only(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    arn = add_instance(cluster)
    ecs.put_attributes(
        cluster=cluster,
        attributes=[
            {"name": "a", "value": "1", "targetId": arn},
            {"name": "b", "value": "2", "targetId": arn},
        ],
    )
    answer = ecs.delete_attributes(
        cluster=cluster,
        attributes=[{"name": "a", "targetId": arn}, {"name": "zz", "targetId": arn}],
    )
    assert answer["attributes"] == [{"name": "a", "targetId": arn}, {"name": "zz", "targetId": arn}]
    assert _listed(ecs, cluster) == [
        (arn, "b", "2"),
        (arn, "ecs.capability.docker-remote-api.1.44", None),
        (arn, "ecs.os-type", "linux"),
    ]


def test_list_filters_by_name_and_by_name_and_value(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    first, second = add_instance(cluster), add_instance(cluster)
    ecs.put_attributes(
        cluster=cluster,
        attributes=[
            {"name": "stack", "value": "prod", "targetId": first},
            {"name": "stack", "value": "test", "targetId": second},
        ],
    )
    assert sorted(_listed(ecs, cluster, attributeName="stack")) == sorted(
        [(first, "stack", "prod"), (second, "stack", "test")]
    )
    assert _listed(ecs, cluster, attributeName="stack", attributeValue="test") == [
        (second, "stack", "test")
    ]
    assert sorted(_listed(ecs, cluster, attributeName="ecs.os-type", attributeValue="linux")) == (
        sorted([(first, "ecs.os-type", "linux"), (second, "ecs.os-type", "linux")])
    )
    with pytest.raises(ClientError) as err:
        ecs.list_attributes(cluster=cluster, targetType="container-instance", attributeValue="x")
    assert _error(err) == (
        "InvalidParameterException",
        "You must also specify an attribute name to use the attributeValue parameter.",
    )


def test_list_pages_through_every_attribute_of_the_cluster(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    arns = [add_instance(cluster) for _ in range(3)]
    for arn in arns:
        ecs.put_attributes(
            cluster=cluster,
            attributes=[{"name": f"c{i}", "value": str(i), "targetId": arn} for i in range(3)],
        )
    pages = list(
        ecs.get_paginator("list_attributes").paginate(
            cluster=cluster, targetType="container-instance", PaginationConfig={"PageSize": 4}
        )
    )
    assert [len(p["attributes"]) for p in pages] == [4, 4, 4, 3]
    listed = [(a["targetId"], a["name"]) for p in pages for a in p["attributes"]]
    expected = sorted(
        (arn, name)
        for arn in arns
        for name in ("c0", "c1", "c2", "ecs.os-type", "ecs.capability.docker-remote-api.1.44")
    )
    assert listed == expected
    for bad in (0, 101):
        with pytest.raises(ClientError) as err:
            ecs.list_attributes(cluster=cluster, targetType="container-instance", maxResults=bad)
        assert _error(err) == (
            "InvalidParameterException",
            "maxResults must be between 1 and 100, inclusive.",
        )


def test_ten_custom_attributes_per_instance_and_per_call_at_most(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    arn = add_instance(cluster)
    eleven = [{"name": f"n{i}", "value": "v", "targetId": arn} for i in range(11)]
    with pytest.raises(ClientError) as err:
        ecs.put_attributes(cluster=cluster, attributes=eleven)
    assert _error(err) == (
        "InvalidParameterException",
        "You can specify up to 10 attributes in a single call; 11 were specified.",
    )
    ecs.put_attributes(cluster=cluster, attributes=eleven[:10])
    # Replacing one of the ten is no new attribute.
    ecs.put_attributes(cluster=cluster, attributes=[{"name": "n0", "value": "w", "targetId": arn}])
    with pytest.raises(ClientError) as err:
        ecs.put_attributes(cluster=cluster, attributes=eleven[10:])
    assert _error(err) == (
        "AttributeLimitExceededException",
        f"The target {arn} would have 11 custom attributes. "
        "You can apply up to 10 custom attributes for each resource.",
    )
    custom = [name for _, name, _ in _listed(ecs, cluster) if not name.startswith("ecs.")]
    assert len(custom) == 10


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        (
            {"name": "has space", "value": "v"},
            "Invalid attribute name 'has space'. An attribute name must contain between 1 and "
            "128 characters: letters (uppercase and lowercase), numbers, hyphens (-), "
            "underscores (_), forward slashes (/), back slashes (\\) or periods (.).",
        ),
        (
            {"name": "n" * 129, "value": "v"},
            f"Invalid attribute name '{'n' * 129}'. An attribute name must contain between 1 and "
            "128 characters: letters (uppercase and lowercase), numbers, hyphens (-), "
            "underscores (_), forward slashes (/), back slashes (\\) or periods (.).",
        ),
        (
            {"name": "ok", "value": " leading"},
            "Invalid value ' leading' for attribute ok. An attribute value must contain "
            "between 1 and 128 characters: letters (uppercase and lowercase), numbers, "
            "hyphens (-), underscores (_), periods (.), at signs (@), forward slashes (/), "
            "back slashes (\\), colons (:) or spaces, and cannot start or end with a space.",
        ),
        (
            {"name": "ok", "value": "semi;colon"},
            "Invalid value 'semi;colon' for attribute ok. An attribute value must contain "
            "between 1 and 128 characters: letters (uppercase and lowercase), numbers, "
            "hyphens (-), underscores (_), periods (.), at signs (@), forward slashes (/), "
            "back slashes (\\), colons (:) or spaces, and cannot start or end with a space.",
        ),
    ],
)
def test_attribute_names_and_values_follow_aws_rules(
    ecs: Any,
    cluster: str,
    add_instance: Callable[..., str],
    attribute: dict[str, str],
    message: str,
) -> None:
    arn = add_instance(cluster)
    with pytest.raises(ClientError) as err:
        ecs.put_attributes(cluster=cluster, attributes=[{**attribute, "targetId": arn}])
    assert _error(err) == ("InvalidParameterException", message)


def test_names_and_values_may_use_every_allowed_character(
    ecs: Any, cluster: str, add_instance: Callable[..., str]
) -> None:
    arn = add_instance(cluster, registered=[])
    name = "Aa0-_/\\." + "n" * 120
    value = "Aa0-_.@/\\: in the middle"
    ecs.put_attributes(
        cluster=cluster, attributes=[{"name": name, "value": value, "targetId": arn}]
    )
    assert _listed(ecs, cluster) == [(arn, name, value)]


def test_an_attribute_needs_a_target(ecs: Any, cluster: str) -> None:
    with pytest.raises(ClientError) as err:
        ecs.put_attributes(cluster=cluster, attributes=[{"name": "orphan", "value": "v"}])
    assert _error(err) == (
        "InvalidParameterException",
        "Attribute orphan has no targetId. Specify the ARN or the ID of the container "
        "instance the attribute belongs to.",
    )


def test_unknown_deregistered_and_foreign_instances_are_not_targets(
    ecs: Any, cluster: str, add_instance: Callable[..., str], unique: Callable[[str], str]
) -> None:
    other = unique("attr")
    ecs.create_cluster(clusterName=other)
    elsewhere = add_instance(other)
    gone = add_instance(cluster, status="INACTIVE")
    missing = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/{uuid.uuid4()}"
    for target in (elsewhere, gone, missing):
        for call in (ecs.put_attributes, ecs.delete_attributes):
            with pytest.raises(ClientError) as err:
                call(cluster=cluster, attributes=[{"name": "a", "value": "b", "targetId": target}])
            assert _error(err) == (
                "TargetNotFoundException",
                f"The specified target wasn't found: {target}. Container instances are "
                f"cluster-specific and Region-specific; this request is for cluster {cluster}.",
            )
    # A deregistered instance's registered attributes are not listed either.
    assert _listed(ecs, cluster) == []


def test_a_target_arn_must_be_a_container_instance_of_this_account(ecs: Any, cluster: str) -> None:
    task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{cluster}/abc"
    with pytest.raises(ClientError) as err:
        ecs.put_attributes(cluster=cluster, attributes=[{"name": "a", "targetId": task}])
    assert _error(err) == (
        "InvalidParameterException",
        f"Invalid targetId {task}: it is not a container instance ARN.",
    )
    theirs = f"arn:aws:ecs:{REGION}:123456789012:container-instance/{cluster}/abc"
    with pytest.raises(ClientError) as err:
        ecs.put_attributes(cluster=cluster, attributes=[{"name": "a", "targetId": theirs}])
    assert _error(err) == (
        "InvalidParameterException",
        f"Identifier is for 123456789012. Your accountId is {ACCOUNT}",
    )


def test_a_missing_cluster_is_reported_by_every_attribute_operation(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    ghost = unique("ghost")
    for call in (
        lambda: ecs.put_attributes(cluster=ghost, attributes=[{"name": "a", "targetId": "x"}]),
        lambda: ecs.delete_attributes(cluster=ghost, attributes=[{"name": "a", "targetId": "x"}]),
        lambda: ecs.list_attributes(cluster=ghost, targetType="container-instance"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == ("ClusterNotFoundException", "Cluster not found.")


def test_without_a_cluster_the_default_cluster_is_meant(
    ecs: Any, add_instance: Callable[..., str], unique: Callable[[str], str]
) -> None:
    ecs.create_cluster(clusterName="default")
    arn = add_instance("default")
    name = unique("attr").replace("-", "_")
    ecs.put_attributes(attributes=[{"name": name, "value": "yes", "targetId": arn}])
    listed = ecs.list_attributes(targetType="container-instance", attributeName=name)
    assert [(a["targetId"], a.get("value")) for a in listed["attributes"]] == [(arn, "yes")]
    ecs.delete_attributes(attributes=[{"name": name, "targetId": arn}])
    again = ecs.list_attributes(targetType="container-instance", attributeName=name)
    assert again["attributes"] == []


def test_the_aws_cli_puts_lists_and_deletes_attributes(
    ecs: Any,
    aws: Callable[..., CliResult],
    cluster: str,
    add_instance: Callable[..., str],
) -> None:
    arn = add_instance(cluster, registered=[])
    put = aws(
        "ecs",
        "put-attributes",
        "--cluster",
        cluster,
        "--attributes",
        f"name=stack,value=production,targetId={arn}",
    )
    assert put.returncode == 0, put.stderr
    assert put.json == {"attributes": [{"name": "stack", "value": "production", "targetId": arn}]}
    listed = aws(
        "ecs", "list-attributes", "--cluster", cluster, "--target-type", "container-instance"
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.json == {
        "attributes": [
            {
                "name": "stack",
                "value": "production",
                "targetType": "container-instance",
                "targetId": arn,
            }
        ]
    }
    deleted = aws(
        "ecs",
        "delete-attributes",
        "--cluster",
        cluster,
        "--attributes",
        f"name=stack,targetId={arn}",
    )
    assert deleted.returncode == 0, deleted.stderr
    assert _listed(ecs, cluster) == []


def test_the_aws_cli_shows_aws_errors_for_attributes(
    aws: Callable[..., CliResult], cluster: str
) -> None:
    missing = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{cluster}/{uuid.uuid4()}"
    result = aws(
        "ecs",
        "put-attributes",
        "--cluster",
        cluster,
        "--attributes",
        f"name=stack,value=production,targetId={missing}",
    )
    assert result.returncode != 0
    assert (
        "An error occurred (TargetNotFoundException) when calling the PutAttributes operation: "
        f"The specified target wasn't found: {missing}." in result.stderr
    )
