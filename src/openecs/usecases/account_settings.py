"""Account setting operations: put (for a principal or as the account default),
delete, list (what is set, or what is in effect), and the effective value other
use cases consult.

LIMITATIONS (where OpenECS differs from AWS):
* every caller is the account's root user, so any principal may be named;
* the long ARN format settings are recorded but resources always get long ARNs;
* fargateFIPSMode is accepted in every region (AWS offers it in GovCloud only).
"""

from __future__ import annotations

from sqlalchemy import Connection

from openecs.domain.account_settings import (
    SETTING_NAMES,
    AccountSetting,
    effective_value,
    is_root,
    root_arn,
    rule_for,
    validate_principal_arn,
    validate_setting_change,
)
from openecs.domain.errors import InvalidParameterException
from openecs.domain.scope import Scope
from openecs.store import account_settings as setting_rows
from openecs.usecases.backend import Backend
from openecs.usecases.pagination import decode_token, encode_token, page_limit

__all__ = [
    "delete_account_setting",
    "effective_setting",
    "list_account_settings",
    "put_account_setting",
    "put_account_setting_default",
]

_PAGE_DEFAULT = 10
_PAGE_MOST = 10


def _principal(scope: Scope, principal_arn: str | None) -> str:
    if principal_arn is None:
        return scope.principal_arn
    return validate_principal_arn(principal_arn, scope.account_id)


def _key(principal_arn: str) -> str:
    """Where a principal's settings are kept: the root user's are the account default."""
    return setting_rows.ACCOUNT_DEFAULT if is_root(principal_arn) else principal_arn


def _setting(name: str, value: str, principal_arn: str) -> AccountSetting:
    return AccountSetting(name, value, principal_arn, rule_for(name).type)


def effective_setting(
    conn: Connection, scope: Scope, name: str, principal_arn: str | None = None
) -> str:
    """The value of `name` in effect for a principal (the caller when None)."""
    principal = principal_arn or scope.principal_arn
    key = _key(principal)
    values = setting_rows.get_values(conn, scope, {key, setting_rows.ACCOUNT_DEFAULT}, name)
    return effective_value(
        name, values.get((key, name)), values.get((setting_rows.ACCOUNT_DEFAULT, name))
    )


def _put(backend: Backend, scope: Scope, name: str, value: str, principal: str) -> AccountSetting:
    rule = validate_setting_change(name, value, principal)

    def work(conn: Connection) -> AccountSetting:
        setting_rows.put_setting(conn, scope, _key(principal), name, value, rule.type)
        return _setting(name, value, principal)

    return backend.write(work)


def put_account_setting(
    backend: Backend, scope: Scope, name: str, value: str, principal_arn: str | None = None
) -> AccountSetting:
    return _put(backend, scope, name, value, _principal(scope, principal_arn))


def put_account_setting_default(
    backend: Backend, scope: Scope, name: str, value: str
) -> AccountSetting:
    return _put(backend, scope, name, value, root_arn(scope.account_id))


def delete_account_setting(
    backend: Backend, scope: Scope, name: str, principal_arn: str | None = None
) -> AccountSetting:
    """Remove a principal's own setting. The answer carries the value that was removed;
    when the principal had none, nothing changes and the value in effect is returned."""
    principal = _principal(scope, principal_arn)
    validate_setting_change(name, None, principal)

    def work(conn: Connection) -> AccountSetting:
        removed = setting_rows.delete_setting(conn, scope, _key(principal), name)
        if removed is None:
            removed = effective_setting(conn, scope, name, principal)
        return _setting(name, removed, principal)

    return backend.write(work)


def list_account_settings(
    backend: Backend,
    scope: Scope,
    *,
    name: str | None = None,
    value: str | None = None,
    principal_arn: str | None = None,
    effective_settings: bool = False,
    next_token: str | None = None,
    max_results: int | None = None,
) -> tuple[list[AccountSetting], str | None]:
    """The settings set for a principal, or with `effective_settings` the value of
    every setting in effect for it; in name order, a page at a time."""
    if value is not None and name is None:
        raise InvalidParameterException(
            "You must also specify an account setting name to use the value parameter."
        )
    if name is not None:
        rule_for(name)
    principal = _principal(scope, principal_arn)
    limit = page_limit(max_results, default=_PAGE_DEFAULT, most=_PAGE_MOST)
    after = decode_token(next_token)
    if after is not None and not isinstance(after, str):
        raise InvalidParameterException(f"Invalid token {next_token}")
    key = _key(principal)
    with backend.reading() as conn:
        values = setting_rows.get_values(conn, scope, {key, setting_rows.ACCOUNT_DEFAULT}, name)
    names = [name] if name is not None else list(SETTING_NAMES)
    settings: list[AccountSetting] = []
    for each in names:
        own = values.get((key, each))
        if effective_settings:
            shown: str | None = effective_value(
                each, own, values.get((setting_rows.ACCOUNT_DEFAULT, each))
            )
        else:
            shown = own
        if shown is None or (value is not None and shown != value):
            continue
        settings.append(_setting(each, shown, principal))
    if after is not None:
        settings = [s for s in settings if s.name > after]
    token = encode_token(settings[limit - 1].name) if len(settings) > limit else None
    return settings[:limit], token
