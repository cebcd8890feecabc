"""Pages of what is defined: task definitions (JSON, diff of two revisions), load
balancers (listeners, rules, target groups and their targets), the glossary."""

from __future__ import annotations

import difflib
import json
from typing import Any

from openecs.console.glossary import TERMS, term
from openecs.console.html import Html, fmt, join
from openecs.console.layout import Rendered, action_form, live, path_part, status, table, when
from openecs.console.reads import LoadBalancerDetail
from openecs.console.sessions import Session
from openecs.domain.load_balancing import LoadBalancer
from openecs.domain.task_definition import TaskDefinition
from openecs.usecases.cost import Estimate

__all__ = [
    "family_page",
    "glossary_page",
    "load_balancer_page",
    "load_balancers_page",
    "task_definition_diff_page",
    "task_definition_page",
    "task_definitions_page",
]

_TD_ROOT = "/console/task-definitions"
_TD_CRUMB = ("Task definitions", _TD_ROOT)


def _revision_of(arn: str) -> int:
    return int(arn.rsplit(":", 1)[-1])


def task_definitions_page(families: list[str]) -> Rendered:
    rows = ((fmt('<a href="{}/{}">{}</a>', _TD_ROOT, path_part(f), f),) for f in families)
    body = fmt(
        '<p class="lead">A {} is a versioned recipe for {}: each family keeps its revisions.</p>{}',
        term("task-definition", "task definition"),
        term("task", "tasks"),
        table(("Family",), rows, "No task definitions registered yet."),
    )
    return Rendered("Task definitions", body, section="task-definitions")


def family_page(family: str, revisions: list[str], session: Session) -> Rendered:
    rows = []
    for arn in revisions:
        rev = _revision_of(arn)
        rows.append(
            (
                fmt('<a href="{}/{}/{}">{}:{}</a>', _TD_ROOT, path_part(family), rev, family, rev),
                action_form(
                    session,
                    f"{_TD_ROOT}/{path_part(family)}/{rev}/deregister",
                    "Deregister",
                    danger=True,
                ),
            )
        )
    picker = Html("")
    if len(revisions) >= 2:
        numbers = [_revision_of(a) for a in revisions]

        def options(chosen: int) -> Html:
            return join(
                fmt(
                    '<option value="{}"{}>{}</option>',
                    n,
                    Html(" selected" if n == chosen else ""),
                    n,
                )
                for n in numbers
            )

        picker = fmt(
            '<form class="diff-picker" method="get" action="{}/{}/diff">'
            '<label>Compare revision <select name="a">{}</select></label> '
            '<label>with <select name="b">{}</select></label> '
            '<button type="submit">Show diff</button></form>',
            _TD_ROOT,
            path_part(family),
            options(numbers[1]),
            options(numbers[0]),
        )
    body = fmt("{}{}", picker, table(("Revision", ""), rows, "No ACTIVE revisions."))
    return Rendered(f"Family {family}", body, section="task-definitions", crumbs=(_TD_CRUMB,))


def _pretty(definition: TaskDefinition) -> str:
    return json.dumps(definition.to_api(), indent=2, sort_keys=True, default=str)


def _estimate(estimate: Estimate | None) -> Html:
    if estimate is None:
        return Html("")
    rows = (
        (
            o.pricing,
            o.cpu_architecture,
            f"${float(o.per_task_hourly):.5f}",
            f"${float(o.monthly):,.2f}",
            f"${float(o.minimum_charge):.6f}",
        )
        for o in estimate.options
    )
    return fmt(
        '<h2>What one task would cost</h2><p class="muted">{} CPU units, {} MiB; a month is '
        "730 hours.</p>{}",
        estimate.cpu,
        estimate.memory,
        table(("Capacity", "CPU", "Per hour", "Per month", "Shortest run"), rows),
    )


