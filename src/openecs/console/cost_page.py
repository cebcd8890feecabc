"""The cost page: what ran cost, per task, service, cluster, launch type, day or tag,
from the per-second metering of `usecases.cost`, as a table and a bar chart."""

from __future__ import annotations

from decimal import Decimal

from openecs.console.glossary import term
from openecs.console.html import Html, fmt, join
from openecs.console.layout import Rendered, live, table, when
from openecs.usecases.cost import CostReport, Forecast

__all__ = ["GROUP_CHOICES", "SINCE_CHOICES", "cost_page", "forecast_facts", "money"]

GROUP_CHOICES = (
    ("service", "Service"),
    ("task", "Task"),
    ("cluster", "Cluster"),
    ("launch-type", "Launch type"),
    ("day", "Day"),
)
# label → seconds back (0: since the beginning)
SINCE_CHOICES = (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400), ("all", 0))
# Bars drawn in the chart, largest first (the table lists every line).
CHART_LINES = 20


def money(value: Decimal | float) -> str:
    amount = float(value)
    if amount == 0:
        return "$0"
    if abs(amount) < 0.01:
        return f"${amount:.6f}"
    return f"${amount:,.4f}" if abs(amount) < 100 else f"${amount:,.2f}"


def _selector(group_by: str, tag: str, since: str, cluster: str) -> Html:
    groups = join(
        fmt(
            '<option value="{}"{}>{}</option>',
            value,
            Html(" selected" if value == group_by else ""),
            label,
        )
        for value, label in GROUP_CHOICES
    )
    tag_selected = Html(" selected" if group_by == "tag" else "")
    spans = join(
        fmt(
            '<option value="{}"{}>{}</option>',
            label,
            Html(" selected" if label == since else ""),
            label,
        )
        for label, _ in SINCE_CHOICES
    )
    return fmt(
        '<form class="cost-filter" method="get" action="/console/cost">'
        '<label>Group by <select name="groupBy" id="group-by">{}'
        '<option value="tag"{}>Tag…</option></select></label> '
        '<label>Tag key <input name="tag" value="{}" placeholder="team" size="10"></label> '
        '<label>Since <select name="since">{}</select></label> '
        '<label>{} <input name="cluster" value="{}" placeholder="all" size="14"></label> '
        '<button type="submit">Show</button></form>',
        groups,
        tag_selected,
        tag,
        spans,
        term("cluster", "Cluster"),
        cluster,
    )


def _totals(report: CostReport) -> Html:
    return fmt(
        '<dl class="stats"><div><dt>Total</dt><dd id="cost-total">{}</dd></div>'
        "<div><dt>Tasks</dt><dd>{}</dd></div>"
        "<div><dt>Idle EC2 capacity</dt><dd>{}</dd></div>"
        '<div><dt>Window</dt><dd class="small">{} → {}</dd></div></dl>',
        money(report.total),
        money(report.task_cost),
        money(report.idle_cost),
        when(report.since) if report.since else Html("the beginning"),
        when(report.until),
    )


def _lines(report: CostReport) -> Html:
    ordered = sorted(report.lines, key=lambda line: line.cost, reverse=True)
    return table(
        (report.group_by.capitalize(), "Tasks", "Task hours", "Task cost", "Idle cost", "Total"),
        (
            (
                line.key,
                line.tasks,
                f"{float(line.task_seconds) / 3600:.3f}",
                money(line.task_cost),
                money(line.idle_cost),
                fmt("<strong>{}</strong>", money(line.cost)),
            )
            for line in ordered
        ),
        "Nothing ran in this window.",
    )


def cost_page(report: CostReport, *, group_by: str, tag: str, since: str, cluster: str) -> Rendered:
    regions: dict[str, Html] = {}
    rates = report.prices
    body = join(
        [
            fmt(
                '<p class="lead">Every {} is metered per second from the moment it starts '
                "pulling until it stops ({} with a one-minute minimum: ${} per vCPU-hour, "
                "${} per GB-hour); EC2 container instances per registered second, the share "
                "no task used shown as idle.</p>",
                term("task", "task"),
                term("launch-type", "FARGATE"),
                str(rates.fargate.vcpu_hour),
                str(rates.fargate.gb_hour),
            ),
            _selector(group_by, tag, since, cluster),
            live("totals", _totals(report), regions),
            Html(
                '<figure class="chart wide" data-chart="cost" data-kind="bars" data-unit="$">'
                "<figcaption>Cost by line</figcaption>"
                '<svg class="plot" viewBox="0 0 800 260" role="img" aria-label="Cost by line">'
                "</svg></figure>"
            ),
            live("lines", _lines(report), regions),
        ]
    )
    ordered = sorted(report.lines, key=lambda line: line.cost, reverse=True)[:CHART_LINES]
    if report.group_by == "day":
        ordered = sorted(ordered, key=lambda line: line.key)
    data = {"charts": {"cost": [[line.key, round(float(line.cost), 6)] for line in ordered]}}
    return Rendered("Cost", body, regions, data, section="cost")


def forecast_facts(forecast: Forecast) -> Html:
    split = ", ".join(f"{n} {kind}" for kind, n in sorted(forecast.tasks_by_pricing.items()))
    return fmt(
        '<p class="forecast">At {} task(s) ({}) of {} CPU units / {} MiB, this service costs '
        '<strong id="forecast-monthly">{}</strong> a month ({} an hour).{}</p>',
        forecast.desired_count,
        split or "none",
        forecast.cpu,
        forecast.memory,
        money(forecast.monthly),
        money(forecast.hourly),
        fmt(" <span class='muted'>{}</span>", forecast.note) if forecast.note else Html(""),
    )
