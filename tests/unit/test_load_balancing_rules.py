"""The elbv2 rules that need no database: ARNs, names, health checks, attributes,
targets, actions and conditions, as tables of accepted and refused inputs."""

from __future__ import annotations

from typing import Any

import pytest

from openecs.domain.errors import (
    AwsError,
    InvalidConfigurationRequestException,
    InvalidLoadBalancerActionException,
    UnsupportedProtocolException,
    ValidationError,
)
from openecs.domain.load_balancing import HealthCheck, Target, TargetState
from openecs.domain.load_balancing_actions import (
    forwarded_target_groups,
    normalize_actions,
    normalize_conditions,
)
from openecs.domain.load_balancing_rules import (
    apply_health_check,
    describe_health,
    listener_arn,
    load_balancer_arn,
    load_balancer_dns_name,
    merge_target_group_attributes,
    parse_elb_arn,
    rule_arn,
    target_group_arn,
    validate_ip_target,
    validate_load_balancer_name,
    validate_target_group_name,
)
from openecs.domain.scope import Scope

SCOPE = Scope.root("123456789012", "eu-west-1")
TG = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"
TG2 = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/fedcba9876543210"


# --- ARNs and names ----------------------------------------------------------------------


def test_arns_are_built_and_parsed_like_aws() -> None:
    lb = load_balancer_arn(SCOPE, "web", "50dc6c495c0c9188")
    listener = listener_arn(lb, "f2f7dc8efc522ab2")
    rule = rule_arn(listener, "9683b2d02a6cabee")
    assert lb == (
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
    )
    assert listener == (
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
        "listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
    )
    assert rule == (
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
        "listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
    )
    kinds = {
        arn: parsed.kind
        for arn in (lb, listener, rule, target_group_arn(SCOPE, "web", "0123456789abcdef"))
        if (parsed := parse_elb_arn(arn)) is not None
    }
    assert sorted(kinds.values()) == ["listener", "listener-rule", "loadbalancer", "targetgroup"]
    parsed = parse_elb_arn(rule)
    assert parsed is not None
    assert (parsed.region, parsed.account_id) == ("eu-west-1", "123456789012")


