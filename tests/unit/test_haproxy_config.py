"""Rendering the elbv2 model as haproxy.cfg: every configuration a test renders is
also checked by `haproxy -c`, so a test passes only if HAProxy accepts it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from openecs.domain.load_balancing import HealthCheck, LoadBalancingSnapshot
from openecs.lb.haproxy_config import (
    ConfigSettings,
    backend_name,
    condition_acls,
    quote,
    render,
    significant_lines,
    slot_count,
)
from tests.support.lb_snapshots import (
    fixed_response,
    forward,
    host,
    listener,
    load_balancer,
    path,
    redirect,
    rule,
    snapshot,
    target,
    target_group,
    weighted,
)

HAPROXY = "/usr/sbin/haproxy"
needs_haproxy = pytest.mark.skipif(
    not os.access(HAPROXY, os.X_OK), reason="HAProxy is not installed (scripts/system-deps.sh)"
)
pytestmark = needs_haproxy


@pytest.fixture
def settings(tmp_path: Path) -> ConfigSettings:
    return ConfigSettings(state_dir=tmp_path)


def rendered(snap: LoadBalancingSnapshot, settings: ConfigSettings) -> str:
    """Render and have HAProxy check the result."""
    config = render(snap, settings)
    path_ = settings.state_dir / "check.cfg"
    path_.write_text(config)
    checked = subprocess.run(
        [HAPROXY, "-c", "-q", "-f", str(path_)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr + "\n" + config
    return config


def one_listener(
    rules: list[tuple[int, list[dict[str, Any]], dict[str, Any]]],
    default: dict[str, Any] | None = None,
) -> tuple[LoadBalancingSnapshot, Any]:
    web, api = target_group("web"), target_group("api")
    lb = load_balancer("shop")
    front = listener(lb, 8080, default or forward(web))
    built = [rule(front, p, c, a(api) if callable(a) else a) for p, c, a in rules]
    return snapshot([lb], [front], [web, api], built), api


def lines_with(config: str, text: str) -> list[str]:
    return [line.strip() for line in config.splitlines() if text in line]


def unquote(word: str) -> str:
    """HAProxy's reading of one double-quoted word (section 2.2 of its manual)."""
    assert word.startswith('"') and word.endswith('"')
    out, i, body = [], 0, word[1:-1]
    escapes = {"n": "\n", "r": "\r", "t": "\t"}
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt == "x":
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(escapes.get(nxt, nxt))
            i += 2
            continue
        assert ch not in '"$', f"unescaped {ch!r} in {word}"
        out.append(ch)
        i += 1
    return "".join(out)


# --- layout ---------------------------------------------------------------------------


def test_slot_pools_are_powers_of_two_no_smaller_than_the_minimum() -> None:
    assert slot_count(0, 64) == 64
    assert slot_count(64, 64) == 64
    assert slot_count(65, 64) == 128
    assert slot_count(300, 64) == 512
    assert slot_count(3, 2) == 4


def test_a_group_no_listener_forwards_to_gets_no_backend(settings: ConfigSettings) -> None:
    snap, api = one_listener([])
    config = rendered(snap, settings)
    assert f"backend {backend_name(api)}" not in config
    assert f"backend {backend_name(snap.target_groups[0])}" in config


def test_every_group_gets_a_slot_pool_sized_for_its_targets(tmp_path: Path) -> None:
    snap, api = one_listener([(10, [path("/a")], forward)])
    snap.targets = [target(api, 9000 + i) for i in range(5)]
    config = rendered(snap, ConfigSettings(state_dir=tmp_path, min_slots=4))
    assert lines_with(config, "server-template") == [
        "server-template t 1-8 unassigned.invalid:1 check disabled",
        "server-template t 1-4 unassigned.invalid:1 check disabled",
    ]


def test_comments_name_the_load_balancer_listener_rule_group_and_service(tmp_path: Path) -> None:
    snap, api = one_listener([(10, [path("/api/*")], forward)])
    settings = ConfigSettings(state_dir=tmp_path, services={api.arn: ["default/orders"]})
    config = rendered(snap, settings)
    assert f"# load balancer shop ({snap.load_balancers[0].arn})" in config
    assert f"# listener HTTP:8080 ({snap.listeners[0].arn})" in config
    rule_comment = f"# rule priority 10 ({snap.rules[0].arn}): path-pattern in ['/api/*']"
    assert f"{rule_comment} -> forward to api" in config
    assert f"# target group api ({api.arn}), HTTP:80, target type ip" in config
    assert "# serves ECS service default/orders" in config


