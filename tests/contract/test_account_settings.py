"""PutAccountSetting, PutAccountSettingDefault, ListAccountSettings and
DeleteAccountSetting through boto3 and the AWS CLI.

Account settings hold for a whole account and region, so every test works in a
region of its own: nothing it sets leaks into other tests on the shared server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.awscli import CliResult
from tests.support.server import ACCESS_KEY, ACCOUNT, SECRET_KEY, ServerProcess

ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BUILDER = f"arn:aws:iam::{ACCOUNT}:role/ci/builder"

AWS_DEFAULTS = {
    "awsvpcTrunking": "disabled",
    "containerInsights": "disabled",
    "containerInstanceLongArnFormat": "enabled",
    "defaultLogDriverMode": "non-blocking",
    "fargateEventWindows": "disabled",
    "fargateFIPSMode": "disabled",
    "fargateTaskRetirementWaitPeriod": "7",
    "guardDutyActivate": "off",
    "serviceLongArnFormat": "enabled",
    "tagResourceAuthorization": "on",
    "taskLongArnFormat": "enabled",
}


@pytest.fixture
def region(unique: Callable[[str], str]) -> str:
    return unique("as")


@pytest.fixture
def ecs_here(server: ServerProcess, region: str) -> Any:
    """An ECS client for this test's own region."""
    return boto3.client(
        "ecs",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"max_attempts": 1}),
    )