def task_definition_page(
    definition: TaskDefinition, session: Session, estimate: Estimate | None = None
) -> Rendered:
    family = definition.family
    previous = definition.revision - 1
    actions = []
    if definition.active:
        actions.append(
            action_form(
                session,
                f"{_TD_ROOT}/{path_part(family)}/{definition.revision}/deregister",
                "Deregister this revision",
                danger=True,
            )
        )
    if previous >= 1:
        actions.append(
            fmt(
                '<a class="button" href="{}/{}/diff?a={}&amp;b={}">Diff with revision {}</a>',
                _TD_ROOT,
                path_part(family),
                previous,
                definition.revision,
                previous,
            )
        )
    body = fmt(
        '<div class="actions">{}</div><dl class="facts"><dt>Status</dt><dd>{}</dd>'
        "<dt>Registered</dt><dd>{}</dd><dt>Registered by</dt><dd>{}</dd>"
        '<dt>Compatibilities</dt><dd>{}</dd></dl>{}<h2>JSON</h2><pre class="json">{}</pre>',
        join(actions),
        status(definition.status),
        when(definition.registered_at),
        definition.registered_by,
        ", ".join(definition.compatibilities),
        _estimate(estimate),
        _pretty(definition),
    )
    return Rendered(
        f"{family}:{definition.revision}",
        body,
        section="task-definitions",
        crumbs=(_TD_CRUMB, (family, f"{_TD_ROOT}/{path_part(family)}")),
    )


def _comparable(definition: TaskDefinition) -> list[str]:
    doc: dict[str, Any] = definition.to_api()
    # What differs between any two revisions anyway, and says nothing.
    for key in ("revision", "taskDefinitionArn", "registeredAt", "deregisteredAt", "status"):
        doc.pop(key, None)
    return json.dumps(doc, indent=2, sort_keys=True, default=str).splitlines()


def task_definition_diff_page(a: TaskDefinition, b: TaskDefinition) -> Rendered:
    lines = []
    for line in difflib.unified_diff(
        _comparable(a),
        _comparable(b),
        f"{a.family}:{a.revision}",
        f"{b.family}:{b.revision}",
        lineterm="",
        n=3,
    ):
        kind = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "ctx"
        )
        lines.append(fmt('<span class="{}">{}</span>\n', kind, line))
    diff = (
        fmt('<pre class="diff">{}</pre>', join(lines))
        if lines
        else Html('<p class="empty">The two revisions define the same task.</p>')
    )
    return Rendered(
        f"{a.family}: revision {a.revision} → {b.revision}",
        diff,
        section="task-definitions",
        crumbs=(_TD_CRUMB, (a.family, f"{_TD_ROOT}/{path_part(a.family)}")),
    )


# -- load balancers -------------------------------------------------------------------


def load_balancers_page(found: list[LoadBalancer]) -> Rendered:
    regions: dict[str, Html] = {}
    rows = (
        (
            fmt('<a href="/console/load-balancers/{}">{}</a>', path_part(lb.name), lb.name),
            lb.type,
            status(lb.state),
            lb.dns_name,
            lb.scheme,
            when(lb.created_at),
        )
        for lb in found
    )
    body = fmt(
        '<p class="lead">A {} takes traffic on its listeners and forwards it to {}.</p>{}',
        term("load-balancer", "load balancer"),
        term("target-group", "target groups"),
        live(
            "balancers",
            table(
                ("Name", "Type", "State", "DNS name", "Scheme", "Created"),
                rows,
                "No load balancers yet.",
            ),
            regions,
        ),
    )
    return Rendered("Load balancers", body, regions, section="load-balancers")


def _conditions(conditions: list[dict[str, Any]]) -> str:
    parts = []
    for c in conditions:
        field = c.get("Field", "")
        values = c.get("Values")
        if not values:
            configs = [v for k, v in c.items() if k.endswith("Config") and isinstance(v, dict)]
            values = configs[0].get("Values") if configs else []
        parts.append(f"{field} = {', '.join(str(v) for v in values or [])}")
    return "; ".join(parts) or "default"


