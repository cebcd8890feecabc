"""Listener and rule actions and rule conditions: checked and normalized into the
shapes AWS returns (a forward action always carries its ForwardConfig, a
redirect its filled-in defaults, a path-pattern condition both Values and
PathPatternConfig).

OpenECS's listeners speak HTTP, so the terminal actions forward, redirect and
fixed-response are supported; the authenticate actions need HTTPS listeners,
as on AWS. Conditions: path-pattern, host-header, http-header,
http-request-method and query-string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from openecs.domain.errors import InvalidLoadBalancerActionException, ValidationError

__all__ = [
    "MAX_CONDITION_VALUES",
    "forwarded_target_groups",
    "normalize_actions",
    "normalize_conditions",
]

MAX_CONDITION_VALUES = 5
_MAX_FORWARD_TARGET_GROUPS = 5
_MAX_WEIGHT = 999
_MAX_STICKINESS_SECONDS = 604800
_CONTENT_TYPES = (
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
)
_TERMINAL = ("forward", "redirect", "fixed-response")
_AUTHENTICATE = ("authenticate-oidc", "authenticate-cognito", "jwt-validation")
_CONDITION_FIELDS = (
    "http-header",
    "http-request-method",
    "host-header",
    "path-pattern",
    "query-string",
    "source-ip",
)
_SINGLE_FIELDS = ("path-pattern", "host-header", "http-request-method")
_PATH_VALUE = re.compile(r"[A-Za-z0-9_\-.$/~\"'@:+&*?]{1,128}")
_HOST_VALUE = re.compile(r"[A-Za-z0-9\-.*?]{1,128}")
_METHOD_VALUE = re.compile(r"[A-Z_-]{1,40}")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,40}")
_PLACEHOLDER_PORT = re.compile(r"#\{port\}|\d{1,5}")


# --- actions ---------------------------------------------------------------------------


def normalize_actions(actions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A listener's or rule's actions, checked, in the shapes AWS returns them."""
    given = list(actions)
    if not given:
        raise ValidationError("At least one action must be specified")
    orders = [a["Order"] for a in given if a.get("Order") is not None]
    if len(set(orders)) != len(orders):
        raise ValidationError("Action orders must be unique")
    for action in given:
        kind = action.get("Type")
        if kind in _AUTHENTICATE:
            # As on AWS: authentication needs an HTTPS listener, and OpenECS serves HTTP.
            raise InvalidLoadBalancerActionException(
                f"Action type '{kind}' is supported only on HTTPS listeners"
            )
    terminal = [a for a in given if a.get("Type") in _TERMINAL]
    if len(terminal) != 1 or len(given) != 1:
        raise ValidationError(
            "A rule must have exactly one action of type 'forward', 'redirect' or 'fixed-response'"
        )
    action = given[0]
    kind = action["Type"]
    if kind == "forward":
        out = _forward(action)
    elif kind == "redirect":
        out = _redirect(action)
    else:
        out = _fixed_response(action)
    if action.get("Order") is not None:
        out["Order"] = action["Order"]
    return [out]


