"""ECS account setting operations."""

from __future__ import annotations

from typing import Any

from openecs.api.context import Operations, RequestContext
from openecs.domain.account_settings import AccountSetting
from openecs.usecases import account_settings

__all__ = ["OPERATIONS", "present_setting"]


def present_setting(setting: AccountSetting) -> dict[str, Any]:
    """A setting in the ECS `Setting` shape."""
    return {
        "name": setting.name,
        "value": setting.value,
        "principalArn": setting.principal_arn,
        "type": setting.type,
    }


def put_account_setting(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    setting = account_settings.put_account_setting(
        ctx.backend, ctx.scope, p["name"], p["value"], p.get("principalArn")
    )
    return {"setting": present_setting(setting)}


def put_account_setting_default(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    setting = account_settings.put_account_setting_default(
        ctx.backend, ctx.scope, p["name"], p["value"]
    )
    return {"setting": present_setting(setting)}


def delete_account_setting(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    setting = account_settings.delete_account_setting(
        ctx.backend, ctx.scope, p["name"], p.get("principalArn")
    )
    return {"setting": present_setting(setting)}


def list_account_settings(ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
    settings, token = account_settings.list_account_settings(
        ctx.backend,
        ctx.scope,
        name=p.get("name"),
        value=p.get("value"),
        principal_arn=p.get("principalArn"),
        effective_settings=p.get("effectiveSettings", False),
        next_token=p.get("nextToken"),
        max_results=p.get("maxResults"),
    )
    return {"settings": [present_setting(s) for s in settings], "nextToken": token}


OPERATIONS: Operations = {
    "PutAccountSetting": put_account_setting,
    "PutAccountSettingDefault": put_account_setting_default,
    "DeleteAccountSetting": delete_account_setting,
    "ListAccountSettings": list_account_settings,
}