def test_comments_alone_do_not_change_what_haproxy_runs(tmp_path: Path) -> None:
    snap, api = one_listener([(10, [path("/api/*")], forward)])
    plain = render(snap, ConfigSettings(state_dir=tmp_path))
    annotated = render(snap, ConfigSettings(state_dir=tmp_path, services={api.arn: ["c/s"]}))
    assert plain != annotated
    assert significant_lines(plain) == significant_lines(annotated)


def test_https_listeners_and_taken_ports_are_named_but_not_bound(settings: ConfigSettings) -> None:
    web = target_group("web")
    first, second = load_balancer("first"), load_balancer("second")
    kept = listener(first, 8080, forward(web))
    clash = listener(second, 8080, forward(web))
    tls = listener(first, 8443, forward(web), protocol="HTTPS")
    config = rendered(snapshot([first, second], [kept, clash, tls], [web]), settings)
    assert lines_with(config, "    bind ") == ["bind 127.0.0.1:8080"]
    assert f"# listener {clash.arn} not bound: port taken by listener {kept.arn}" in config
    assert f"# listener {tls.arn} not bound: HTTPS listeners are not served" in config


def test_listeners_bind_the_configured_address(tmp_path: Path) -> None:
    snap, _ = one_listener([])
    config = rendered(snap, ConfigSettings(state_dir=tmp_path, bind_address="0.0.0.0"))
    assert lines_with(config, "bind ") == ["bind 0.0.0.0:8080"]


def test_global_section_has_an_admin_socket_that_hands_over_listeners(
    settings: ConfigSettings,
) -> None:
    config = rendered(one_listener([])[0], settings)
    socket = settings.state_dir / "admin.sock"
    assert f'stats socket "{socket}" mode 600 expose-fd listeners level admin' in config
    assert "load-server-state-from-file global" in config


# --- rules and conditions -------------------------------------------------------------


def test_rules_are_evaluated_in_priority_order_whatever_their_order_in_the_snapshot(
    settings: ConfigSettings,
) -> None:
    snap, _ = one_listener(
        [
            (30, [path("/c")], forward),
            (5, [path("/a")], fixed_response("404")),
            (12, [path("/b")], redirect(Host="x.example")),
        ]
    )
    config = rendered(snap, settings)
    order = [
        re.search(r"str\((p\d+)\)", line)[1] for line in lines_with(config, "set-var(txn.lb_rule)")
    ]  # type: ignore[index]
    assert order == ["p5", "p12", "p30"]
    # Every later rule yields to an earlier match, so the first match in priority wins.
    assert all(
        "!{ var(txn.lb_rule) -m found }" in line
        for line in lines_with(config, "set-var(txn.lb_rule)")
    )


def test_a_rule_with_several_conditions_needs_all_of_them(settings: ConfigSettings) -> None:
    snap, _ = one_listener([(7, [path("/a/*"), host("a.example")], forward)])
    config = rendered(snap, settings)
    assert lines_with(config, "set-var(txn.lb_rule)") == [
        "http-request set-var(txn.lb_rule) str(p7) if !{ var(txn.lb_rule) -m found } p7_c0 p7_c1"
    ]


@pytest.mark.parametrize(
    ("pattern", "acl"),
    [
        ("/exact", 'acl c path -m str -- "/exact"'),
        ("/api/*", 'acl c path -m beg -- "/api/"'),
        ("*.png", 'acl c path -m end -- ".png"'),
        ("/a?c/*/d", 'acl c path -m reg -- "^/a.c/.*/d\\$"'),
        ("/*", 'acl c path -m beg -- "/"'),
    ],
)
def test_path_patterns_use_the_cheapest_exact_matcher(pattern: str, acl: str) -> None:
    assert condition_acls("c", path(pattern)) == [acl]


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("/a?c/*/d", ["/abc/x/d", "/a.c//d", "/a-c/x/y/d"], ["/ac/x/d", "/abc/x/dd", "/xabc/x/d"]),
        ("*/img/*.png", ["/s/img/a.png", "/img/.png"], ["/img/a.jpg", "/s/img/a.pngx"]),
        ("/+(x)/*?", ["/+(x)/y", "/+(x)/ab"], ["/x/y", "/+x/y", "/+(x)/"]),
    ],
)
def test_wildcard_paths_match_what_elbv2_matches(
    pattern: str, matching: list[str], not_matching: list[str]
) -> None:
    (acl,) = condition_acls("c", path(pattern))
    regex = re.compile(unquote(acl.split(" -- ", 1)[1]))
    assert all(regex.search(p) for p in matching)
    assert not any(regex.search(p) for p in not_matching)


