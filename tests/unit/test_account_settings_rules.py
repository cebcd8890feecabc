"""The account setting rules: names, AWS defaults, allowed values, who may set what,
and which value is in effect."""

from __future__ import annotations

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st

from openecs.domain.account_settings import (
    SETTING_NAMES,
    SETTING_RULES,
    effective_value,
    is_root,
    root_arn,
    rule_for,
    validate_principal_arn,
    validate_setting_change,
)
from openecs.domain.errors import InvalidParameterException

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/deployer"


def test_the_rules_cover_exactly_the_setting_names_of_the_ecs_model() -> None:
    model = botocore.session.get_session().get_service_model("ecs")
    assert set(SETTING_RULES) == set(model.shape_for("SettingName").enum)
    assert list(SETTING_NAMES) == sorted(SETTING_RULES)


@pytest.mark.parametrize(
    ("name", "default", "allowed"),
    [
        ("serviceLongArnFormat", "enabled", ("enabled", "disabled")),
        ("taskLongArnFormat", "enabled", ("enabled", "disabled")),
        ("containerInstanceLongArnFormat", "enabled", ("enabled", "disabled")),
        ("awsvpcTrunking", "disabled", ("enabled", "disabled")),
        ("containerInsights", "disabled", ("enabled", "enhanced", "disabled")),
        ("fargateFIPSMode", "disabled", ("enabled", "disabled")),
        ("tagResourceAuthorization", "on", ("on", "off")),
        ("fargateTaskRetirementWaitPeriod", "7", ("0", "7", "14")),
        ("guardDutyActivate", "off", ("on", "off")),
        ("defaultLogDriverMode", "non-blocking", ("blocking", "non-blocking")),
        ("fargateEventWindows", "disabled", ("enabled", "disabled")),
    ],
)
def test_each_setting_has_the_aws_default_and_values(
    name: str, default: str, allowed: tuple[str, ...]
) -> None:
    rule = rule_for(name)
    assert rule.default == default
    assert rule.allowed == allowed
    assert rule.default in rule.allowed


def test_only_guard_duty_activate_is_aws_managed() -> None:
    managed = {name for name, rule in SETTING_RULES.items() if rule.type == "aws_managed"}
    assert managed == {"guardDutyActivate"}


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(InvalidParameterException, match="Unsupported account setting name: x"):
        rule_for("x")


def test_a_principal_value_beats_the_account_value_which_beats_the_aws_default() -> None:
    assert effective_value("containerInsights", "enhanced", "enabled") == "enhanced"
    assert effective_value("containerInsights", None, "enabled") == "enabled"
    assert effective_value("containerInsights", None, None) == "disabled"


@given(
    name=st.sampled_from(SETTING_NAMES),
    own=st.none() | st.text(min_size=1, max_size=5),
    account=st.none() | st.text(min_size=1, max_size=5),
)
def test_the_effective_value_is_the_most_specific_one_set(
    name: str, own: str | None, account: str | None
) -> None:
    expected = own if own is not None else account if account is not None else None
    assert effective_value(name, own, account) == (expected or SETTING_RULES[name].default)


def test_allowed_values_pass_and_others_fail_with_the_valid_list() -> None:
    assert validate_setting_change("containerInsights", "enhanced", ROLE).name == (
        "containerInsights"
    )
    with pytest.raises(InvalidParameterException) as err:
        validate_setting_change("fargateTaskRetirementWaitPeriod", "30", ROOT)
    assert err.value.message == (
        "Invalid value '30' for account setting fargateTaskRetirementWaitPeriod. "
        "Valid values are: 0, 7, 14."
    )


def test_turning_tagging_authorization_off_is_retired() -> None:
    validate_setting_change("tagResourceAuthorization", "on", ROLE)
    with pytest.raises(InvalidParameterException, match="no longer supported"):
        validate_setting_change("tagResourceAuthorization", "off", ROOT)


def test_aws_managed_settings_cannot_be_put_or_deleted() -> None:
    for value in ("on", "off", None):
        with pytest.raises(InvalidParameterException, match="managed by AWS"):
            validate_setting_change("guardDutyActivate", value, ROOT)


@pytest.mark.parametrize(
    "name", ["fargateFIPSMode", "fargateTaskRetirementWaitPeriod", "fargateEventWindows"]
)
def test_account_level_settings_are_for_the_root_user_only(name: str) -> None:
    value = SETTING_RULES[name].default
    validate_setting_change(name, value, ROOT)
    validate_setting_change(name, None, ROOT)
    with pytest.raises(InvalidParameterException, match="only be set for the root user"):
        validate_setting_change(name, value, ROLE)


def test_user_level_settings_may_be_set_for_anyone() -> None:
    for name, rule in SETTING_RULES.items():
        if rule.aws_managed or rule.account_level_only:
            continue
        validate_setting_change(name, rule.default, ROLE)
        validate_setting_change(name, None, ROLE)


@pytest.mark.parametrize(
    "arn",
    [
        ROOT,
        ROLE,
        f"arn:aws:iam::{ACCOUNT}:user/team/alice",
        f"arn:aws-us-gov:iam::{ACCOUNT}:role/x",
    ],
)
def test_iam_users_roles_and_the_root_user_are_principals(arn: str) -> None:
    assert validate_principal_arn(arn, ACCOUNT) == arn


@pytest.mark.parametrize(
    "arn",
    [
        "alice",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/r/s",
        f"arn:aws:iam::{ACCOUNT}:group/admins",
        f"arn:aws:iam::{ACCOUNT}:user/",
        f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/c",
    ],
)
def test_other_arns_are_not_principals(arn: str) -> None:
    with pytest.raises(InvalidParameterException, match="Invalid principalArn"):
        validate_principal_arn(arn, ACCOUNT)


def test_a_principal_of_another_account_is_refused() -> None:
    with pytest.raises(InvalidParameterException) as err:
        validate_principal_arn("arn:aws:iam::999999999999:root", ACCOUNT)
    assert err.value.message == (
        "The principalArn arn:aws:iam::999999999999:root is for account 999999999999. "
        f"Your accountId is {ACCOUNT}."
    )


def test_the_root_user_is_recognised_by_its_arn() -> None:
    assert root_arn(ACCOUNT) == ROOT
    assert is_root(ROOT)
    assert not is_root(ROLE)
    assert not is_root(f"arn:aws:iam::{ACCOUNT}:user/root")
