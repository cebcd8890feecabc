"""The frame every console page shares, and the small pieces pages are made of
(times, status badges, capacity bars, forms carrying the CSRF token)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from openecs.console.html import Html, fmt, join, json_for_script
from openecs.console.sessions import Session

__all__ = [
    "Rendered",
    "action_form",
    "bar",
    "duration",
    "layout",
    "live",
    "path_part",
    "status",
    "table",
    "when",
]

NAV = (
    ("clusters", "/console/clusters", "Clusters"),
    ("task-definitions", "/console/task-definitions", "Task definitions"),
    ("load-balancers", "/console/load-balancers", "Load balancers"),
    ("cost", "/console/cost", "Cost"),
    ("glossary", "/console/glossary", "Glossary"),
)


@dataclass(slots=True)
class Rendered:
    """A page: its body for the first load, and what the live endpoint re-sends:
    the HTML of each `live` region and the data charts are drawn from."""

    title: str
    body: Html
    regions: dict[str, Html] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    section: str = "clusters"
    crumbs: Sequence[tuple[str, str]] = ()


def path_part(value: str) -> str:
    return quote(value, safe="")


def live(name: str, content: Html, regions: dict[str, Html]) -> Html:
    """A region the page refreshes in place from the live endpoint."""
    regions[name] = content
    return fmt('<div class="live" data-live="{}">{}</div>', name, content)


def when(ts: float | None) -> Html:
    if ts is None:
        return Html('<span class="muted">—</span>')
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))
    return fmt('<time datetime="{}Z">{}</time>', text.replace(" ", "T"), text)


def duration(start: float | None, end: float | None) -> Html:
    if start is None or end is None:
        return Html('<span class="muted">—</span>')
    seconds = max(end - start, 0.0)
    if seconds < 60:
        return fmt("{:.1f} s", seconds)
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return fmt("{}m {:02d}s", minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return fmt("{}h {:02d}m", hours, minutes)


_STATUS_CLASS = {
    "RUNNING": "ok",
    "ACTIVE": "ok",
    "HEALTHY": "ok",
    "healthy": "ok",
    "COMPLETED": "ok",
    "PRIMARY": "ok",
    "Successful": "ok",
    "STOPPED": "off",
    "INACTIVE": "off",
    "unused": "off",
    "FAILED": "bad",
    "UNHEALTHY": "bad",
    "unhealthy": "bad",
    "Failed": "bad",
    "DRAINING": "warn",
    "draining": "warn",
}


def status(value: str | None) -> Html:
    if not value:
        return Html('<span class="muted">—</span>')
    return fmt('<span class="status {}">{}</span>', _STATUS_CLASS.get(value, "warn"), value)


def bar(used: float, total: float, label: str) -> Html:
    """A horizontal bar of used/total, drawn as SVG (no inline style: CSP)."""
    share = used / total if total > 0 else 0.0
    width = round(min(max(share, 0.0), 1.0) * 100, 1)
    tone = "bad" if share > 0.9 else "warn" if share > 0.7 else "ok"
    return fmt(
        '<span class="bar" title="{label}: {used:g} of {total:g} ({pct:.0f}%)">'
        '<svg viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label="{label}">'
        '<rect class="track" width="100" height="8"/>'
        '<rect class="fill {tone}" width="{width}" height="8"/></svg>'
        '<span class="bar-text">{used:g} / {total:g}</span></span>',
        label=label,
        used=used,
        total=total,
        pct=share * 100,
        tone=tone,
        width=width,
    )


def table(headers: Iterable[Any], rows: Iterable[Iterable[Any]], empty: str = "None.") -> Html:
    body = [fmt("<tr>{}</tr>", join(fmt("<td>{}</td>", cell) for cell in row)) for row in rows]
    if not body:
        return fmt('<p class="muted empty">{}</p>', empty)
    return fmt(
        "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
        join(fmt("<th>{}</th>", h) for h in headers),
        join(body),
    )


def action_form(
    session: Session,
    action: str,
    button: str,
    fields: Mapping[str, Any] | None = None,
    *,
    inputs: Html | None = None,
    danger: bool = False,
) -> Html:
    """A POST form with the session's CSRF token."""
    hidden = join(
        fmt('<input type="hidden" name="{}" value="{}">', k, v) for k, v in (fields or {}).items()
    )
    return fmt(
        '<form class="action" method="post" action="{}">'
        '<input type="hidden" name="csrf" value="{}">{}{}'
        '<button type="submit" class="{}">{}</button></form>',
        action,
        session.csrf_token,
        hidden,
        inputs or Html(""),
        "danger" if danger else "",
        button,
    )


def layout(page: Rendered, session: Session | None, flash: str | None = None) -> Html:
    nav = Html("")
    user = Html("")
    if session is not None:
        nav = join(
            fmt(
                '<a href="{}" class="{}">{}</a>',
                href,
                "current" if key == page.section else "",
                label,
            )
            for key, href, label in NAV
        )
        user = fmt(
            '<span class="who">account {} · {}</span>{}',
            session.account_id,
            session.region,
            action_form(session, "/console/signout", "Sign out"),
        )
    crumbs = Html("")
    if page.crumbs:
        crumbs = fmt(
            '<nav class="crumbs">{}</nav>',
            join((fmt('<a href="{}">{}</a>', href, label) for label, href in page.crumbs), " / "),
        )
    notice = fmt('<p class="flash" role="status">{}</p>', flash) if flash else Html("")
    return fmt(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{title} · OpenECS</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script>'
        "</head><body>"
        '<header><a class="brand" href="/console/clusters">OpenECS</a>'
        '<nav class="main">{nav}</nav>{user}</header>'
        "<main>{crumbs}<h1>{title}</h1>{notice}{body}</main>"
        '<script type="application/json" id="page-data">{data}</script>'
        "</body></html>",
        title=page.title,
        nav=nav,
        user=user,
        crumbs=crumbs,
        notice=notice,
        body=page.body,
        data=json_for_script(page.data),
    )
