"""Account settings: the names ECS knows, the values each accepts, AWS's defaults,
and which value is in effect for a principal.

A setting can be set at two levels inside one account and region:

* the account default (PutAccountSettingDefault, or PutAccountSetting for the
  root user), which applies to every principal without a setting of its own;
* a user or role (PutAccountSetting with that principal's ARN).

The effective value for a principal is its own setting, else the account
default, else AWS's default (`SETTING_RULES[name].default`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openecs.domain.errors import InvalidParameterException

__all__ = [
    "SETTING_NAMES",
    "SETTING_RULES",
    "AccountSetting",
    "SettingRule",
    "SettingType",
    "effective_value",
    "is_root",
    "root_arn",
    "rule_for",
    "validate_principal_arn",
    "validate_setting_change",
]


class SettingType:
    USER = "user"
    AWS_MANAGED = "aws_managed"


@dataclass(frozen=True, slots=True)
class SettingRule:
    """What ECS accepts for one setting name, and its value when nobody set it."""

    name: str
    default: str
    allowed: tuple[str, ...]
    aws_managed: bool = False
    # Settings that only exist for the whole account (the root user sets them).
    account_level_only: bool = False
    # Values the API documents but AWS no longer lets anyone choose.
    retired: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        return SettingType.AWS_MANAGED if self.aws_managed else SettingType.USER


_ON_OFF = ("enabled", "disabled")

SETTING_RULES: dict[str, SettingRule] = {
    rule.name: rule
    for rule in (
        SettingRule("serviceLongArnFormat", "enabled", _ON_OFF),
        SettingRule("taskLongArnFormat", "enabled", _ON_OFF),
        SettingRule("containerInstanceLongArnFormat", "enabled", _ON_OFF),
        SettingRule("awsvpcTrunking", "disabled", _ON_OFF),
        SettingRule("containerInsights", "disabled", ("enabled", "enhanced", "disabled")),
        # FIPS mode covers every Fargate task of the account.
        SettingRule("fargateFIPSMode", "disabled", _ON_OFF, account_level_only=True),
        # Opting out of tagging authorization ended on 2024-03-29; it is on everywhere.
        SettingRule("tagResourceAuthorization", "on", ("on", "off"), retired=("off",)),
        # "You must use the root user when you set the Fargate wait time."
        SettingRule(
            "fargateTaskRetirementWaitPeriod", "7", ("0", "7", "14"), account_level_only=True
        ),
        # Controlled by GuardDuty on the customer's behalf; read-only in ECS.
        SettingRule("guardDutyActivate", "off", ("on", "off"), aws_managed=True),
        # AWS switched the default from blocking to non-blocking on 2025-06-25.
        SettingRule("defaultLogDriverMode", "non-blocking", ("blocking", "non-blocking")),
        SettingRule("fargateEventWindows", "disabled", _ON_OFF, account_level_only=True),
    )
}

SETTING_NAMES: tuple[str, ...] = tuple(sorted(SETTING_RULES))

_PRINCIPAL = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(root|user/\S+|role/\S+)")


@dataclass(frozen=True, slots=True)
class AccountSetting:
    """One setting as ECS reports it: for whom, and whether AWS manages it."""

    name: str
    value: str
    principal_arn: str
    type: str = SettingType.USER


def rule_for(name: str) -> SettingRule:
    rule = SETTING_RULES.get(name)
    if rule is None:
        raise InvalidParameterException(f"Unsupported account setting name: {name}")
    return rule


def root_arn(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def is_root(principal_arn: str) -> bool:
    return principal_arn.endswith(":root")


def validate_principal_arn(principal_arn: str, account_id: str) -> str:
    """An IAM user, role or root ARN of the caller's account."""
    match = _PRINCIPAL.fullmatch(principal_arn)
    if match is None:
        raise InvalidParameterException(
            f"Invalid principalArn '{principal_arn}'. Specify the ARN of an IAM user, "
            "an IAM role or the root user."
        )
    if match.group(1) != account_id:
        raise InvalidParameterException(
            f"The principalArn {principal_arn} is for account {match.group(1)}. "
            f"Your accountId is {account_id}."
        )
    return principal_arn


def validate_setting_change(name: str, value: str | None, principal_arn: str) -> SettingRule:
    """Check a Put/Delete of `name` for `principal_arn` (value None for a delete)."""
    rule = rule_for(name)
    if rule.aws_managed:
        raise InvalidParameterException(
            f"The {name} account setting is managed by AWS and cannot be modified."
        )
    if rule.account_level_only and not is_root(principal_arn):
        raise InvalidParameterException(
            f"The {name} account setting can only be set for the root user of the account. "
            "Use PutAccountSettingDefault, or specify the root user as the principalArn."
        )
    if value is not None:
        if value not in rule.allowed:
            raise InvalidParameterException(
                f"Invalid value '{value}' for account setting {name}. "
                f"Valid values are: {', '.join(rule.allowed)}."
            )
        if value in rule.retired:
            raise InvalidParameterException(
                f"The value '{value}' is no longer supported for account setting {name}."
            )
    return rule


def effective_value(name: str, principal_value: str | None, account_value: str | None) -> str:
    """A principal's own setting wins over the account default, which wins over AWS's."""
    if principal_value is not None:
        return principal_value
    if account_value is not None:
        return account_value
    return rule_for(name).default