@pytest.mark.parametrize(
    "text",
    [
        "web",
        "",
        "arn:aws:ecs:eu-west-1:123456789012:cluster/default",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/web/1",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web//1",
    ],
)
def test_what_is_not_an_application_load_balancing_arn(text: str) -> None:
    assert parse_elb_arn(text) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a" * 33, "cannot be longer than '32' characters"),
        ("my_lb", "can only contain characters that are alphanumeric"),
        ("-web", "cannot begin or end with '-'"),
        ("web-", "cannot begin or end with '-'"),
        ("internal-web", "cannot begin with 'internal-'"),
    ],
)
def test_load_balancer_names_follow_aws_rules(name: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        validate_load_balancer_name(name)


def test_good_names_pass() -> None:
    assert validate_load_balancer_name("a" * 32) == "a" * 32
    assert validate_target_group_name("Web-1") == "Web-1"
    with pytest.raises(ValidationError, match="alphanumeric characters or hyphens"):
        validate_target_group_name("web.1")


def test_the_dns_name_falls_back_to_loopback_where_localhost_names_do_not_resolve() -> None:
    assert (
        load_balancer_dns_name("Web", "abc", "eu-west-1", wildcard_localhost=True)
        == "web-abc.eu-west-1.elb.localhost"
    )
    assert load_balancer_dns_name("Web", "abc", "eu-west-1", wildcard_localhost=False) == (
        "127.0.0.1"
    )


# --- health checks -------------------------------------------------------------------------


def test_health_check_defaults_are_awss() -> None:
    checks = apply_health_check(HealthCheck(), target_type="ip")
    assert checks == HealthCheck(
        enabled=True,
        protocol="HTTP",
        port="traffic-port",
        path="/",
        interval_seconds=30,
        timeout_seconds=5,
        healthy_threshold=5,
        unhealthy_threshold=2,
        matcher="200",
    )


@pytest.mark.parametrize("code", ["200", "200-299", "200,302", "200-204,301,404-499"])
def test_matchers_aws_accepts(code: str) -> None:
    checks = apply_health_check(HealthCheck(), target_type="ip", matcher={"HttpCode": code})
    assert checks.matcher == code


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("600", "must be within '200-499' range"),
        ("199", "must be within '200-499' range"),
        ("299-200", "must go from low to high"),
        ("2000", "is not valid"),
        ("ok", "is not valid"),
        ("200,", "is not valid"),
    ],
)
def test_matchers_aws_refuses(code: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        apply_health_check(HealthCheck(), target_type="ip", matcher={"HttpCode": code})


@pytest.mark.parametrize(
    ("settings", "error", "problem"),
    [
        ({"timeout_seconds": 30}, ValidationError, "interval must be greater than the timeout"),
        ({"interval_seconds": 5}, ValidationError, "interval must be greater than the timeout"),
        ({"enabled": False}, ValidationError, "must be true for target groups"),
        ({"path": "health"}, ValidationError, "must begin with a '/'"),
        ({"port": "0"}, ValidationError, "'traffic-port' or a number"),
        ({"port": "web"}, ValidationError, "'traffic-port' or a number"),
        ({"protocol": "HTTPS"}, UnsupportedProtocolException, "HTTPS"),
        ({"protocol": "TCP"}, ValidationError, "not supported"),
        ({"matcher": {"GrpcCode": "12"}}, ValidationError, "GRPC"),
    ],
)
def test_health_checks_aws_refuses(
    settings: dict[str, Any], error: type[AwsError], problem: str
) -> None:
    with pytest.raises(error, match=problem):
        apply_health_check(HealthCheck(), target_type="instance", **settings)


def test_a_change_keeps_what_it_does_not_name() -> None:
    base = apply_health_check(HealthCheck(), target_type="ip", path="/health", port="8081")
    changed = apply_health_check(base, target_type="ip", interval_seconds=10)
    assert (changed.path, changed.port, changed.interval_seconds) == ("/health", "8081", 10)


# --- attributes ----------------------------------------------------------------------------


def test_attributes_merge_over_the_defaults() -> None:
    merged = merge_target_group_attributes(
        {},
        [
            {"Key": "deregistration_delay.timeout_seconds", "Value": "0"},
            {"Key": "stickiness.enabled", "Value": "TRUE"},
            {"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"},
        ],
    )
    assert merged["deregistration_delay.timeout_seconds"] == "0"
    assert merged["stickiness.enabled"] == "true"
    assert merged["stickiness.type"] == "lb_cookie"
    assert merged["slow_start.duration_seconds"] == "0"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("deregistration_delay.timeout_seconds", "3601", "between 0 and 3600"),
        ("deregistration_delay.timeout_seconds", "-1", "between 0 and 3600"),
        ("stickiness.enabled", "yes", "one of"),
        ("stickiness.type", "app_cookie", "one of"),
        ("stickiness.lb_cookie.duration_seconds", "0", "between 1 and 604800"),
        ("load_balancing.algorithm.type", "random", "one of"),
        ("slow_start.duration_seconds", "10", "0 or between 30 and 900"),
        ("slow_start.duration_seconds", "901", "between 0 and 900"),
        ("proxy_protocol_v2.enabled", "true", "is not recognized"),
    ],
)
def test_attribute_values_aws_refuses(key: str, value: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        merge_target_group_attributes({}, [{"Key": key, "Value": value}])


def test_slow_start_and_least_outstanding_requests_do_not_mix() -> None:
    with pytest.raises(InvalidConfigurationRequestException):
        merge_target_group_attributes(
            {"slow_start.duration_seconds": "30"},
            [{"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"}],
        )


# --- targets -------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["10.0.0.1", "127.0.0.1", "192.168.1.254"])
def test_ip_targets_are_unicast_ipv4(address: str) -> None:
    assert validate_ip_target(address) == address


@pytest.mark.parametrize("address", ["10.0.0", "::1", "0.0.0.0", "224.0.0.1", "i-0abc", ""])
def test_what_is_not_an_ip_target(address: str) -> None:
    with pytest.raises(ValidationError):
        validate_ip_target(address)


def _target(**changes: Any) -> Target:
    return Target(TG, "10.0.0.1", 80, "10.0.0.1", 0.0, **changes)


def test_draining_wins_over_everything_then_not_in_use() -> None:
    draining = _target(state=TargetState.HEALTHY, draining_until=100.0)
    assert describe_health(draining, in_use=True, now=50.0) == (
        "draining",
        "Target.DeregistrationInProgress",
        "Target deregistration is in progress",
    )
    assert describe_health(_target(), in_use=False, now=0.0)[:2] == (
        "unused",
        "Target.NotInUse",
    )
    healthy = _target(state=TargetState.HEALTHY, reason="x", description="y")
    assert describe_health(healthy, in_use=True, now=0.0) == ("healthy", None, None)
    assert describe_health(_target(), in_use=True, now=0.0) == (
        "initial",
        "Elb.RegistrationInProgress",
        "Target registration is in progress",
    )


# --- actions -------------------------------------------------------------------------------


def test_a_forward_to_one_group_carries_both_spellings() -> None:
    expected = [
        {
            "Type": "forward",
            "TargetGroupArn": TG,
            "ForwardConfig": {
                "TargetGroups": [{"TargetGroupArn": TG, "Weight": 1}],
                "TargetGroupStickinessConfig": {"Enabled": False},
            },
        }
    ]
    assert normalize_actions([{"Type": "forward", "TargetGroupArn": TG}]) == expected
    assert (
        normalize_actions(
            [{"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG}]}}]
        )
        == expected
    )


def test_a_weighted_forward_names_no_single_group() -> None:
    actions = normalize_actions(
        [
            {
                "Type": "forward",
                "Order": 1,
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": TG, "Weight": 80},
                        {"TargetGroupArn": TG2, "Weight": 20},
                    ],
                    "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 60},
                },
            }
        ]
    )
    assert "TargetGroupArn" not in actions[0]
    assert actions[0]["Order"] == 1
    assert actions[0]["ForwardConfig"]["TargetGroupStickinessConfig"] == {
        "Enabled": True,
        "DurationSeconds": 60,
    }
    assert forwarded_target_groups(actions) == [TG, TG2]


def test_a_redirect_is_filled_in_with_awss_defaults() -> None:
    actions = normalize_actions(
        [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "StatusCode": "HTTP_301"}}]
    )
    assert actions == [
        {
            "Type": "redirect",
            "RedirectConfig": {
                "Protocol": "HTTPS",
                "Port": "#{port}",
                "Host": "#{host}",
                "Path": "/#{path}",
                "Query": "#{query}",
                "StatusCode": "HTTP_301",
            },
        }
    ]
    assert forwarded_target_groups(actions) == []