def _forward(action: Mapping[str, Any]) -> dict[str, Any]:
    arn = action.get("TargetGroupArn")
    config = action.get("ForwardConfig") or {}
    tuples = config.get("TargetGroups")
    if arn is None and not tuples:
        raise ValidationError("A target group ARN must be specified")
    if tuples is None:
        tuples = [{"TargetGroupArn": arn, "Weight": 1}]
    if len(tuples) > _MAX_FORWARD_TARGET_GROUPS:
        raise ValidationError(
            f"A forward action can have at most {_MAX_FORWARD_TARGET_GROUPS} target groups"
        )
    groups: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in tuples:
        group = item.get("TargetGroupArn")
        if group is None:
            raise ValidationError("A target group ARN must be specified")
        if group in seen:
            raise ValidationError(f"Target group '{group}' is specified more than once")
        seen.add(group)
        weight = item.get("Weight", 1)
        if not 0 <= weight <= _MAX_WEIGHT:
            raise ValidationError(
                f"Target group weight '{weight}' must be between 0 and {_MAX_WEIGHT}"
            )
        groups.append({"TargetGroupArn": group, "Weight": weight})
    if arn is not None and [g["TargetGroupArn"] for g in groups] != [arn]:
        raise ValidationError(
            "You cannot specify a target group ARN together with a ForwardConfig that "
            "names other target groups"
        )
    stickiness = config.get("TargetGroupStickinessConfig") or {}
    sticky: dict[str, Any] = {"Enabled": bool(stickiness.get("Enabled", False))}
    if sticky["Enabled"]:
        duration = stickiness.get("DurationSeconds")
        if duration is None or not 1 <= duration <= _MAX_STICKINESS_SECONDS:
            raise ValidationError(
                "Target group stickiness duration must be between 1 and "
                f"{_MAX_STICKINESS_SECONDS} seconds"
            )
        sticky["DurationSeconds"] = duration
    out: dict[str, Any] = {
        "Type": "forward",
        "ForwardConfig": {"TargetGroups": groups, "TargetGroupStickinessConfig": sticky},
    }
    if len(groups) == 1:
        out["TargetGroupArn"] = groups[0]["TargetGroupArn"]
    return out


def _redirect(action: Mapping[str, Any]) -> dict[str, Any]:
    config = action.get("RedirectConfig")
    if config is None:
        raise ValidationError("A redirect action must have a RedirectConfig")
    out = {
        "Protocol": config.get("Protocol", "#{protocol}"),
        "Port": config.get("Port", "#{port}"),
        "Host": config.get("Host", "#{host}"),
        "Path": config.get("Path", "/#{path}"),
        "Query": config.get("Query", "#{query}"),
        "StatusCode": config["StatusCode"],
    }
    port = out["Port"]
    if not _PLACEHOLDER_PORT.fullmatch(port) or (port.isdigit() and not 1 <= int(port) <= 65535):
        raise ValidationError(f"Redirect port '{port}' must be '#{{port}}' or 1-65535")
    if not out["Path"].startswith("/"):
        raise ValidationError("A redirect path must begin with a '/' character")
    unchanged = (
        out["Protocol"] == "#{protocol}"
        and out["Port"] == "#{port}"
        and out["Host"] == "#{host}"
        and out["Path"] == "/#{path}"
        and out["Query"] == "#{query}"
    )
    if unchanged:
        raise ValidationError(
            "A redirect must change at least one of protocol, port, host, path or query; "
            "otherwise it would redirect to itself"
        )
    return {"Type": "redirect", "RedirectConfig": out}


def _fixed_response(action: Mapping[str, Any]) -> dict[str, Any]:
    config = action.get("FixedResponseConfig")
    if config is None:
        raise ValidationError("A fixed-response action must have a FixedResponseConfig")
    content_type = config.get("ContentType")
    if content_type is not None and content_type not in _CONTENT_TYPES:
        raise ValidationError(
            f"Content type '{content_type}' must be one of [{', '.join(_CONTENT_TYPES)}]"
        )
    out = {"StatusCode": config["StatusCode"]}
    if content_type is not None:
        out["ContentType"] = content_type
    if config.get("MessageBody") is not None:
        out["MessageBody"] = config["MessageBody"]
    return {"Type": "fixed-response", "FixedResponseConfig": out}


def forwarded_target_groups(actions: Iterable[Mapping[str, Any]]) -> list[str]:
    """The target group ARNs normalized actions forward to, in order, once each."""
    found: list[str] = []
    for action in actions:
        if action.get("Type") != "forward":
            continue
        for group in action["ForwardConfig"]["TargetGroups"]:
            if group["TargetGroupArn"] not in found:
                found.append(group["TargetGroupArn"])
    return found


# --- conditions ------------------------------------------------------------------------


