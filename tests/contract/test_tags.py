"""TagResource, UntagResource and ListTagsForResource through boto3 and the AWS CLI,
for every taggable resource type, with AWS's errors for ARNs that name nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.awscli import CliResult
from tests.support.server import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, ServerProcess

ARN_PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}"


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = err.value.response["Error"]
    return error["Code"], error["Message"]


def _tags(ecs: Any, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}


def _agent_post(server: ServerProcess, path: str, payload: dict[str, Any]) -> httpx.Response:
    """A signed call on the agent channel, as `openecs agent` makes it."""
    url = server.endpoint + path
    body = json.dumps(payload).encode()
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "ecs", REGION).add_auth(request)
    return httpx.post(url, content=body, headers=dict(request.headers.items()), timeout=30)


def _register_instance(ecs: Any, cluster: str) -> str:
    """A container instance with room for one small task; its ARN."""
    arn: str = ecs.register_container_instance(
        cluster=cluster,
        instanceIdentityDocument=json.dumps({"instanceId": f"i-{uuid.uuid4().hex[:17]}"}),
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024},
        ],
    )["containerInstance"]["containerInstanceArn"]
    return arn


def _add_service(ecs: Any, cluster: str, name: str) -> str:
    """A service that wants no tasks."""
    td = _register_task_definition(ecs, f"{cluster}-{name}")
    arn: str = ecs.create_service(
        cluster=cluster, serviceName=name, taskDefinition=td, desiredCount=0
    )["service"]["serviceArn"]
    return arn


def _add_task(ecs: Any, server: ServerProcess, cluster: str) -> str:
    """A STOPPED task: started on an instance, stopped by the user, and reported
    stopped by the instance's agent (the instance is deregistered afterwards)."""
    instance = _register_instance(ecs, cluster)
    td = _register_task_definition(ecs, f"{cluster}-task")
    started = ecs.start_task(cluster=cluster, taskDefinition=td, containerInstances=[instance])
    assert started["failures"] == []
    arn: str = started["tasks"][0]["taskArn"]
    ecs.stop_task(cluster=cluster, task=arn)
    report = {
        "instanceId": instance.rsplit("/", 1)[-1],
        "tasks": [{"taskArn": arn, "lastStatus": "STOPPED"}],
    }
    answer = _agent_post(server, "/agent/v1/report", report)
    assert answer.status_code == 200 and answer.json() == {"changed": 1}, answer.text
    described = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
    assert described["lastStatus"] == "STOPPED"
    ecs.deregister_container_instance(cluster=cluster, containerInstance=instance)
    return arn


def _add_container_instance(ecs: Any, cluster: str) -> str:
    """A DRAINING container instance."""
    arn = _register_instance(ecs, cluster)
    drained = ecs.update_container_instances_state(
        cluster=cluster, containerInstances=[arn], status="DRAINING"
    )
    assert drained["containerInstances"][0]["status"] == "DRAINING"
    return arn


def _register_task_definition(ecs: Any, family: str) -> str:
    arn: str = ecs.register_task_definition(
        family=family,
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 64}],
    )["taskDefinition"]["taskDefinitionArn"]
    return arn


# --- clusters -------------------------------------------------------------------------