@pytest.mark.parametrize(
    ("actions", "error", "problem"),
    [
        ([], ValidationError, "At least one action"),
        ([{"Type": "forward"}], ValidationError, "A target group ARN must be specified"),
        (
            [
                {
                    "Type": "forward",
                    "TargetGroupArn": TG,
                    "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG2}]},
                }
            ],
            ValidationError,
            "together with a ForwardConfig",
        ),
        (
            [
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [{"TargetGroupArn": f"{TG}{i}"} for i in range(6)]
                    },
                }
            ],
            ValidationError,
            "at most 5 target groups",
        ),
        (
            [
                {
                    "Type": "forward",
                    "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": TG, "Weight": 1000}]},
                }
            ],
            ValidationError,
            "between 0 and 999",
        ),
        (
            [
                {
                    "Type": "forward",
                    "ForwardConfig": {
                        "TargetGroups": [{"TargetGroupArn": TG}, {"TargetGroupArn": TG}]
                    },
                }
            ],
            ValidationError,
            "more than once",
        ),
        (
            [{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_302"}}],
            ValidationError,
            "redirect to itself",
        ),
        (
            [{"Type": "redirect", "RedirectConfig": {"Port": "99999", "StatusCode": "HTTP_302"}}],
            ValidationError,
            "1-65535",
        ),
        (
            [
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {"StatusCode": "200", "ContentType": "image/png"},
                }
            ],
            ValidationError,
            "Content type 'image/png'",
        ),
        ([{"Type": "fixed-response"}], ValidationError, "FixedResponseConfig"),
        (
            [{"Type": "authenticate-oidc"}, {"Type": "forward", "TargetGroupArn": TG}],
            InvalidLoadBalancerActionException,
            "only on HTTPS listeners",
        ),
        (
            [
                {"Type": "forward", "TargetGroupArn": TG, "Order": 1},
                {"Type": "forward", "TargetGroupArn": TG2, "Order": 2},
            ],
            ValidationError,
            "exactly one action",
        ),
    ],
)
def test_actions_aws_refuses(
    actions: list[dict[str, Any]], error: type[AwsError], problem: str
) -> None:
    with pytest.raises(error, match=problem):
        normalize_actions(actions)


# --- conditions ----------------------------------------------------------------------------


def test_path_and_host_conditions_carry_values_and_config_both() -> None:
    conditions = normalize_conditions(
        [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}},
            {"Field": "host-header", "Values": ["*.example.com"]},
            {
                "Field": "query-string",
                "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}, {"Value": "x"}]},
            },
        ]
    )
    assert conditions == [
        {
            "Field": "path-pattern",
            "Values": ["/api/*"],
            "PathPatternConfig": {"Values": ["/api/*"]},
        },
        {
            "Field": "host-header",
            "Values": ["*.example.com"],
            "HostHeaderConfig": {"Values": ["*.example.com"]},
        },
        {
            "Field": "query-string",
            "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}, {"Value": "x"}]},
        },
    ]


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        ([{"Values": ["/"]}], "condition field must be specified"),
        ([{"Field": "cookie", "Values": ["a"]}], "must be one of"),
        ([{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}], "not supported"),
        ([{"Field": "path-pattern", "Values": []}], "at least one value"),
        (
            [
                {"Field": "path-pattern", "Values": ["/a"]},
                {"Field": "path-pattern", "Values": ["/b"]},
            ],
            "only have one 'path-pattern'",
        ),
        ([{"Field": "path-pattern", "Values": ["/a", "/b", "/c", "/d", "/e", "/f"]}], "'5'"),
        ([{"Field": "path-pattern", "Values": ["/a b"]}], "is not valid for 'path-pattern'"),
        ([{"Field": "host-header", "Values": ["a_b.com"]}], "is not valid for 'host-header'"),
        (
            [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["get"]}}],
            "is not valid for 'http-request-method'",
        ),
        (
            [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "Bad Name"}}],
            "HTTP header name",
        ),
        (
            [{"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "k"}]}}],
            "must have a Value",
        ),
        (
            [{"Field": "path-pattern", "PathPatternConfig": {"RegexValues": ["^/a$"]}}],
            "Regular expression",
        ),
    ],
)
def test_conditions_aws_refuses(conditions: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        normalize_conditions(conditions)
