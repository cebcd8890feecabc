"""The elbv2 model rendered as one readable haproxy.cfg.

`plan_layout(snapshot, settings)` decides the shape (which listeners are bound,
which target groups get a backend and how many server slots each has);
`render(snapshot, settings)` writes the configuration text from it. Both are
pure: the same snapshot always renders the same text, so the data plane reloads
HAProxy only when listeners, rules or target groups change.

Targets are not in the configuration. Every backend holds a `server-template`
pool of slots (`t1`..`tN`, N a power of two, at least `min_slots`) parked in
maintenance; the data plane fills them through the runtime API. The pool grows
(one reload) only when a group holds more targets than it has slots.

Rules keep elbv2's semantics exactly: each rule's conditions become ACLs, the
first matching rule in priority order is remembered in `txn.lb_rule`, and its
action follows — `http-request return` (fixed-response), `http-request redirect`
or `use_backend` (forward; a weighted forward draws `rand(total weight)` once).
Because the matched rule is a variable, a fixed response at priority 5 never
overrides a forward at priority 1, although HAProxy runs `http-request` rules
before `use_backend` ones.

LIMITATIONS (against elbv2): HTTPS listeners are not bound (no certificates);
listeners of two load balancers on one port cannot both bind (the oldest
wins, the other is named in a comment); authenticate-* actions are skipped;
target group stickiness inside a weighted forward is not applied; stickiness
is always a load-balancer-generated cookie (AWSALB), also for app_cookie;
when every target of a group is unhealthy requests get 503 (ALB fails open);
the host-header condition sees the Host header without its port.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openecs.domain.load_balancing import (
    Listener,
    LoadBalancer,
    LoadBalancingSnapshot,
    Rule,
    TargetGroup,
)

__all__ = [
    "SLOT_PREFIX",
    "BackendLayout",
    "ConfigLayout",
    "ConfigSettings",
    "plan_layout",
    "quote",
    "render",
    "significant_lines",
    "slot_count",
    "slot_name",
]

SLOT_PREFIX = "t"
# Where an empty slot points. An FQDN makes HAProxy restore addresses from the
# server-state file on reload (`init-addr last`), 0.0.0.0 (IPv4) otherwise, so the
# runtime API can set an address; a real port, because port 0 would mean "the
# client's destination port" even after the state file restored another one.
_PARKED_ADDRESS = "unassigned.invalid:1"
_STICKY_COOKIE = "AWSALB"
_RULE_VAR = "txn.lb_rule"
_PICK_VAR = "txn.lb_pick"
_MATCHER = re.compile(r"^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class ConfigSettings:
    state_dir: Path
    # Sockets live here (default: see `sockets`).
    socket_dir: Path | None = None
    bind_address: str = "127.0.0.1"
    min_slots: int = 64
    # HAProxy's worker threads; None lets it use one per CPU.
    threads: int | None = None
    # Listener ports HAProxy could not bind (another process holds them, or no
    # permission), with why: left out, so HAProxy still starts for the others.
    unavailable_ports: Mapping[int, str] = field(default_factory=dict)
    # Target group ARN → the ECS services (e.g. "cluster/service") that register into it.
    services: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def sockets(self) -> Path:
        """Where the sockets go: `socket_dir`, else the state dir when its paths are short
        enough (HAProxy binds `<path>.<pid>.tmp` first, 97 bytes at most), else /tmp."""
        if self.socket_dir is not None:
            return self.socket_dir
        if len(str(self.state_dir.absolute() / "master.sock")) <= 90:
            return self.state_dir
        digest = hashlib.sha1(str(self.state_dir.absolute()).encode()).hexdigest()[:12]
        return Path("/tmp") / f"openecs-haproxy-{digest}"

    @property
    def admin_socket(self) -> Path:
        return self.sockets / "admin.sock"

    @property
    def master_socket(self) -> Path:
        return self.sockets / "master.sock"

    @property
    def server_state_file(self) -> Path:
        return self.state_dir / "server-state"


@dataclass(frozen=True)
class BackendLayout:
    name: str
    target_group: TargetGroup
    slots: int

    @property
    def health_checked(self) -> bool:
        return self.target_group.health_check.enabled


@dataclass(frozen=True)
class BoundListener:
    listener: Listener
    load_balancer: LoadBalancer
    frontend: str


@dataclass(frozen=True)
class ConfigLayout:
    # Keyed by target group ARN: only groups some listener forwards to.
    backends: dict[str, BackendLayout]
    bound: list[BoundListener]
    # Listeners that could not bind, with the reason (rendered as comments).
    unbound: list[tuple[Listener, str]]


def slot_count(targets: int, minimum: int) -> int:
    """Slots for a group: a power of two, so the pool grows rarely (each growth is a reload)."""
    slots = max(minimum, 1)
    while slots < targets:
        slots *= 2
    return slots


def slot_name(index: int) -> str:
    return f"{SLOT_PREFIX}{index}"


def backend_name(group: TargetGroup) -> str:
    return f"tg_{group.name}_{_short_hash(group.arn)}"


def frontend_name(lb: LoadBalancer, listener: Listener) -> str:
    return f"lb_{lb.name}_{listener.port}"


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


# --- layout ---------------------------------------------------------------------------


def forwarded_groups(actions: Iterable[dict[str, Any]]) -> list[tuple[str, int]]:
    """(target group ARN, weight) of a forward action among `actions`, in their order."""
    action = terminal_action(actions)
    if action is None or action.get("Type") != "forward":
        return []
    config = action.get("ForwardConfig") or {}
    groups = config.get("TargetGroups") or []
    if groups:
        return [(g["TargetGroupArn"], int(g.get("Weight", 1))) for g in groups]
    arn = action.get("TargetGroupArn")
    return [(arn, 1)] if arn else []


def terminal_action(actions: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The action that answers the request (authenticate-* actions only precede it)."""
    ordered = sorted(actions, key=lambda a: int(a.get("Order", 0)))
    for action in reversed(ordered):
        if action.get("Type") in ("forward", "redirect", "fixed-response"):
            return dict(action)
    return None