def test_tags_added_to_a_cluster_are_listed_merged_and_overwritten(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    name = unique("tag")
    arn = ecs.create_cluster(clusterName=name, tags=[{"key": "team", "value": "a"}])["cluster"][
        "clusterArn"
    ]
    ecs.tag_resource(
        resourceArn=arn,
        tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": "b"}],
    )
    assert _tags(ecs, arn) == {"env": "prod", "team": "b"}
    described = ecs.describe_clusters(clusters=[name], include=["TAGS"])["clusters"][0]
    assert sorted(described["tags"], key=lambda t: t["key"]) == [
        {"key": "env", "value": "prod"},
        {"key": "team", "value": "b"},
    ]


def test_a_tag_may_have_an_empty_value_and_unicode_letters(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    arn = ecs.create_cluster(clusterName=unique("tag"))["cluster"]["clusterArn"]
    ecs.tag_resource(
        resourceArn=arn, tags=[{"key": "empty", "value": ""}, {"key": "städte", "value": "Köln"}]
    )
    assert _tags(ecs, arn) == {"empty": "", "städte": "Köln"}


def test_untag_removes_only_the_named_keys_and_ignores_unknown_ones(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    arn = ecs.create_cluster(clusterName=unique("tag"))["cluster"]["clusterArn"]
    ecs.tag_resource(
        resourceArn=arn, tags=[{"key": k, "value": k.upper()} for k in ("a", "b", "c")]
    )
    ecs.untag_resource(resourceArn=arn, tagKeys=["a", "never-there"])
    assert _tags(ecs, arn) == {"b": "B", "c": "C"}
    ecs.untag_resource(resourceArn=arn, tagKeys=[])
    assert _tags(ecs, arn) == {"b": "B", "c": "C"}


def test_fifty_tags_fit_but_a_fifty_first_after_merging_is_over_the_limit(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    arn = ecs.create_cluster(clusterName=unique("tag"))["cluster"]["clusterArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    # Overwriting an existing key does not add a tag.
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "k0", "value": "changed"}])
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k50", "value": "v"}])
    assert _error(err) == (
        "LimitExceededException",
        "The resource would have 51 tags, over the limit of 50 tags per resource.",
    )
    tags = _tags(ecs, arn)
    assert len(tags) == 50
    assert tags["k0"] == "changed"


def test_more_than_fifty_tags_in_one_request_fail_validation(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    arn = ecs.create_cluster(clusterName=unique("tag"))["cluster"]["clusterArn"]
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    code, message = _error(err)
    assert code == "InvalidParameterException"
    assert message.startswith("1 validation error detected: Value '")
    assert message.endswith(
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    )


def test_key_and_value_lengths_and_characters_are_checked(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    arn = ecs.create_cluster(clusterName=unique("tag"))["cluster"]["clusterArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "k" * 128, "value": "v" * 256}])
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k" * 129, "value": "v"}])
    assert _error(err) == (
        "InvalidParameterException",
        f"1 validation error detected: Value '{'k' * 129}' at 'tags.1.member.key' failed to "
        "satisfy constraint: Member must have length less than or equal to 128",
    )
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v" * 257}])
    assert _error(err)[1].endswith(
        "at 'tags.1.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 256"
    )
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "a#b"}])
    assert _error(err) == (
        "InvalidParameterException",
        "1 validation error detected: Value 'a#b' at 'tags.1.member.value' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)",
    )
    assert _tags(ecs, arn) == {"k" * 128: "v" * 256}


@pytest.mark.parametrize("key", ["aws:owner", "AWS:owner", "Aws:x"])
def test_the_aws_prefix_is_reserved_for_tagging_and_untagging(
    ecs: Any, unique: Callable[[str], str], key: str
) -> None:
    arn = ecs.create_cluster(clusterName=unique("tag"))["cluster"]["clusterArn"]
    expected = (
        "InvalidParameterException",
        "Tag keys cannot start with the reserved prefix 'aws:'.",
    )
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": key, "value": "v"}])
    assert _error(err) == expected
    with pytest.raises(ClientError) as err:
        ecs.untag_resource(resourceArn=arn, tagKeys=[key])
    assert _error(err) == expected


def test_a_cluster_that_never_existed_is_not_found_by_every_tag_operation(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    arn = f"{ARN_PREFIX}:cluster/{unique('ghost')}"
    calls = [
        lambda: ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "b"}]),
        lambda: ecs.untag_resource(resourceArn=arn, tagKeys=["a"]),
        lambda: ecs.list_tags_for_resource(resourceArn=arn),
    ]
    for call in calls:
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == ("ClusterNotFoundException", "Cluster not found.")