def test_host_headers_match_without_case_and_without_the_port() -> None:
    assert condition_acls("h", host("*.example.com", "api.example.org")) == [
        'acl h req.hdr(host),field(1,:) -i -m end -- ".example.com"',
        'acl h req.hdr(host),field(1,:) -i -m str -- "api.example.org"',
    ]


def test_http_header_conditions_read_the_whole_header_without_case() -> None:
    condition = {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": "User-Agent", "Values": ["*Mobile*", "curl"]},
    }
    assert condition_acls("u", condition) == [
        'acl u req.fhdr(User-Agent) -i -m reg -- "^.*Mobile.*\\$"',
        'acl u req.fhdr(User-Agent) -i -m str -- "curl"',
    ]


def test_a_header_name_haproxy_cannot_take_makes_the_rule_never_match(
    settings: ConfigSettings,
) -> None:
    condition = {
        "Field": "http-header",
        "HttpHeaderConfig": {"HttpHeaderName": "a(b", "Values": ["x"]},
    }
    assert condition_acls("u", condition) == []
    config = rendered(one_listener([(3, [condition], forward)])[0], settings)
    assert "# unsupported or empty condition: this rule never matches" in config
    assert "str(p3)" not in config


def test_request_methods_match_exactly_and_with_case() -> None:
    condition = {
        "Field": "http-request-method",
        "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]},
    }
    assert condition_acls("m", condition) == ['acl m method -m str -- "GET" "HEAD"']


def test_source_ip_conditions_match_the_client_address() -> None:
    condition = {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8", "192.0.2.1/32"]}}
    assert condition_acls("s", condition) == ['acl s src -- "10.0.0.0/8" "192.0.2.1/32"']


def test_the_legacy_values_member_of_a_condition_is_read() -> None:
    assert condition_acls("p", {"Field": "path-pattern", "Values": ["/old"]}) == [
        'acl p path -m str -- "/old"'
    ]


@pytest.mark.parametrize(
    ("pair", "matching", "not_matching"),
    [
        (
            {"Key": "version", "Value": "v1"},
            ["version=v1", "a=b&VERSION=V1", "version=v1&x=y"],
            ["version=v10", "xversion=v1", "version=v2"],
        ),
        ({"Key": "v", "Value": "1*"}, ["v=1", "v=123&w=2"], ["v=21", "w=1"]),
        ({"Value": "blue"}, ["color=blue", "a=1&blue", "x=BLUE"], ["color=blues", "blue=1"]),
    ],
)
def test_query_string_conditions_match_one_parameter_without_case(
    pair: dict[str, str], matching: list[str], not_matching: list[str]
) -> None:
    condition = {"Field": "query-string", "QueryStringConfig": {"Values": [pair]}}
    (acl,) = condition_acls("q", condition)
    assert acl.startswith("acl q query -i -m reg -- ")
    regex = re.compile(unquote(acl.split(" -- ", 1)[1]), re.IGNORECASE)
    assert all(regex.search(q) for q in matching)
    assert not any(regex.search(q) for q in not_matching)


def test_every_condition_type_renders_a_configuration_haproxy_accepts(
    settings: ConfigSettings,
) -> None:
    conditions = [
        path("/a/*", "*.b", "/c?d*e", "/exact"),
        host("*.example.com", "x.example.org", "a?.example.net"),
        {
            "Field": "http-header",
            "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ['"q" #h $v', "*a b*"]},
        },
        {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["PATCH"]}},
        {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "a*", "Value": "(x)"}]}},
        {"Field": "source-ip", "SourceIpConfig": {"Values": ["2001:db8::/32", "10.1.0.0/16"]}},
    ]
    config = rendered(one_listener([(1, conditions, forward)])[0], settings)
    assert len(lines_with(config, "acl p1_c")) == 12


