"""Listeners and rules through boto3's elbv2 client and the AWS CLI: actions as AWS
returns them, the default rule, priorities, and the errors AWS gives."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import elbv2 as support
from tests.support.awscli import CliResult
from tests.support.elbv2 import Resources, error_of
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def elbv2(server: ServerProcess) -> Any:
    return server.client("elbv2")


@pytest.fixture
def made(elbv2: Any) -> Iterator[Resources]:
    with support.resources(elbv2) as resources:
        yield resources


@pytest.fixture
def setup(made: Resources, unique: Callable[[str], str]) -> dict[str, Any]:
    """A load balancer with two target groups and an HTTP listener forwarding to the first."""
    lb = made.load_balancer(unique("lb"))
    blue, green = made.target_group(unique("tg")), made.target_group(unique("tg"))
    listener = made.listener(lb, blue, 80)
    return {"lb": lb, "blue": blue, "green": green, "listener": listener}


def _forward(tg: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]


def _rule(elbv2: Any, listener: dict[str, Any], priority: int, **kw: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "Conditions": [{"Field": "path-pattern", "Values": [f"/p{priority}/*"]}],
        "Actions": [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "204"}}],
        **kw,
    }
    rule: dict[str, Any] = elbv2.create_rule(
        ListenerArn=listener["ListenerArn"], Priority=priority, **settings
    )["Rules"][0]
    return rule


# --- listeners --------------------------------------------------------------------------


def test_a_listener_forwards_with_the_action_shape_aws_returns(
    elbv2: Any, setup: dict[str, Any]
) -> None:
    listener, lb, blue = setup["listener"], setup["lb"], setup["blue"]
    lb_arn = lb["LoadBalancerArn"]
    assert re.fullmatch(
        lb_arn.replace(":loadbalancer/", ":listener/") + "/[0-9a-f]{16}", listener["ListenerArn"]
    )
    assert (listener["LoadBalancerArn"], listener["Port"], listener["Protocol"]) == (
        lb_arn,
        80,
        "HTTP",
    )
    assert listener["DefaultActions"] == [
        {
            "Type": "forward",
            "TargetGroupArn": blue["TargetGroupArn"],
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": blue["TargetGroupArn"], "Weight": 1}],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
    ]
    described = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert described == [listener]
    by_arn = elbv2.describe_listeners(ListenerArns=[listener["ListenerArn"]])["Listeners"]
    assert by_arn == [listener]
    group = elbv2.describe_target_groups(TargetGroupArns=[blue["TargetGroupArn"]])
    assert group["TargetGroups"][0]["LoadBalancerArns"] == [lb_arn]


def test_listeners_page_in_port_order(elbv2: Any, setup: dict[str, Any]) -> None:
    lb = setup["lb"]
    for port in (8081, 443, 8080):
        elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=port,
            DefaultActions=[
                {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "503"}}
            ],
        )
    first = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"], PageSize=3)
    assert [li["Port"] for li in first["Listeners"]] == [80, 443, 8080]
    rest = elbv2.describe_listeners(
        LoadBalancerArn=lb["LoadBalancerArn"], PageSize=3, Marker=first["NextMarker"]
    )
    assert [li["Port"] for li in rest["Listeners"]] == [8081]
    assert "NextMarker" not in rest


def test_a_port_holds_one_listener(elbv2: Any, setup: dict[str, Any]) -> None:
    lb, blue, green = setup["lb"], setup["blue"], setup["green"]
    same = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=_forward(blue),
    )
    assert same["Listeners"][0]["ListenerArn"] == setup["listener"]["ListenerArn"]
    with pytest.raises(ClientError) as err:
        elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=80,
            DefaultActions=_forward(green),
        )
    assert error_of(err) == (
        "DuplicateListener",
        f"A listener already exists on this port for this load balancer '{lb['LoadBalancerArn']}'",
    )


def test_listener_errors(elbv2: Any, setup: dict[str, Any]) -> None:
    lb_arn, blue = setup["lb"]["LoadBalancerArn"], setup["blue"]
    missing_tg = blue["TargetGroupArn"][:-16] + "0" * 16
    cases = [
        (
            {
                "Protocol": "HTTP",
                "Port": 81,
                "DefaultActions": _forward({"TargetGroupArn": missing_tg}),
            },
            ("TargetGroupNotFound", f"Target groups '{missing_tg}' not found"),
        ),
        (
            {"Protocol": "HTTPS", "Port": 443, "DefaultActions": _forward(blue)},
            (
                "UnsupportedProtocol",
                "Listener protocol 'HTTPS' is not supported by OpenECS; use 'HTTP'",
            ),
        ),
        (
            {"Protocol": "TCP", "Port": 82, "DefaultActions": _forward(blue)},
            ("ValidationError", "Listener protocol 'TCP' must be one of 'HTTPS, HTTP'"),
        ),
        (
            {"Protocol": "HTTP", "DefaultActions": _forward(blue)},
            ("ValidationError", "A listener port must be specified"),
        ),
        (
            {"Protocol": "HTTP", "Port": 83, "DefaultActions": [{"Type": "forward"}]},
            ("ValidationError", "A target group ARN must be specified"),
        ),
        (
            {
                "Protocol": "HTTP",
                "Port": 84,
                "DefaultActions": [
                    {
                        "Type": "authenticate-cognito",
                        "AuthenticateCognitoConfig": {
                            "UserPoolArn": "arn:pool",
                            "UserPoolClientId": "c",
                            "UserPoolDomain": "d",
                        },
                    }
                ],
            },
            (
                "InvalidLoadBalancerAction",
                "Action type 'authenticate-cognito' is supported only on HTTPS listeners",
            ),
        ),
    ]
    for request, expected in cases:
        with pytest.raises(ClientError) as err:
            elbv2.create_listener(LoadBalancerArn=lb_arn, **request)
        assert error_of(err) == expected
    with pytest.raises(ClientError) as err:
        elbv2.describe_listeners()
    assert error_of(err) == (
        "ValidationError",
        "You must specify either listener ARNs or a load balancer ARN",
    )


def test_a_target_group_serves_one_load_balancer(
    elbv2: Any, made: Resources, setup: dict[str, Any], unique: Callable[[str], str]
) -> None:
    other = made.load_balancer(unique("lb"))
    with pytest.raises(ClientError) as err:
        made.listener(other, setup["blue"], 80)
    assert error_of(err) == (
        "TargetGroupAssociationLimit",
        "The following target groups cannot be associated with more than one load balancer: "
        f"{setup['blue']['TargetGroupArn']}",
    )


def test_modify_listener_moves_the_port_and_the_default_actions(
    elbv2: Any, setup: dict[str, Any]
) -> None:
    listener, blue, green = setup["listener"], setup["blue"], setup["green"]
    weighted = [
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": blue["TargetGroupArn"], "Weight": 90},
                    {"TargetGroupArn": green["TargetGroupArn"], "Weight": 10},
                ]
            },
        }
    ]
    modified = elbv2.modify_listener(
        ListenerArn=listener["ListenerArn"], Port=8000, DefaultActions=weighted
    )["Listeners"][0]
    assert modified["Port"] == 8000
    assert modified["DefaultActions"] == [
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": weighted[0]["ForwardConfig"]["TargetGroups"],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
    ]
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    assert rules[-1]["Actions"] == modified["DefaultActions"]
    green_now = elbv2.describe_target_groups(TargetGroupArns=[green["TargetGroupArn"]])
    assert green_now["TargetGroups"][0]["LoadBalancerArns"] == [setup["lb"]["LoadBalancerArn"]]
    elbv2.create_listener(
        LoadBalancerArn=setup["lb"]["LoadBalancerArn"],
        Protocol="HTTP",
        Port=9000,
        DefaultActions=_forward(blue),
    )
    with pytest.raises(ClientError) as err:
        elbv2.modify_listener(ListenerArn=listener["ListenerArn"], Port=9000)
    assert error_of(err)[0] == "DuplicateListener"


def test_delete_listener_takes_its_rules_along(elbv2: Any, setup: dict[str, Any]) -> None:
    listener = setup["listener"]
    rule = _rule(elbv2, listener, 3)
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    with pytest.raises(ClientError) as err:
        elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    assert error_of(err) == ("ListenerNotFound", "One or more listeners not found")
    with pytest.raises(elbv2.exceptions.RuleNotFoundException):
        elbv2.describe_rules(RuleArns=[rule["RuleArn"]])
    blue = elbv2.describe_target_groups(TargetGroupArns=[setup["blue"]["TargetGroupArn"]])
    assert blue["TargetGroups"][0]["LoadBalancerArns"] == []


# --- rules ------------------------------------------------------------------------------


def test_rules_are_listed_by_priority_with_the_default_rule_last(
    elbv2: Any, setup: dict[str, Any]
) -> None:
    listener = setup["listener"]
    ten, two = _rule(elbv2, listener, 10), _rule(elbv2, listener, 2)
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    assert [(r["Priority"], r["IsDefault"]) for r in rules] == [
        ("2", False),
        ("10", False),
        ("default", True),
    ]
    assert [r["RuleArn"] for r in rules[:2]] == [two["RuleArn"], ten["RuleArn"]]
    assert rules[2]["Conditions"] == []
    assert rules[2]["Actions"] == listener["DefaultActions"]
    assert re.fullmatch(
        listener["ListenerArn"].replace(":listener/", ":listener-rule/") + "/[0-9a-f]{16}",
        ten["RuleArn"],
    )
    first = elbv2.describe_rules(ListenerArn=listener["ListenerArn"], PageSize=2)
    assert [r["Priority"] for r in first["Rules"]] == ["2", "10"]
    rest = elbv2.describe_rules(
        ListenerArn=listener["ListenerArn"], PageSize=2, Marker=first["NextMarker"]
    )
    assert [r["Priority"] for r in rest["Rules"]] == ["default"]
    by_arn = elbv2.describe_rules(RuleArns=[ten["RuleArn"]])["Rules"]
    assert by_arn == [ten]


def test_every_supported_condition_comes_back_as_aws_spells_it(
    elbv2: Any, setup: dict[str, Any]
) -> None:
    conditions = [
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}},
        {"Field": "path-pattern", "Values": ["/api/*"]},
        {
            "Field": "http-header",
            "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["1"]},
        },
        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}},
        {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}},
    ]
    rule = _rule(
        elbv2, setup["listener"], 1, Conditions=conditions, Actions=_forward(setup["blue"])
    )
    assert rule["Conditions"] == [
        {
            "Field": "host-header",
            "Values": ["*.example.com"],
            "HostHeaderConfig": {"Values": ["*.example.com"]},
        },
        {
            "Field": "path-pattern",
            "Values": ["/api/*"],
            "PathPatternConfig": {"Values": ["/api/*"]},
        },
        conditions[2],
        conditions[3],
        conditions[4],
    ]
    assert rule["Actions"][0]["TargetGroupArn"] == setup["blue"]["TargetGroupArn"]


def test_rule_errors(elbv2: Any, setup: dict[str, Any]) -> None:
    listener = setup["listener"]
    _rule(elbv2, listener, 4)
    with pytest.raises(ClientError) as err:
        _rule(elbv2, listener, 4)
    assert error_of(err) == ("PriorityInUse", "Priority '4' is currently in use")
    with pytest.raises(ClientError) as err:
        _rule(elbv2, listener, 50001)
    assert error_of(err) == (
        "ValidationError",
        "1 validation error detected: Value '50001' at 'priority' failed to satisfy "
        "constraint: Member must have value less than or equal to 50000",
    )
    with pytest.raises(ClientError) as err:
        _rule(elbv2, listener, 5, Conditions=[])
    assert error_of(err) == ("ValidationError", "A rule must have at least one condition")
    with pytest.raises(ClientError) as err:
        _rule(
            elbv2,
            listener,
            6,
            Conditions=[{"Field": "path-pattern", "Values": [f"/{i}" for i in range(6)]}],
        )
    assert error_of(err) == ("ValidationError", "A rule can only have '5' condition values")
    with pytest.raises(ClientError) as err:
        elbv2.create_rule(
            ListenerArn=listener["ListenerArn"][:-16] + "0" * 16,
            Priority=1,
            Conditions=[{"Field": "path-pattern", "Values": ["/"]}],
            Actions=_forward(setup["blue"]),
        )
    assert error_of(err) == ("ListenerNotFound", "One or more listeners not found")


def test_modify_rule_changes_conditions_and_actions_but_not_the_default_rules_conditions(
    elbv2: Any, setup: dict[str, Any]
) -> None:
    listener, green = setup["listener"], setup["green"]
    rule = _rule(elbv2, listener, 7)
    modified = elbv2.modify_rule(
        RuleArn=rule["RuleArn"],
        Conditions=[{"Field": "host-header", "Values": ["green.example.com"]}],
        Actions=[
            {
                "Type": "redirect",
                "RedirectConfig": {"Host": "blue.example.com", "StatusCode": "HTTP_302"},
            }
        ],
    )["Rules"][0]
    assert modified["Conditions"][0]["Values"] == ["green.example.com"]
    assert modified["Actions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {
                "Protocol": "#{protocol}",
                "Port": "#{port}",
                "Host": "blue.example.com",
                "Path": "/#{path}",
                "Query": "#{query}",
                "StatusCode": "HTTP_302",
            },
        }
    ]
    default = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"][-1]
    with pytest.raises(ClientError) as err:
        elbv2.modify_rule(
            RuleArn=default["RuleArn"], Conditions=[{"Field": "path-pattern", "Values": ["/"]}]
        )
    assert error_of(err)[0] == "OperationNotPermitted"
    elbv2.modify_rule(RuleArn=default["RuleArn"], Actions=_forward(green))
    (now,) = elbv2.describe_listeners(ListenerArns=[listener["ListenerArn"]])["Listeners"]
    assert now["DefaultActions"][0]["TargetGroupArn"] == green["TargetGroupArn"]
    with pytest.raises(ClientError) as err:
        elbv2.delete_rule(RuleArn=default["RuleArn"])
    assert error_of(err)[0] == "OperationNotPermitted"


def test_set_rule_priorities_swaps_and_refuses_a_taken_priority(
    elbv2: Any, setup: dict[str, Any]
) -> None:
    listener = setup["listener"]
    a, b, c = _rule(elbv2, listener, 1), _rule(elbv2, listener, 2), _rule(elbv2, listener, 3)
    swapped = elbv2.set_rule_priorities(
        RulePriorities=[
            {"RuleArn": a["RuleArn"], "Priority": 2},
            {"RuleArn": b["RuleArn"], "Priority": 1},
        ]
    )["Rules"]
    assert [(r["RuleArn"], r["Priority"]) for r in swapped] == [
        (b["RuleArn"], "1"),
        (a["RuleArn"], "2"),
    ]
    with pytest.raises(ClientError) as err:
        elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": a["RuleArn"], "Priority": 3}])
    assert error_of(err) == ("PriorityInUse", "Priority '3' is currently in use")
    with pytest.raises(ClientError) as err:
        elbv2.set_rule_priorities(
            RulePriorities=[
                {"RuleArn": a["RuleArn"], "Priority": 9},
                {"RuleArn": c["RuleArn"], "Priority": 9},
            ]
        )
    assert error_of(err) == ("ValidationError", "Priority '9' was provided multiple times")
    elbv2.delete_rule(RuleArn=c["RuleArn"])
    with pytest.raises(ClientError) as err:
        elbv2.delete_rule(RuleArn=c["RuleArn"])
    assert error_of(err) == ("RuleNotFound", "One or more rules not found")
    rules = elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    assert [r["Priority"] for r in rules] == ["1", "2", "default"]


# --- the AWS CLI ------------------------------------------------------------------------


def test_the_aws_cli_creates_a_listener_and_a_rule(
    aws: Callable[..., CliResult], setup: dict[str, Any]
) -> None:
    lb, blue = setup["lb"], setup["blue"]
    created = aws(
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        lb["LoadBalancerArn"],
        "--protocol",
        "HTTP",
        "--port",
        "8088",
        "--default-actions",
        f"Type=forward,TargetGroupArn={blue['TargetGroupArn']}",
    )
    assert created.returncode == 0, created.stderr
    (listener,) = created.json["Listeners"]
    rule = aws(
        "elbv2",
        "create-rule",
        "--listener-arn",
        listener["ListenerArn"],
        "--priority",
        "10",
        "--conditions",
        json.dumps([{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/img/*"]}}]),
        "--actions",
        json.dumps([{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}]),
    )
    assert rule.returncode == 0, rule.stderr
    described = aws("elbv2", "describe-rules", "--listener-arn", listener["ListenerArn"])
    assert [r["Priority"] for r in described.json["Rules"]] == ["10", "default"]
    taken = aws(
        "elbv2",
        "create-rule",
        "--listener-arn",
        listener["ListenerArn"],
        "--priority",
        "10",
        "--conditions",
        "Field=path-pattern,Values=/x",
        "--actions",
        f"Type=forward,TargetGroupArn={blue['TargetGroupArn']}",
    )
    assert taken.returncode != 0
    assert "PriorityInUse" in taken.stderr