def _listener_actions(snapshot: LoadBalancingSnapshot, listener: Listener) -> list[Rule]:
    """The listener's rules in evaluation order, its default actions last."""
    rules = [r for r in snapshot.rules if r.listener_arn == listener.arn and not r.is_default]
    rules.sort(key=lambda r: r.priority or 0)
    default = next(
        (r for r in snapshot.rules if r.listener_arn == listener.arn and r.is_default), None
    )
    actions = listener.default_actions or (default.actions if default else [])
    rules.append(Rule(default.arn if default else listener.arn, listener.arn, None, [], actions))
    return rules


def plan_layout(snapshot: LoadBalancingSnapshot, settings: ConfigSettings) -> ConfigLayout:
    lbs = {lb.arn: lb for lb in snapshot.load_balancers}
    groups = {g.arn: g for g in snapshot.target_groups}
    bound: list[BoundListener] = []
    unbound: list[tuple[Listener, str]] = []
    used: set[str] = set()
    ports: dict[int, Listener] = {}
    for listener in sorted(snapshot.listeners, key=lambda x: (x.created_at, x.arn)):
        lb = lbs.get(listener.load_balancer_arn)
        if lb is None:
            continue
        for rule in _listener_actions(snapshot, listener):
            used.update(arn for arn, _ in forwarded_groups(rule.actions) if arn in groups)
        if listener.protocol != "HTTP":
            unbound.append((listener, f"{listener.protocol} listeners are not served"))
        elif listener.port in ports:
            unbound.append((listener, f"port taken by listener {ports[listener.port].arn}"))
        elif listener.port in settings.unavailable_ports:
            why = settings.unavailable_ports[listener.port]
            unbound.append(
                (listener, f"cannot bind {settings.bind_address}:{listener.port}: {why}")
            )
        else:
            ports[listener.port] = listener
            bound.append(BoundListener(listener, lb, frontend_name(lb, listener)))
    counts: dict[str, int] = {}
    for target in snapshot.targets:
        counts[target.target_group_arn] = counts.get(target.target_group_arn, 0) + 1
    backends = {
        arn: BackendLayout(
            backend_name(groups[arn]),
            groups[arn],
            slot_count(counts.get(arn, 0), settings.min_slots),
        )
        for arn in sorted(used)
    }
    return ConfigLayout(backends, bound, unbound)