# --- actions --------------------------------------------------------------------------


def test_a_forward_uses_the_group_backend_and_the_default_rule_comes_last(
    settings: ConfigSettings,
) -> None:
    snap, api = one_listener([(10, [path("/api/*")], forward)])
    web = snap.target_groups[0]
    config = rendered(snap, settings)
    assert lines_with(config, "use_backend") == [
        f"use_backend {backend_name(api)} if {{ var(txn.lb_rule) -m str p10 }}",
        f"use_backend {backend_name(web)} if !{{ var(txn.lb_rule) -m found }}",
    ]


def test_a_weighted_forward_draws_once_and_splits_the_draw_by_weight(
    settings: ConfigSettings,
) -> None:
    blue, green, off = target_group("blue"), target_group("green"), target_group("off")
    lb = load_balancer()
    front = listener(lb, 80, weighted((blue, 3), (off, 0), (green, 1)))
    config = rendered(snapshot([lb], [front], [blue, green, off]), settings)
    assert lines_with(config, "rand(") == [
        "http-request set-var(txn.lb_pick) rand(4) if !{ var(txn.lb_rule) -m found }"
    ]
    assert lines_with(config, "use_backend") == [
        f"use_backend {backend_name(blue)} if !{{ var(txn.lb_rule) -m found }}"
        " { var(txn.lb_pick) -m int 0:2 }",
        f"use_backend {backend_name(green)} if !{{ var(txn.lb_rule) -m found }}"
        " { var(txn.lb_pick) -m int 3:3 }",
    ]


def test_a_forward_to_an_unknown_group_answers_503(settings: ConfigSettings) -> None:
    snap, _ = one_listener([(2, [path("/x")], {"Type": "forward", "TargetGroupArn": "arn:gone"})])
    config = rendered(snap, settings)
    assert "http-request return status 503 if { var(txn.lb_rule) -m str p2 }" in config


def test_a_fixed_response_returns_the_body_exactly(settings: ConfigSettings) -> None:
    body = 'It\'s "down" for $MAINT #now 100%\n\ttab\\slash \x01'
    snap, _ = one_listener([(4, [path("/m")], fixed_response("503", body, "text/html"))])
    config = rendered(snap, settings)
    (line,) = lines_with(config, "http-request return status 503 ")
    match = re.fullmatch(
        r'http-request return status 503 content-type "text/html" string (".*") if .*', line
    )
    assert match is not None
    assert unquote(match[1]) == body


def test_a_fixed_response_without_body_has_no_content_type(settings: ConfigSettings) -> None:
    snap, _ = one_listener([], default=fixed_response("404"))
    config = rendered(snap, settings)
    assert lines_with(config, "http-request return") == [
        "http-request return status 404 if !{ var(txn.lb_rule) -m found }"
    ]


def test_a_redirect_keeps_what_elbv2_placeholders_name(settings: ConfigSettings) -> None:
    snap, _ = one_listener([(1, [path("/old/*")], redirect())])
    config = rendered(snap, settings)
    assert lines_with(config, "http-request redirect") == [
        'http-request redirect code 301 location "http://%[req.hdr(host),field(1,:)]:8080/'
        '%[path,regsub(^/,)]?%[query]" if { var(txn.lb_rule) -m str p1 } { query -m len 1: }',
        'http-request redirect code 301 location "http://%[req.hdr(host),field(1,:)]:8080/'
        '%[path,regsub(^/,)]" if { var(txn.lb_rule) -m str p1 }',
    ]


def test_a_redirect_to_https_on_443_omits_the_default_port(settings: ConfigSettings) -> None:
    action = redirect(
        Protocol="HTTPS",
        Port="443",
        Host="secure.example.com",
        Path="/x/#{path}",
        Query="from=%41&#{query}",
        StatusCode="HTTP_302",
    )
    config = rendered(one_listener([(1, [path("/*")], action)])[0], settings)
    assert lines_with(config, "http-request redirect") == [
        'http-request redirect code 302 location "https://secure.example.com/x/%[path,regsub(^/,)]'
        '?from=%%41&%[query]" if { var(txn.lb_rule) -m str p1 }'
    ]


