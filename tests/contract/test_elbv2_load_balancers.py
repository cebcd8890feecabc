"""CreateLoadBalancer, DescribeLoadBalancers, DeleteLoadBalancer and the tag
operations through boto3's elbv2 client and the AWS CLI."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import elbv2 as support
from tests.support.awscli import CliResult
from tests.support.elbv2 import Resources, error_of
from tests.support.server import ACCOUNT, REGION, ServerProcess

LB_ARN = re.compile(
    rf"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/([A-Za-z0-9-]+)/[0-9a-f]{{16}}"
)


@pytest.fixture(scope="module")
def elbv2(server: ServerProcess) -> Any:
    return server.client("elbv2")


@pytest.fixture
def made(elbv2: Any) -> Iterator[Resources]:
    with support.resources(elbv2) as resources:
        yield resources


def test_a_new_load_balancer_is_an_active_application_load_balancer_reachable_here(
    made: Resources, unique: Callable[[str], str]
) -> None:
    name = unique("lb")
    before = time.time()
    lb = made.load_balancer(name, Subnets=["subnet-a", "subnet-b"], SecurityGroups=["sg-1"])
    match = LB_ARN.fullmatch(lb["LoadBalancerArn"])
    assert match is not None and match.group(1) == name
    assert lb["LoadBalancerName"] == name
    assert (lb["Type"], lb["Scheme"], lb["IpAddressType"]) == (
        "application",
        "internet-facing",
        "ipv4",
    )
    assert lb["State"] == {"Code": "active"}
    assert before - 1 <= lb["CreatedTime"].timestamp() <= time.time() + 1
    assert lb["SecurityGroups"] == ["sg-1"]
    assert [z["SubnetId"] for z in lb["AvailabilityZones"]] == ["subnet-a", "subnet-b"]
    addresses = {
        a["IpAddress"] for z in lb["AvailabilityZones"] for a in z["LoadBalancerAddresses"]
    }
    assert addresses == {"127.0.0.1"}
    resolved = {info[4][0] for info in socket.getaddrinfo(lb["DNSName"], 80, socket.AF_INET)}
    assert resolved == {"127.0.0.1"}


def test_create_is_idempotent_and_other_settings_under_the_name_are_a_duplicate(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    name = unique("lb")
    first = made.load_balancer(name)
    again = elbv2.create_load_balancer(Name=name)["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
    with pytest.raises(ClientError) as err:
        elbv2.create_load_balancer(Name=name, Scheme="internal")
    assert error_of(err) == (
        "DuplicateLoadBalancerName",
        f"A load balancer with the same name '{name}' exists, but with different settings",
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 33, f"Load balancer name '{'a' * 33}' cannot be longer than '32' characters"),
        (
            "my_lb",
            "Load balancer name 'my_lb' can only contain characters that are alphanumeric "
            "characters or hyphens(-)",
        ),
        ("web-", "Load balancer name 'web-' cannot begin or end with '-'"),
        ("internal-web", "Load balancer name 'internal-web' cannot begin with 'internal-'"),
    ],
)
def test_names_aws_refuses_are_validation_errors(elbv2: Any, name: str, message: str) -> None:
    with pytest.raises(ClientError) as err:
        elbv2.create_load_balancer(Name=name)
    assert error_of(err) == ("ValidationError", message)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"Type": "network"}, "Load balancer type 'network' is not supported by OpenECS"),
        ({"IpAddressType": "dualstack"}, "IP address type 'dualstack' is not supported"),
    ],
)
def test_what_openecs_does_not_offer_is_refused_by_name(
    elbv2: Any, unique: Callable[[str], str], settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ClientError) as err:
        elbv2.create_load_balancer(Name=unique("lb"), **settings)
    code, text = error_of(err)
    assert code == "ValidationError"
    assert text.startswith(message)


def test_describe_by_names_or_arns_and_not_found(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    a, b = made.load_balancer(unique("lb")), made.load_balancer(unique("lb"))
    by_name = elbv2.describe_load_balancers(Names=[b["LoadBalancerName"], a["LoadBalancerName"]])
    assert sorted(lb["LoadBalancerArn"] for lb in by_name["LoadBalancers"]) == sorted(
        [a["LoadBalancerArn"], b["LoadBalancerArn"]]
    )
    by_arn = elbv2.describe_load_balancers(LoadBalancerArns=[a["LoadBalancerArn"]])
    assert by_arn["LoadBalancers"] == [a]
    with pytest.raises(ClientError) as err:
        elbv2.describe_load_balancers(Names=[a["LoadBalancerName"], "no-such-lb"])
    assert error_of(err) == ("LoadBalancerNotFound", "One or more load balancers not found")
    with pytest.raises(elbv2.exceptions.LoadBalancerNotFoundException):
        elbv2.describe_load_balancers(
            LoadBalancerArns=[a["LoadBalancerArn"].rsplit("/", 1)[0] + "/" + "f" * 16]
        )


def test_describe_refuses_names_with_arns_and_arns_that_are_not_load_balancers(
    elbv2: Any,
) -> None:
    with pytest.raises(ClientError) as err:
        elbv2.describe_load_balancers(Names=["a"], LoadBalancerArns=["b"])
    assert error_of(err)[0] == "ValidationError"
    with pytest.raises(ClientError) as err:
        elbv2.describe_load_balancers(LoadBalancerArns=["web"])
    assert error_of(err) == ("ValidationError", "'web' is not a valid load balancer ARN")


def test_describe_pages_in_name_order_with_marker_and_page_size(server: ServerProcess) -> None:
    isolated = support.client(server, "ap-south-2")
    with support.resources(isolated) as made:
        names = [f"page-{i}" for i in (3, 1, 4, 0, 2)]
        for name in names:
            made.load_balancer(name)
        first = isolated.describe_load_balancers(PageSize=2)
        assert [lb["LoadBalancerName"] for lb in first["LoadBalancers"]] == ["page-0", "page-1"]
        second = isolated.describe_load_balancers(PageSize=2, Marker=first["NextMarker"])
        assert [lb["LoadBalancerName"] for lb in second["LoadBalancers"]] == ["page-2", "page-3"]
        third = isolated.describe_load_balancers(PageSize=2, Marker=second["NextMarker"])
        assert [lb["LoadBalancerName"] for lb in third["LoadBalancers"]] == ["page-4"]
        assert "NextMarker" not in third
        pages = isolated.get_paginator("describe_load_balancers").paginate(
            PaginationConfig={"PageSize": 3}
        )
        assert [lb["LoadBalancerName"] for p in pages for lb in p["LoadBalancers"]] == sorted(names)
    assert isolated.describe_load_balancers()["LoadBalancers"] == []


def test_page_size_and_marker_are_checked(elbv2: Any) -> None:
    with pytest.raises(ClientError) as err:
        elbv2.describe_load_balancers(PageSize=401)
    assert error_of(err) == (
        "ValidationError",
        "1 validation error detected: Value '401' at 'pageSize' failed to satisfy "
        "constraint: Member must have value less than or equal to 400",
    )
    with pytest.raises(ClientError) as err:
        elbv2.describe_load_balancers(Marker="not-a-marker")
    assert error_of(err) == ("ValidationError", "The marker 'not-a-marker' is not valid")


def test_delete_takes_listeners_rules_and_tags_along_and_repeats_quietly(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    lb = made.load_balancer(unique("lb"), Tags=[{"Key": "team", "Value": "web"}])
    tg = made.target_group(unique("tg"))
    listener = made.listener(lb, tg, 8080)
    rule = elbv2.create_rule(
        ListenerArn=listener["ListenerArn"],
        Priority=1,
        Conditions=[{"Field": "path-pattern", "Values": ["/x"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )["Rules"][0]
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    with pytest.raises(elbv2.exceptions.LoadBalancerNotFoundException):
        elbv2.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])
    with pytest.raises(elbv2.exceptions.ListenerNotFoundException):
        elbv2.describe_listeners(ListenerArns=[listener["ListenerArn"]])
    with pytest.raises(elbv2.exceptions.RuleNotFoundException):
        elbv2.describe_rules(RuleArns=[rule["RuleArn"]])
    group = elbv2.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])
    assert group["TargetGroups"][0]["LoadBalancerArns"] == []


# --- tags -----------------------------------------------------------------------------------


def _tags(elbv2: Any, *arns: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = elbv2.describe_tags(ResourceArns=list(arns))["TagDescriptions"]
    return found


def test_tags_on_every_kind_of_resource(
    elbv2: Any, made: Resources, unique: Callable[[str], str]
) -> None:
    lb = made.load_balancer(unique("lb"), Tags=[{"Key": "made", "Value": "with-it"}])
    tg = made.target_group(unique("tg"), Tags=[{"Key": "made", "Value": "too"}])
    listener = made.listener(lb, tg, 80)
    rule = elbv2.create_rule(
        ListenerArn=listener["ListenerArn"],
        Priority=5,
        Conditions=[{"Field": "host-header", "Values": ["a.example.com"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        Tags=[{"Key": "rule", "Value": "1"}],
    )["Rules"][0]
    arns = [lb["LoadBalancerArn"], tg["TargetGroupArn"], listener["ListenerArn"], rule["RuleArn"]]
    elbv2.add_tags(ResourceArns=arns, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "blank"}])
    described = {d["ResourceArn"]: d["Tags"] for d in _tags(elbv2, *arns)}
    assert described[lb["LoadBalancerArn"]] == [
        {"Key": "blank", "Value": ""},
        {"Key": "env", "Value": "dev"},
        {"Key": "made", "Value": "with-it"},
    ]
    assert {t["Key"] for t in described[rule["RuleArn"]]} == {"blank", "env", "rule"}
    assert {t["Key"] for t in described[listener["ListenerArn"]]} == {"blank", "env"}
    elbv2.remove_tags(ResourceArns=arns, TagKeys=["env", "blank", "absent"])
    assert [d["Tags"] for d in _tags(elbv2, *arns)] == [
        [{"Key": "made", "Value": "with-it"}],
        [{"Key": "made", "Value": "too"}],
        [],
        [{"Key": "rule", "Value": "1"}],
    ]


def test_tag_errors(elbv2: Any, made: Resources, unique: Callable[[str], str]) -> None:
    lb = made.load_balancer(unique("lb"))
    arn = lb["LoadBalancerArn"]
    with pytest.raises(ClientError) as err:
        elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "k", "Value": "1"}, {"Key": "k"}])
    assert error_of(err) == ("DuplicateTagKeys", "Tag key was specified more than once: k")
    with pytest.raises(ClientError) as err:
        elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": f"k{i}"} for i in range(51)])
    assert error_of(err)[0] == "TooManyTags"
    with pytest.raises(ClientError) as err:
        elbv2.add_tags(ResourceArns=[arn], Tags=[{"Key": "aws:owner"}])
    assert error_of(err)[0] == "ValidationError"
    with pytest.raises(ClientError) as err:
        elbv2.describe_tags(ResourceArns=[arn.rsplit("/", 1)[0] + "/" + "0" * 16])
    assert error_of(err)[0] == "LoadBalancerNotFound"
    gone_tg = arn.replace(":loadbalancer/app/", ":targetgroup/")
    with pytest.raises(ClientError) as err:
        elbv2.remove_tags(ResourceArns=[gone_tg], TagKeys=["k"])
    assert error_of(err)[0] == "TargetGroupNotFound"
    with pytest.raises(ClientError) as err:
        elbv2.describe_tags(ResourceArns=["arn:aws:ecs:us-east-1:000000000000:cluster/x"])
    assert error_of(err)[0] == "ValidationError"
    with pytest.raises(ClientError) as err:
        elbv2.describe_tags(ResourceArns=[arn] * 21)
    assert error_of(err)[0] == "ValidationError"


# --- the AWS CLI ------------------------------------------------------------------------------


def test_the_aws_cli_creates_describes_tags_and_deletes_a_load_balancer(
    aws: Callable[..., CliResult], unique: Callable[[str], str]
) -> None:
    name = unique("cli")
    created = aws(
        "elbv2",
        "create-load-balancer",
        "--name",
        name,
        "--subnets",
        "subnet-1",
        "subnet-2",
        "--tags",
        "Key=team,Value=platform",
    )
    assert created.returncode == 0, created.stderr
    arn = created.json["LoadBalancers"][0]["LoadBalancerArn"]
    described = aws("elbv2", "describe-load-balancers", "--names", name)
    assert described.returncode == 0, described.stderr
    (lb,) = described.json["LoadBalancers"]
    assert (lb["LoadBalancerArn"], lb["State"]["Code"]) == (arn, "active")
    tags = aws("elbv2", "describe-tags", "--resource-arns", arn)
    assert tags.json["TagDescriptions"][0]["Tags"] == [{"Key": "team", "Value": "platform"}]
    assert aws("elbv2", "delete-load-balancer", "--load-balancer-arn", arn).returncode == 0
    missing = aws("elbv2", "describe-load-balancers", "--names", name)
    assert missing.returncode != 0
    assert "LoadBalancerNotFound" in missing.stderr
    assert "One or more load balancers not found" in missing.stderr