def _error(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = err.value.response["Error"]
    return error["Code"], error["Message"]


def _effective(ecs: Any, **kwargs: Any) -> dict[str, str]:
    pages = ecs.get_paginator("list_account_settings").paginate(effectiveSettings=True, **kwargs)
    return {s["name"]: s["value"] for page in pages for s in page["settings"]}


def test_every_setting_starts_at_the_aws_default_for_the_root_user(ecs_here: Any) -> None:
    pages = list(ecs_here.get_paginator("list_account_settings").paginate(effectiveSettings=True))
    # ListAccountSettings answers ten settings a page by default: 11 settings, 2 pages.
    assert [len(p["settings"]) for p in pages] == [10, 1]
    settings = [s for p in pages for s in p["settings"]]
    assert [s["name"] for s in settings] == sorted(AWS_DEFAULTS)
    assert {s["name"]: s["value"] for s in settings} == AWS_DEFAULTS
    assert {s["principalArn"] for s in settings} == {ROOT}
    assert {s["name"]: s["type"] for s in settings if s["type"] != "user"} == {
        "guardDutyActivate": "aws_managed"
    }


def test_without_effective_settings_only_what_was_set_is_listed(ecs_here: Any) -> None:
    assert ecs_here.list_account_settings()["settings"] == []
    ecs_here.put_account_setting_default(name="containerInsights", value="enhanced")
    assert ecs_here.list_account_settings()["settings"] == [
        {"name": "containerInsights", "value": "enhanced", "principalArn": ROOT, "type": "user"}
    ]
    assert ecs_here.list_account_settings(principalArn=ALICE)["settings"] == []


def test_put_account_setting_default_answers_for_the_root_user(ecs_here: Any) -> None:
    setting = ecs_here.put_account_setting_default(name="awsvpcTrunking", value="enabled")[
        "setting"
    ]
    assert setting == {
        "name": "awsvpcTrunking",
        "value": "enabled",
        "principalArn": ROOT,
        "type": "user",
    }
    assert _effective(ecs_here)["awsvpcTrunking"] == "enabled"


def test_a_principal_setting_overrides_the_account_default_for_that_principal_only(
    ecs_here: Any,
) -> None:
    ecs_here.put_account_setting_default(name="containerInsights", value="enabled")
    setting = ecs_here.put_account_setting(
        name="containerInsights", value="disabled", principalArn=ALICE
    )["setting"]
    assert setting == {
        "name": "containerInsights",
        "value": "disabled",
        "principalArn": ALICE,
        "type": "user",
    }
    assert _effective(ecs_here, principalArn=ALICE)["containerInsights"] == "disabled"
    assert _effective(ecs_here, principalArn=BUILDER)["containerInsights"] == "enabled"
    assert _effective(ecs_here)["containerInsights"] == "enabled"
    alice = ecs_here.list_account_settings(principalArn=ALICE, effectiveSettings=True)
    assert {s["principalArn"] for s in alice["settings"]} == {ALICE}


def test_the_root_user_setting_is_the_default_for_everyone_without_their_own(
    ecs_here: Any,
) -> None:
    # Without principalArn the caller (here the root user) is meant.
    answered = ecs_here.put_account_setting(name="defaultLogDriverMode", value="blocking")
    assert answered["setting"]["principalArn"] == ROOT
    assert _effective(ecs_here, principalArn=BUILDER)["defaultLogDriverMode"] == "blocking"
    explicit_root = ecs_here.put_account_setting(
        name="defaultLogDriverMode", value="non-blocking", principalArn=ROOT
    )
    assert explicit_root["setting"]["value"] == "non-blocking"
    assert _effective(ecs_here, principalArn=BUILDER)["defaultLogDriverMode"] == "non-blocking"


def test_deleting_a_principal_setting_falls_back_to_the_account_default(
    ecs_here: Any,
) -> None:
    ecs_here.put_account_setting_default(name="serviceLongArnFormat", value="disabled")
    ecs_here.put_account_setting(name="serviceLongArnFormat", value="enabled", principalArn=ALICE)
    removed = ecs_here.delete_account_setting(name="serviceLongArnFormat", principalArn=ALICE)
    assert removed["setting"] == {
        "name": "serviceLongArnFormat",
        "value": "enabled",
        "principalArn": ALICE,
        "type": "user",
    }
    assert _effective(ecs_here, principalArn=ALICE)["serviceLongArnFormat"] == "disabled"
    assert ecs_here.list_account_settings(principalArn=ALICE)["settings"] == []


def test_deleting_the_root_setting_restores_the_aws_default(ecs_here: Any) -> None:
    ecs_here.put_account_setting_default(name="fargateTaskRetirementWaitPeriod", value="14")
    removed = ecs_here.delete_account_setting(name="fargateTaskRetirementWaitPeriod")
    assert removed["setting"]["value"] == "14"
    assert _effective(ecs_here)["fargateTaskRetirementWaitPeriod"] == "7"
    # Deleting what is not set changes nothing and reports the value in effect.
    again = ecs_here.delete_account_setting(name="fargateTaskRetirementWaitPeriod")
    assert again["setting"] == {
        "name": "fargateTaskRetirementWaitPeriod",
        "value": "7",
        "principalArn": ROOT,
        "type": "user",
    }


def test_settings_belong_to_one_region(
    server: ServerProcess, ecs_here: Any, unique: Callable[[str], str]
) -> None:
    ecs_here.put_account_setting_default(name="awsvpcTrunking", value="enabled")
    elsewhere = boto3.client(
        "ecs",
        endpoint_url=server.endpoint,
        region_name=unique("as"),
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    assert _effective(elsewhere)["awsvpcTrunking"] == "disabled"


@pytest.mark.parametrize(
    ("name", "good", "bad", "valid"),
    [
        ("serviceLongArnFormat", "disabled", "on", "enabled, disabled"),
        ("containerInsights", "enhanced", "yes", "enabled, enhanced, disabled"),
        ("fargateTaskRetirementWaitPeriod", "0", "3", "0, 7, 14"),
        ("defaultLogDriverMode", "blocking", "nonblocking", "blocking, non-blocking"),
        ("fargateFIPSMode", "enabled", "true", "enabled, disabled"),
        ("fargateEventWindows", "enabled", "on", "enabled, disabled"),
    ],
)
def test_each_setting_accepts_only_its_own_values(
    ecs_here: Any, name: str, good: str, bad: str, valid: str
) -> None:
    assert ecs_here.put_account_setting_default(name=name, value=good)["setting"]["value"] == good
    with pytest.raises(ClientError) as err:
        ecs_here.put_account_setting_default(name=name, value=bad)
    assert _error(err) == (
        "InvalidParameterException",
        f"Invalid value '{bad}' for account setting {name}. Valid values are: {valid}.",
    )
    assert _effective(ecs_here)[name] == good


def test_tag_resource_authorization_can_no_longer_be_turned_off(ecs_here: Any) -> None:
    assert (
        ecs_here.put_account_setting_default(name="tagResourceAuthorization", value="on")[
            "setting"
        ]["value"]
        == "on"
    )
    with pytest.raises(ClientError) as err:
        ecs_here.put_account_setting(name="tagResourceAuthorization", value="off")
    assert _error(err) == (
        "InvalidParameterException",
        "The value 'off' is no longer supported for account setting tagResourceAuthorization.",
    )


def test_guard_duty_activate_is_read_only(ecs_here: Any) -> None:
    for call in (
        lambda: ecs_here.put_account_setting_default(name="guardDutyActivate", value="on"),
        lambda: ecs_here.put_account_setting(name="guardDutyActivate", value="on"),
        lambda: ecs_here.delete_account_setting(name="guardDutyActivate"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert _error(err) == (
            "InvalidParameterException",
            "The guardDutyActivate account setting is managed by AWS and cannot be modified.",
        )


@pytest.mark.parametrize(
    "name", ["fargateTaskRetirementWaitPeriod", "fargateFIPSMode", "fargateEventWindows"]
)
def test_account_wide_settings_cannot_be_set_for_a_user_or_role(ecs_here: Any, name: str) -> None:
    value = "0" if name == "fargateTaskRetirementWaitPeriod" else "enabled"
    with pytest.raises(ClientError) as err:
        ecs_here.put_account_setting(name=name, value=value, principalArn=BUILDER)
    assert _error(err) == (
        "InvalidParameterException",
        f"The {name} account setting can only be set for the root user of the account. "
        "Use PutAccountSettingDefault, or specify the root user as the principalArn.",
    )


def test_principal_arns_must_be_iam_principals_of_the_account(ecs_here: Any) -> None:
    with pytest.raises(ClientError) as err:
        ecs_here.put_account_setting(
            name="awsvpcTrunking", value="enabled", principalArn="arn:aws:iam::123456789012:root"
        )
    assert _error(err) == (
        "InvalidParameterException",
        "The principalArn arn:aws:iam::123456789012:root is for account 123456789012. "
        f"Your accountId is {ACCOUNT}.",
    )
    bad = f"arn:aws:sts::{ACCOUNT}:assumed-role/r/session"
    with pytest.raises(ClientError) as err:
        ecs_here.list_account_settings(principalArn=bad)
    assert _error(err) == (
        "InvalidParameterException",
        f"Invalid principalArn '{bad}'. Specify the ARN of an IAM user, an IAM role "
        "or the root user.",
    )


def test_unknown_setting_names_fail_validation(ecs_here: Any) -> None:
    with pytest.raises(ClientError) as err:
        ecs_here.put_account_setting_default(name="dualStackIPv7", value="enabled")
    code, message = _error(err)
    assert code == "InvalidParameterException"
    assert message.startswith(
        "1 validation error detected: Value 'dualStackIPv7' at 'name' failed to satisfy "
        "constraint: Member must satisfy enum value set: [serviceLongArnFormat, "
    )


def test_list_filters_by_name_and_value(ecs_here: Any) -> None:
    ecs_here.put_account_setting_default(name="containerInsights", value="enabled")
    by_name = ecs_here.list_account_settings(name="containerInsights", effectiveSettings=True)
    assert by_name["settings"] == [
        {"name": "containerInsights", "value": "enabled", "principalArn": ROOT, "type": "user"}
    ]
    matching = ecs_here.list_account_settings(
        name="containerInsights", value="enabled", effectiveSettings=True
    )
    assert len(matching["settings"]) == 1
    other = ecs_here.list_account_settings(
        name="containerInsights", value="disabled", effectiveSettings=True
    )
    assert other["settings"] == []
    with pytest.raises(ClientError) as err:
        ecs_here.list_account_settings(value="enabled")
    assert _error(err) == (
        "InvalidParameterException",
        "You must also specify an account setting name to use the value parameter.",
    )


def test_list_pages_follow_max_results_and_next_token(ecs_here: Any) -> None:
    pages = list(
        ecs_here.get_paginator("list_account_settings").paginate(
            effectiveSettings=True, PaginationConfig={"PageSize": 4}
        )
    )
    assert [len(p["settings"]) for p in pages] == [4, 4, 3]
    assert "nextToken" not in pages[-1]
    names = [s["name"] for p in pages for s in p["settings"]]
    assert names == sorted(AWS_DEFAULTS)
    limited = ecs_here.get_paginator("list_account_settings").paginate(
        effectiveSettings=True, PaginationConfig={"MaxItems": 5, "PageSize": 2}
    )
    assert len(limited.build_full_result()["settings"]) == 5
    for bad in (0, 11):
        with pytest.raises(ClientError) as err:
            ecs_here.list_account_settings(effectiveSettings=True, maxResults=bad)
        assert _error(err) == (
            "InvalidParameterException",
            "maxResults must be between 1 and 10, inclusive.",
        )
    with pytest.raises(ClientError) as err:
        ecs_here.list_account_settings(effectiveSettings=True, nextToken="garbage")
    assert _error(err) == ("InvalidParameterException", "Invalid token garbage")


def test_the_aws_cli_puts_lists_and_deletes_account_settings(
    aws: Callable[..., CliResult], region: str
) -> None:
    put = aws(
        "ecs",
        "put-account-setting-default",
        "--name",
        "containerInsights",
        "--value",
        "enabled",
        "--region",
        region,
    )
    assert put.returncode == 0, put.stderr
    assert put.json == {
        "setting": {
            "name": "containerInsights",
            "value": "enabled",
            "principalArn": ROOT,
            "type": "user",
        }
    }
    listed = aws("ecs", "list-account-settings", "--effective-settings", "--region", region)
    assert listed.returncode == 0, listed.stderr
    values = {s["name"]: s["value"] for s in listed.json["settings"]}
    assert values == {**AWS_DEFAULTS, "containerInsights": "enabled"}
    deleted = aws(
        "ecs", "delete-account-setting", "--name", "containerInsights", "--region", region
    )
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.json["setting"]["value"] == "enabled"
    assert aws("ecs", "list-account-settings", "--region", region).json == {"settings": []}


def test_the_aws_cli_shows_aws_errors_for_account_settings(
    aws: Callable[..., CliResult], region: str
) -> None:
    result = aws(
        "ecs",
        "put-account-setting",
        "--name",
        "awsvpcTrunking",
        "--value",
        "maybe",
        "--region",
        region,
    )
    assert result.returncode != 0
    assert (
        "An error occurred (InvalidParameterException) when calling the PutAccountSetting "
        "operation: Invalid value 'maybe' for account setting awsvpcTrunking. "
        "Valid values are: enabled, disabled." in result.stderr
    )