# --- backends -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("matcher", "expect"),
    [
        ("200", "http-check expect status 200"),
        ("200-299", "http-check expect status 200-299"),
        ("200,202,301-302", "http-check expect status 200,202,301-302"),
        ("2xx", "http-check expect status 200"),
    ],
)
def test_health_checks_follow_the_group_matcher(
    settings: ConfigSettings, matcher: str, expect: str
) -> None:
    check = HealthCheck(
        path="/ready",
        matcher=matcher,
        interval_seconds=10,
        timeout_seconds=3,
        healthy_threshold=4,
        unhealthy_threshold=3,
    )
    group = target_group("web", health=check)
    lb = load_balancer()
    config = rendered(snapshot([lb], [listener(lb, 80, forward(group))], [group]), settings)
    assert lines_with(config, "http-check") == [expect]
    assert 'option httpchk GET "/ready"' in config
    assert "timeout check 3s" in config
    assert "default-server init-addr last,0.0.0.0 inter 10s rise 4 fall 3" in config


def test_a_health_check_port_override_and_https_checks(settings: ConfigSettings) -> None:
    group = target_group("web", health=HealthCheck(port="8081", protocol="HTTPS"))
    group.protocol = "HTTPS"
    lb = load_balancer()
    config = rendered(snapshot([lb], [listener(lb, 80, forward(group))], [group]), settings)
    (defaults,) = lines_with(config, "default-server")
    assert defaults.endswith(
        "ssl verify none inter 30s rise 5 fall 2 port 8081 check-ssl verify none"
    )


def test_a_group_without_health_checks_has_unchecked_servers(settings: ConfigSettings) -> None:
    group = target_group("web", health=HealthCheck(enabled=False))
    lb = load_balancer()
    config = rendered(snapshot([lb], [listener(lb, 80, forward(group))], [group]), settings)
    assert "httpchk" not in config
    assert lines_with(config, "server-template") == [
        "server-template t 1-64 unassigned.invalid:1 disabled"
    ]


def test_stickiness_and_least_outstanding_requests(settings: ConfigSettings) -> None:
    group = target_group(
        "web",
        stickiness__enabled="true",
        stickiness__lb_cookie__duration_seconds="600",
        load_balancing__algorithm__type="least_outstanding_requests",
        slow_start__duration_seconds="30",
    )
    lb = load_balancer()
    config = rendered(snapshot([lb], [listener(lb, 80, forward(group))], [group]), settings)
    assert "balance leastconn" in config
    assert "cookie AWSALB insert indirect nocache dynamic maxlife 600s" in config
    assert lines_with(config, "dynamic-cookie-key")
    assert "slowstart 30s" in lines_with(config, "default-server")[0]


def test_quote_escapes_what_haproxy_would_interpret() -> None:
    for text in ["plain", "a b", '"', "'", "$HOME", "#", "\\", "\n\r\t", "\x00\x7f", "é€"]:
        assert unquote(quote(text)) == text


def test_a_port_another_process_holds_is_named_but_not_bound(tmp_path: Path) -> None:
    web = target_group("web")
    lb = load_balancer()
    kept, held = listener(lb, 8080, forward(web)), listener(lb, 9090, forward(web))
    settings = ConfigSettings(state_dir=tmp_path, unavailable_ports={9090: "Address in use"})
    config = rendered(snapshot([lb], [kept, held], [web]), settings)
    assert lines_with(config, "    bind ") == ["bind 127.0.0.1:8080"]
    why = "cannot bind 127.0.0.1:9090: Address in use"
    assert f"# listener {held.arn} not bound: {why}" in config


def test_sockets_of_a_deep_state_dir_go_to_a_short_path(tmp_path: Path) -> None:
    assert ConfigSettings(state_dir=Path("/var/lib/openecs/haproxy")).sockets == Path(
        "/var/lib/openecs/haproxy"
    )
    deep = ConfigSettings(state_dir=Path("/srv/" + "d" * 90 + "/haproxy"))
    assert len(str(deep.admin_socket)) <= 97
    assert deep.sockets == ConfigSettings(state_dir=deep.state_dir).sockets
    assert deep.sockets != ConfigSettings(state_dir=Path("/srv/" + "e" * 90)).sockets