def normalize_conditions(conditions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A rule's conditions, checked against AWS's limits, in the shapes AWS returns."""
    out: list[dict[str, Any]] = []
    fields: list[str] = []
    total = 0
    for condition in conditions:
        field = condition.get("Field")
        if field is None:
            raise ValidationError("A condition field must be specified")
        if field not in _CONDITION_FIELDS:
            raise ValidationError(
                f"Condition field '{field}' must be one of [{', '.join(_CONDITION_FIELDS)}]"
            )
        if field == "source-ip":
            raise ValidationError("Condition field 'source-ip' is not supported by OpenECS")
        if field in _SINGLE_FIELDS and field in fields:
            raise ValidationError(f"A rule can only have one '{field}' condition")
        if condition.get("RegexValues") or any(
            isinstance(v, Mapping) and v.get("RegexValues") for v in condition.values()
        ):
            raise ValidationError("Regular expression condition values are not supported")
        fields.append(field)
        normalized, count = _CONDITION_BUILDERS[field](condition)
        total += count
        out.append(normalized)
    if total > MAX_CONDITION_VALUES:
        raise ValidationError(f"A rule can only have '{MAX_CONDITION_VALUES}' condition values")
    return out


def _values_of(condition: Mapping[str, Any], config_name: str) -> list[Any]:
    plain = condition.get("Values")
    config = condition.get(config_name)
    if plain and config is not None:
        raise ValidationError(f"You cannot specify both Values and {config_name}")
    values = plain if plain else (config or {}).get("Values")
    if not values:
        raise ValidationError(f"A '{condition['Field']}' condition must have at least one value")
    return list(values)


def _checked(values: list[str], pattern: re.Pattern[str], field: str) -> list[str]:
    for value in values:
        if not pattern.fullmatch(value):
            raise ValidationError(f"Condition value '{value}' is not valid for '{field}'")
    return values


def _path_pattern(condition: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    values = _checked(_values_of(condition, "PathPatternConfig"), _PATH_VALUE, "path-pattern")
    return {
        "Field": "path-pattern",
        "Values": values,
        "PathPatternConfig": {"Values": values},
    }, len(values)


def _host_header(condition: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    values = _checked(_values_of(condition, "HostHeaderConfig"), _HOST_VALUE, "host-header")
    return {
        "Field": "host-header",
        "Values": values,
        "HostHeaderConfig": {"Values": values},
    }, len(values)


def _http_header(condition: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    config = condition.get("HttpHeaderConfig") or {}
    name = config.get("HttpHeaderName")
    if name is None or not _HEADER_NAME.fullmatch(name):
        raise ValidationError(f"HTTP header name '{name}' is not valid")
    values = config.get("Values") or []
    if not values:
        raise ValidationError("A 'http-header' condition must have at least one value")
    for value in values:
        if len(value) > 128:
            raise ValidationError(f"Condition value '{value}' is longer than 128 characters")
    return {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": name, "Values": list(values)},
    }, len(values)


def _http_request_method(condition: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    config = condition.get("HttpRequestMethodConfig") or {}
    values = config.get("Values") or []
    if not values:
        raise ValidationError("A 'http-request-method' condition must have at least one value")
    _checked(list(values), _METHOD_VALUE, "http-request-method")
    return {
        "Field": "http-request-method",
        "HttpRequestMethodConfig": {"Values": list(values)},
    }, len(values)


def _query_string(condition: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    config = condition.get("QueryStringConfig") or {}
    pairs = config.get("Values") or []
    if not pairs:
        raise ValidationError("A 'query-string' condition must have at least one value")
    out: list[dict[str, str]] = []
    for pair in pairs:
        value = pair.get("Value")
        if not value:
            raise ValidationError("A query string condition value must have a Value")
        key = pair.get("Key")
        for part in (key, value):
            if part is not None and len(part) > 128:
                raise ValidationError(f"Query string '{part}' is longer than 128 characters")
        out.append({"Key": key, "Value": value} if key is not None else {"Value": value})
    return {"Field": "query-string", "QueryStringConfig": {"Values": out}}, len(out)


_CONDITION_BUILDERS = {
    "path-pattern": _path_pattern,
    "host-header": _host_header,
    "http-header": _http_header,
    "http-request-method": _http_request_method,
    "query-string": _query_string,
}