# --- quoting --------------------------------------------------------------------------


def quote(text: str) -> str:
    """One configuration word holding `text` exactly (weak quoting with escapes)."""
    out = ['"']
    for ch in text:
        if ch in '\\"$':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _log_format_literal(text: str) -> str:
    return text.replace("%", "%%")


def _comment(text: str) -> str:
    return " ".join(text.split())


def significant_lines(config: str) -> list[str]:
    """The configuration without comments and blank lines: what a reload is for."""
    return [
        line for line in config.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


# --- conditions -----------------------------------------------------------------------


def _wildcard_patterns(patterns: Iterable[str]) -> dict[str, list[str]]:
    """elbv2 wildcards (`*` any run, `?` one character) as HAProxy match methods."""
    methods: dict[str, list[str]] = {}
    for pattern in patterns:
        body = pattern.rstrip("*") if pattern.endswith("*") else None
        if not any(c in pattern for c in "*?"):
            methods.setdefault("str", []).append(pattern)
        elif body is not None and body and not any(c in body for c in "*?"):
            methods.setdefault("beg", []).append(body)
        elif pattern.startswith("*") and pattern[1:] and not any(c in pattern[1:] for c in "*?"):
            methods.setdefault("end", []).append(pattern[1:])
        else:
            methods.setdefault("reg", []).append("^" + _wildcard_regex(pattern, ".") + "$")
    return methods


def _wildcard_regex(pattern: str, any_char: str) -> str:
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(f"{any_char}*")
        elif ch == "?":
            parts.append(any_char)
        else:
            parts.append(re.escape(ch))
    return "".join(parts)


def _values(condition: dict[str, Any], config_key: str) -> list[Any]:
    config = condition.get(config_key) or {}
    values = config.get("Values")
    if values is None:
        values = condition.get("Values") or []
    return list(values)


def condition_acls(name: str, condition: dict[str, Any]) -> list[str]:
    """`acl` lines (all named `name`, so OR-ed) for one elbv2 condition; [] if unsupported."""
    field_name = condition.get("Field")
    lines: list[str] = []

    def matchers(fetch: str, patterns: Iterable[str], flags: str) -> None:
        for method, values in _wildcard_patterns(patterns).items():
            words = " ".join(quote(v) for v in values)
            lines.append(f"acl {name} {fetch} {flags}-m {method} -- {words}")

    if field_name == "path-pattern":
        matchers("path", _values(condition, "PathPatternConfig"), "")
    elif field_name == "host-header":
        matchers("req.hdr(host),field(1,:)", _values(condition, "HostHeaderConfig"), "-i ")
    elif field_name == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        header = str(config.get("HttpHeaderName", ""))
        if _HEADER_NAME.match(header):
            matchers(f"req.fhdr({header})", config.get("Values") or [], "-i ")
    elif field_name == "http-request-method":
        methods = _values(condition, "HttpRequestMethodConfig")
        if methods:
            words = " ".join(quote(m) for m in methods)
            lines.append(f"acl {name} method -m str -- {words}")
    elif field_name == "query-string":
        pairs = (condition.get("QueryStringConfig") or {}).get("Values") or []
        regexes = []
        for pair in pairs:
            value = _wildcard_regex(str(pair.get("Value", "")), "[^&]")
            key = pair.get("Key")
            key_re = _wildcard_regex(str(key), "[^&=]") + "=" if key else "(?:[^&=]*=)?"
            regexes.append(f"(?:^|&){key_re}{value}(?:&|$)")
        if regexes:
            words = " ".join(quote(r) for r in regexes)
            lines.append(f"acl {name} query -i -m reg -- {words}")
    elif field_name == "source-ip":
        cidrs = _values(condition, "SourceIpConfig")
        if cidrs:
            lines.append(f"acl {name} src -- {' '.join(quote(c) for c in cidrs)}")
    return lines


def _describe_condition(condition: dict[str, Any]) -> str:
    field_name = str(condition.get("Field"))
    if field_name == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        return f"http-header {config.get('HttpHeaderName')} in {config.get('Values')}"
    if field_name == "query-string":
        pairs = (condition.get("QueryStringConfig") or {}).get("Values") or []
        return "query-string " + ", ".join(f"{p.get('Key') or '*'}={p.get('Value')}" for p in pairs)
    key = {
        "path-pattern": "PathPatternConfig",
        "host-header": "HostHeaderConfig",
        "http-request-method": "HttpRequestMethodConfig",
        "source-ip": "SourceIpConfig",
    }.get(field_name, "")
    return f"{field_name} in {_values(condition, key)}"


# --- actions --------------------------------------------------------------------------


def _redirect_location(config: dict[str, Any], listener: Listener) -> tuple[str, str | None]:
    """A log-format location and, when the query is dynamic, the variant without it."""
    static = {
        "#{protocol}": listener.protocol.lower(),
        "#{port}": str(listener.port),
    }
    dynamic = {
        "#{host}": "%[req.hdr(host),field(1,:)]",
        "#{path}": "%[path,regsub(^/,)]",
        "#{query}": "%[query]",
    }

    def fill(template: str) -> str:
        out = []
        i = 0
        while i < len(template):
            for token, value in (*static.items(), *dynamic.items()):
                if template.startswith(token, i):
                    out.append(_log_format_literal(value) if token in static else value)
                    i += len(token)
                    break
            else:
                out.append(_log_format_literal(template[i]))
                i += 1
        return "".join(out)

    protocol_template = str(config.get("Protocol", "#{protocol}"))
    protocol = protocol_template.replace("#{protocol}", listener.protocol).lower()
    port = str(config.get("Port", "#{port}")).replace("#{port}", str(listener.port))
    default_port = {"http": "80", "https": "443"}.get(protocol)
    authority = fill(str(config.get("Host", "#{host}")))
    if port != default_port:
        authority += ":" + _log_format_literal(port)
    path = fill(str(config.get("Path", "/#{path}")))
    base = f"{_log_format_literal(protocol)}://{authority}{path}"
    query = str(config.get("Query", "#{query}"))
    if not query:
        return base, None
    with_query = f"{base}?{fill(query)}"
    if "#{query}" in query and query.replace("#{query}", "") == "":
        return with_query, base
    return with_query, None


def _action_lines(
    when: str,
    action: dict[str, Any] | None,
    listener: Listener,
    backends: Mapping[str, BackendLayout],
) -> tuple[list[str], list[str], str]:
    """(http-request lines, use_backend lines, description) for one rule's action."""
    if action is None:
        return [f"http-request return status 503 if {when}"], [], "no action: 503"
    kind = action.get("Type")
    if kind == "fixed-response":
        config = action.get("FixedResponseConfig") or {}
        status = str(config.get("StatusCode", "200"))
        words = [f"http-request return status {status}"]
        body = config.get("MessageBody")
        if body is not None:
            words.append(f"content-type {quote(str(config.get('ContentType') or 'text/plain'))}")
            words.append(f"string {quote(str(body))}")
        return [" ".join([*words, "if", when])], [], f"fixed-response {status}"
    if kind == "redirect":
        config = action.get("RedirectConfig") or {}
        code = str(config.get("StatusCode", "HTTP_301")).removeprefix("HTTP_")
        location, without_query = _redirect_location(config, listener)
        if without_query is None:
            line = f"http-request redirect code {code} location {quote(location)} if {when}"
            return [line], [], f"redirect {code}"
        return (
            [
                f"http-request redirect code {code} location {quote(location)} "
                f"if {when} {{ query -m len 1: }}",
                f"http-request redirect code {code} location {quote(without_query)} if {when}",
            ],
            [],
            f"redirect {code}",
        )
    groups = [(arn, w) for arn, w in forwarded_groups([action]) if arn in backends and w > 0]
    if not groups:
        return [f"http-request return status 503 if {when}"], [], "forward to no group: 503"
    names = ", ".join(
        f"{backends[arn].target_group.name} (weight {w})"
        if len(groups) > 1
        else backends[arn].target_group.name
        for arn, w in groups
    )
    if len(groups) == 1:
        return [], [f"use_backend {backends[groups[0][0]].name} if {when}"], f"forward to {names}"
    total = sum(w for _, w in groups)
    pick = [f"http-request set-var({_PICK_VAR}) rand({total}) if {when}"]
    uses = []
    low = 0
    for arn, weight in groups:
        high = low + weight - 1
        uses.append(
            f"use_backend {backends[arn].name} if {when} {{ var({_PICK_VAR}) -m int {low}:{high} }}"
        )
        low = high + 1
    return pick, uses, f"weighted forward to {names}"


# --- sections -------------------------------------------------------------------------


def _global(settings: ConfigSettings) -> list[str]:
    return [
        "global",
        f"    stats socket {quote(str(settings.admin_socket))} mode 600 expose-fd listeners"
        " level admin",
        "    stats timeout 30s",
        *([f"    nbthread {settings.threads}"] if settings.threads else []),
        f"    server-state-file {quote(str(settings.server_state_file))}",
        "    # Old workers finish their requests after a reload, but not forever.",
        "    hard-stop-after 60s",
        "",
        "defaults",
        "    mode http",
        "    load-server-state-from-file global",
        "    option forwardfor",
        "    option redispatch",
        "    retries 2",
        # A target that just died (its published port resets) costs a retry on
        # another target, not a failed request.
        "    retry-on conn-failure empty-response response-timeout",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 60s",
        "    timeout queue 10s",
        "",
    ]


def _frontend(
    snapshot: LoadBalancingSnapshot,
    bound: BoundListener,
    backends: Mapping[str, BackendLayout],
    settings: ConfigSettings,
) -> list[str]:
    listener, lb = bound.listener, bound.load_balancer
    idle = lb.attributes.get("idle_timeout.timeout_seconds", "60")
    lines = [
        f"# load balancer {lb.name} ({lb.arn})",
        f"# listener {listener.protocol}:{listener.port} ({listener.arn})",
        f"frontend {bound.frontend}",
        f"    bind {settings.bind_address}:{listener.port}",
        f"    timeout client {int(idle)}s",
        "    http-request set-header X-Forwarded-Proto http",
        f"    http-request set-header X-Forwarded-Port {listener.port}",
    ]
    uses: list[str] = []
    for rule in _listener_actions(snapshot, listener):
        action = terminal_action(rule.actions)
        if rule.is_default:
            key, when = "default", f"!{{ var({_RULE_VAR}) -m found }}"
        else:
            key = f"p{rule.priority}"
            when = f"{{ var({_RULE_VAR}) -m str {key} }}"
        requests, rule_uses, what = _action_lines(when, action, listener, backends)
        lines.append("")
        if rule.is_default:
            lines.append(f"    # default rule: {_comment(what)}")
        else:
            described = "; ".join(_describe_condition(c) for c in rule.conditions) or "always"
            lines.append(
                f"    # rule priority {rule.priority} ({rule.arn}): {_comment(described)}"
                f" -> {_comment(what)}"
            )
            acl_names = []
            supported = True
            for index, condition in enumerate(rule.conditions):
                acl = f"{key}_c{index}"
                acls = condition_acls(acl, condition)
                if not acls:
                    supported = False
                    break
                lines.extend(f"    {a}" for a in acls)
                acl_names.append(acl)
            if not supported:
                lines.append("    # unsupported or empty condition: this rule never matches")
                continue
            lines.append(
                f"    http-request set-var({_RULE_VAR}) str({key}) "
                f"if !{{ var({_RULE_VAR}) -m found }} {' '.join(acl_names)}".rstrip()
            )
        lines.extend(f"    {r}" for r in requests)
        uses.extend(rule_uses)
    lines.append("")
    lines.append("    # forwards, in rule priority order")
    lines.extend(f"    {u}" for u in uses)
    lines.append("")
    return lines


def _backend(layout: BackendLayout, settings: ConfigSettings) -> list[str]:
    group = layout.target_group
    check = group.health_check
    attrs = group.attributes
    lines = [
        f"# target group {group.name} ({group.arn}), {group.protocol}:{group.port},"
        f" target type {group.target_type}",
    ]
    for service in settings.services.get(group.arn, ()):
        lines.append(f"# serves ECS service {_comment(service)}")
    lines.append(f"backend {layout.name}")
    algorithm = attrs.get("load_balancing.algorithm.type", "round_robin")
    balance = {"least_outstanding_requests": "leastconn", "weighted_random": "random"}
    lines.append(f"    balance {balance.get(algorithm, 'roundrobin')}")
    server = [f"server-template {SLOT_PREFIX} 1-{layout.slots} {_PARKED_ADDRESS}"]
    defaults = ["default-server init-addr last,0.0.0.0"]
    if group.protocol == "HTTPS":
        defaults.append("ssl verify none")
    if check.enabled:
        matcher = check.matcher.replace(" ", "")
        if not _MATCHER.match(matcher):
            matcher = "200"
        lines.append(f"    option httpchk GET {quote(check.path or '/')}")
        lines.append(f"    http-check expect status {matcher}")
        lines.append(f"    timeout check {check.timeout_seconds}s")
        defaults.append(
            f"inter {check.interval_seconds}s rise {check.healthy_threshold}"
            f" fall {check.unhealthy_threshold}"
        )
        if check.port not in ("traffic-port", ""):
            defaults.append(f"port {int(check.port)}")
        if check.protocol == "HTTPS":
            defaults.append("check-ssl verify none")
        server.append("check")
    slow_start = int(attrs.get("slow_start.duration_seconds", "0") or 0)
    if slow_start > 0:
        defaults.append(f"slowstart {slow_start}s")
    if attrs.get("stickiness.enabled", "false") == "true":
        kind = attrs.get("stickiness.type", "lb_cookie")
        duration = attrs.get(f"stickiness.{kind}.duration_seconds", "86400")
        lines.append(
            f"    cookie {_STICKY_COOKIE} insert indirect nocache dynamic maxlife {int(duration)}s"
        )
        lines.append(f"    dynamic-cookie-key {_short_hash(group.arn)}")
    server.append("disabled")
    lines.append("    " + " ".join(defaults))
    lines.append("    " + " ".join(server))
    lines.append("")
    return lines


def render(snapshot: LoadBalancingSnapshot, settings: ConfigSettings) -> str:
    layout = plan_layout(snapshot, settings)
    lines = [
        "# Rendered by OpenECS from its elbv2 load balancers: edits are overwritten.",
        "# Targets are set at run time through the admin socket (slots t1..tN).",
        "",
        *_global(settings),
    ]
    for listener, reason in layout.unbound:
        lines.append(f"# listener {listener.arn} not bound: {_comment(reason)}")
    if layout.unbound:
        lines.append("")
    for bound in layout.bound:
        lines.extend(_frontend(snapshot, bound, layout.backends, settings))
    for backend in layout.backends.values():
        lines.extend(_backend(backend, settings))
    return "\n".join(lines).rstrip("\n") + "\n"