def test_a_deleted_cluster_is_reported_inactive_and_keeps_its_tags(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    name = unique("tag")
    arn = ecs.create_cluster(clusterName=name, tags=[{"key": "a", "value": "b"}])["cluster"][
        "clusterArn"
    ]
    ecs.delete_cluster(cluster=name)
    for call in (
        lambda: ecs.list_tags_for_resource(resourceArn=arn),
        lambda: ecs.tag_resource(resourceArn=arn, tags=[{"key": "c", "value": "d"}]),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == (
            "InvalidParameterException",
            "The specified cluster is inactive. Specify an active cluster and try again.",
        )
    # Re-creating the cluster starts it afresh, without the old tags.
    ecs.create_cluster(clusterName=name)
    assert _tags(ecs, arn) == {}


def test_a_cluster_arn_of_another_region_names_nothing_here(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    name = unique("tag")
    ecs.create_cluster(clusterName=name)
    with pytest.raises(ClientError) as err:
        ecs.list_tags_for_resource(resourceArn=f"arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/{name}")
    assert _error(err) == ("ClusterNotFoundException", "Cluster not found.")


@pytest.mark.parametrize(
    "arn",
    [
        "not-an-arn",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster",
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue/q",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:widget/w",
    ],
)
def test_an_arn_that_is_not_a_taggable_ecs_resource_is_invalid(ecs: Any, arn: str) -> None:
    with pytest.raises(ClientError) as err:
        ecs.list_tags_for_resource(resourceArn=arn)
    assert _error(err) == (
        "InvalidParameterException",
        f"The ARN provided is invalid: {arn}. Specify the ARN of a cluster, service, task, "
        "container instance, task definition or capacity provider.",
    )


def test_an_arn_of_another_account_is_refused(ecs: Any) -> None:
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(
            resourceArn=f"arn:aws:ecs:{REGION}:123456789012:cluster/theirs",
            tags=[{"key": "a", "value": "b"}],
        )
    assert _error(err) == (
        "InvalidParameterException",
        f"Identifier is for 123456789012. Your accountId is {ACCOUNT}",
    )


@pytest.mark.parametrize("kind", ["service", "task", "container-instance"])
def test_short_arns_of_cluster_resources_cannot_be_tagged(ecs: Any, kind: str) -> None:
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(
            resourceArn=f"{ARN_PREFIX}:{kind}/only-an-id", tags=[{"key": "a", "value": "b"}]
        )
    assert _error(err) == (
        "InvalidParameterException",
        "Long arn format must be used for tagging operations",
    )


def test_capacity_providers_that_do_not_exist_are_not_found(ecs: Any) -> None:
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(
            resourceArn=f"{ARN_PREFIX}:capacity-provider/none", tags=[{"key": "a", "value": "b"}]
        )
    assert _error(err) == ("ResourceNotFoundException", "The specified resource wasn't found.")


# --- services, tasks, container instances ----------------------------------------------


@pytest.mark.parametrize("kind", ["service", "task", "container-instance"])
def test_services_tasks_and_container_instances_take_tags(
    ecs: Any, server: ServerProcess, unique: Callable[[str], str], kind: str
) -> None:
    cluster = unique("tag")
    ecs.create_cluster(clusterName=cluster)
    if kind == "service":
        arn = _add_service(ecs, cluster, unique("svc"))
    elif kind == "task":
        arn = _add_task(ecs, server, cluster)
    else:
        arn = _add_container_instance(ecs, cluster)
    assert _tags(ecs, arn) == {}
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])
    ecs.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert _tags(ecs, arn) == {"b": "2"}


@pytest.mark.parametrize("kind", ["service", "task", "container-instance"])
def test_a_missing_resource_in_an_existing_cluster_is_not_found(
    ecs: Any, unique: Callable[[str], str], kind: str
) -> None:
    cluster = unique("tag")
    ecs.create_cluster(clusterName=cluster)
    arn = f"{ARN_PREFIX}:{kind}/{cluster}/{uuid.uuid4().hex}"
    for call in (
        lambda: ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "b"}]),
        lambda: ecs.untag_resource(resourceArn=arn, tagKeys=["a"]),
        lambda: ecs.list_tags_for_resource(resourceArn=arn),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == ("ResourceNotFoundException", "The specified resource wasn't found.")