def _actions(actions: list[dict[str, Any]], names: dict[str, str]) -> str:
    out = []
    for a in actions:
        kind = a.get("Type", "")
        if kind == "forward":
            arns = [a["TargetGroupArn"]] if a.get("TargetGroupArn") else []
            arns += [
                g.get("TargetGroupArn", "")
                for g in (a.get("ForwardConfig") or {}).get("TargetGroups", [])
                if g.get("TargetGroupArn") not in arns
            ]
            out.append("forward to " + ", ".join(names.get(x, x.rsplit("/", 2)[-2]) for x in arns))
        elif kind == "fixed-response":
            cfg = a.get("FixedResponseConfig") or {}
            out.append(f"fixed response {cfg.get('StatusCode', '')}")
        elif kind == "redirect":
            out.append("redirect")
        else:
            out.append(kind)
    return "; ".join(out)


def _balancer(detail: LoadBalancerDetail) -> Html:
    names = {g.target_group.arn: g.target_group.name for g, _ in detail.target_groups}
    listeners = []
    for listener, rules in detail.listeners:
        ordered = sorted(rules, key=lambda r: (r.priority is None, r.priority or 0))
        listeners.append(
            fmt(
                "<h3>Listener {} {}</h3>{}",
                listener.protocol,
                listener.port,
                table(
                    ("Priority", "Conditions", "Actions"),
                    (
                        (
                            "default" if r.priority is None else r.priority,
                            _conditions(r.conditions),
                            _actions(r.actions, names),
                        )
                        for r in ordered
                    ),
                    "No rules.",
                ),
            )
        )
    groups = []
    for view, health in detail.target_groups:
        tg = view.target_group
        hc = tg.health_check
        groups.append(
            fmt(
                "<h3>{} <span class='muted'>{} {} · health check {} {}</span></h3>{}",
                term("target-group", tg.name),
                tg.protocol,
                tg.port,
                hc.protocol,
                hc.path,
                table(
                    ("Target", "Port", "State", "Reason", "Description"),
                    (
                        (t.target_id, t.port, status(t.state), t.reason or "", t.description or "")
                        for t in health
                    ),
                    "No targets registered.",
                ),
            )
        )
    return fmt(
        "<h2>Listeners</h2>{}<h2>{}</h2>{}",
        join(listeners) or Html('<p class="muted empty">No listeners.</p>'),
        term("target-group", "Target groups"),
        join(groups) or Html('<p class="muted empty">No target groups.</p>'),
    )


def load_balancer_page(detail: LoadBalancerDetail) -> Rendered:
    regions: dict[str, Html] = {}
    lb = detail.load_balancer
    body = fmt(
        '<dl class="facts"><dt>DNS name</dt><dd>{}</dd><dt>Address</dt><dd>{}</dd>'
        "<dt>State</dt><dd>{}</dd><dt>ARN</dt><dd><code>{}</code></dd></dl>{}",
        lb.dns_name,
        lb.address,
        status(lb.state),
        lb.arn,
        live("detail", _balancer(detail), regions),
    )
    return Rendered(
        f"Load balancer {lb.name}",
        body,
        regions,
        section="load-balancers",
        crumbs=(("Load balancers", "/console/load-balancers"),),
    )


# -- glossary -------------------------------------------------------------------------


def glossary_page() -> Rendered:
    entries = join(
        fmt('<dt id="{}">{}</dt><dd>{}</dd>', key, name, text)
        for key, (name, text) in TERMS.items()
    )
    body = fmt(
        '<p class="lead">The words of ECS, as OpenECS uses them. Hover a dotted term '
        'anywhere in the console to see its entry.</p><dl class="glossary">{}</dl>',
        entries,
    )
    return Rendered("Glossary", body, section="glossary")