def test_a_service_in_a_missing_cluster_reports_the_cluster(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    arn = f"{ARN_PREFIX}:service/{unique('ghost')}/web"
    with pytest.raises(ClientError) as err:
        ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "b"}])
    assert _error(err) == ("ClusterNotFoundException", "Cluster not found.")


def test_a_service_of_the_same_name_in_another_cluster_is_a_different_resource(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    one, two = unique("tag"), unique("tag")
    for cluster in (one, two):
        ecs.create_cluster(clusterName=cluster)
    arn_one = _add_service(ecs, one, "web")
    ecs.tag_resource(resourceArn=arn_one, tags=[{"key": "a", "value": "b"}])
    with pytest.raises(ClientError) as err:
        ecs.list_tags_for_resource(resourceArn=f"{ARN_PREFIX}:service/{two}/web")
    assert _error(err)[0] == "ResourceNotFoundException"


# --- task definitions -----------------------------------------------------------------


def test_task_definition_revisions_are_tagged_separately(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    family = unique("tagfam")
    first = _register_task_definition(ecs, family)
    second = _register_task_definition(ecs, family)
    assert first.endswith(f":task-definition/{family}:1")
    ecs.tag_resource(resourceArn=first, tags=[{"key": "rev", "value": "one"}])
    assert _tags(ecs, first) == {"rev": "one"}
    assert _tags(ecs, second) == {}
    ecs.untag_resource(resourceArn=first, tagKeys=["rev"])
    assert _tags(ecs, first) == {}


def test_a_task_definition_revision_that_does_not_exist_is_not_found(
    ecs: Any, unique: Callable[[str], str]
) -> None:
    family = unique("tagfam")
    _register_task_definition(ecs, family)
    for arn in (
        f"{ARN_PREFIX}:task-definition/{family}:2",
        f"{ARN_PREFIX}:task-definition/{unique('nofam')}:1",
    ):
        with pytest.raises(ClientError) as err:
            ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "b"}])
        assert _error(err) == ("ResourceNotFoundException", "The specified resource wasn't found.")


# --- the AWS CLI ----------------------------------------------------------------------


def test_the_aws_cli_tags_lists_and_untags_a_cluster(
    ecs: Any, aws: Callable[..., CliResult], unique: Callable[[str], str]
) -> None:
    arn = ecs.create_cluster(clusterName=unique("tag"))["cluster"]["clusterArn"]
    tagged = aws(
        "ecs", "tag-resource", "--resource-arn", arn, "--tags", "key=a,value=1", "key=b,value=2"
    )
    assert tagged.returncode == 0, tagged.stderr
    listed = aws("ecs", "list-tags-for-resource", "--resource-arn", arn)
    assert listed.returncode == 0, listed.stderr
    assert listed.json == {"tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}
    untagged = aws("ecs", "untag-resource", "--resource-arn", arn, "--tag-keys", "a")
    assert untagged.returncode == 0, untagged.stderr
    assert aws("ecs", "list-tags-for-resource", "--resource-arn", arn).json == {
        "tags": [{"key": "b", "value": "2"}]
    }


def test_the_aws_cli_shows_aws_errors_for_tagging(
    aws: Callable[..., CliResult], unique: Callable[[str], str]
) -> None:
    ghost = f"{ARN_PREFIX}:cluster/{unique('ghost')}"
    result = aws("ecs", "list-tags-for-resource", "--resource-arn", ghost)
    assert result.returncode != 0
    assert (
        "An error occurred (ClusterNotFoundException) when calling the ListTagsForResource "
        "operation: Cluster not found." in result.stderr
    )
    short = aws(
        "ecs", "tag-resource", "--resource-arn", f"{ARN_PREFIX}:task/abc", "--tags", "key=a,value=b"
    )
    assert short.returncode != 0
    assert (
        "(InvalidParameterException) when calling the TagResource operation: "
        "Long arn format must be used for tagging operations" in short.stderr
    )
