"""Pages of what runs: clusters, a cluster, a service, a task."""

from __future__ import annotations

import time

from openecs.console.glossary import term
from openecs.console.html import Html, fmt, join
from openecs.console.layout import (
    Rendered,
    action_form,
    bar,
    duration,
    live,
    path_part,
    status,
    table,
    when,
)
from openecs.console.reads import ClusterDetail, ClusterSummary, ServiceDetail, TaskDetail
from openecs.console.sessions import Session
from openecs.domain.task import Task

__all__ = ["cluster_page", "clusters_page", "service_page", "task_page"]


def _cluster_href(cluster: str) -> str:
    return f"/console/clusters/{path_part(cluster)}"


def _service_href(cluster: str, service: str) -> str:
    return f"{_cluster_href(cluster)}/services/{path_part(service)}"


def _task_href(cluster: str, task_id: str) -> str:
    return f"{_cluster_href(cluster)}/tasks/{path_part(task_id)}"


def _td_href(arn: str) -> str:
    family, _, revision = arn.rsplit("/", 1)[-1].partition(":")
    return f"/console/task-definitions/{path_part(family)}/{path_part(revision)}"


def _td_link(arn: str) -> Html:
    return fmt('<a href="{}">{}</a>', _td_href(arn), arn.rsplit("/", 1)[-1])


# -- clusters -------------------------------------------------------------------------


def _clusters_table(found: list[ClusterSummary]) -> Html:
    rows = []
    for s in found:
        c, n, u = s.view.cluster, s.view.counts, s.usage
        rows.append(
            (
                fmt('<a href="{}">{}</a>', _cluster_href(c.name), c.name),
                status(c.status),
                n.active_services,
                n.running_tasks,
                n.pending_tasks,
                n.registered_instances,
                bar(u.cpu_used, u.cpu_total, "CPU units reserved") if u.cpu_total else "—",
                bar(u.memory_used, u.memory_total, "MiB reserved") if u.memory_total else "—",
                fmt("{} CPU units · {} MiB", s.fargate_cpu, s.fargate_memory),
            )
        )
    return table(
        (
            term("cluster", "Cluster"),
            "Status",
            term("service", "Services"),
            fmt("Running {}", term("task", "tasks")),
            "Pending",
            term("container-instance", "Instances"),
            "EC2 CPU",
            "EC2 memory",
            fmt("{} reserved", term("launch-type", "FARGATE")),
        ),
        rows,
        "No clusters yet: create one with `aws ecs create-cluster`.",
    )


def clusters_page(found: list[ClusterSummary]) -> Rendered:
    regions: dict[str, Html] = {}
    body = fmt(
        '<p class="lead">Each {} groups {}, {} and the {} they run on. '
        "Capacity bars show what tasks reserve of what container instances registered.</p>{}",
        term("cluster", "cluster"),
        term("service", "services"),
        term("task", "tasks"),
        term("container-instance", "container instances"),
        live("clusters", _clusters_table(found), regions),
    )
    return Rendered("Clusters", body, regions, section="clusters")


# -- a cluster ------------------------------------------------------------------------


def _services_table(detail: ClusterDetail) -> Html:
    cluster = detail.view.cluster.name
    rows = []
    for v in detail.services:
        s = v.service
        running = sum(c[0] for c in v.counts.values())
        pending = sum(c[1] for c in v.counts.values())
        rows.append(
            (
                fmt('<a href="{}">{}</a>', _service_href(cluster, s.name), s.name),
                status(s.status),
                s.desired_count,
                running,
                pending,
                s.launch_type or "capacity providers",
                _td_link(s.primary.task_definition),
                status(s.primary.rollout_state),
            )
        )
    return table(
        (
            "Service",
            "Status",
            term("desired-count", "Desired"),
            "Running",
            "Pending",
            term("launch-type", "Launch type"),
            term("task-definition", "Task definition"),
            term("deployment", "Rollout"),
        ),
        rows,
        "No services in this cluster.",
    )


def _tasks_table(cluster: str, found: list[Task], session: Session, *, stop: bool) -> Html:
    rows = []
    for t in found:
        cells: list[object] = [
            fmt('<a href="{}" class="task-link">{}</a>', _task_href(cluster, t.task_id), t.task_id),
            status(t.last_status),
            t.desired_status,
            _td_link(t.task_definition_arn),
            t.group or "",
            t.launch_type,
            status(t.health_status),
            when(t.started_at),
            t.stopped_reason or "",
        ]
        if stop:
            cells.append(
                ""
                if t.wants_stop
                else action_form(
                    session,
                    f"{_task_href(cluster, t.task_id)}/stop",
                    "Stop",
                    danger=True,
                )
            )
        rows.append(cells)
    headers: list[object] = [
        term("task", "Task"),
        "Last status",
        "Desired",
        term("task-definition", "Task definition"),
        "Group",
        term("launch-type", "Launch type"),
        "Health",
        "Started",
        "Stopped reason",
    ]
    if stop:
        headers.append("")
    return table(headers, rows, "No tasks.")


def _instances_table(detail: ClusterDetail) -> Html:
    rows = []
    for d in detail.instances:
        i = d.instance
        cap, left = i.capacity, d.remaining
        rows.append(
            (
                i.arn.rsplit("/", 1)[-1],
                i.ec2_instance_id,
                status(i.status),
                "connected" if i.agent_connected else "disconnected",
                d.running,
                d.pending,
                bar(cap.cpu - left.cpu, cap.cpu, "CPU units reserved"),
                bar(cap.memory - left.memory, cap.memory, "MiB reserved"),
                when(i.registered_at),
            )
        )
    return table(
        (
            term("container-instance", "Container instance"),
            "EC2 instance",
            "Status",
            "Agent",
            "Running",
            "Pending",
            "CPU",
            "Memory",
            "Registered",
        ),
        rows,
        "No container instances: EC2 tasks need `openecs agent --cluster ...`; "
        "FARGATE tasks run on managed capacity.",
    )


def cluster_page(detail: ClusterDetail, session: Session) -> Rendered:
    regions: dict[str, Html] = {}
    c, n = detail.view.cluster, detail.view.counts
    name = c.name
    summary = fmt(
        '<dl class="stats"><div><dt>{}</dt><dd>{}</dd></div><div><dt>Running tasks</dt>'
        "<dd>{}</dd></div><div><dt>Pending tasks</dt><dd>{}</dd></div><div><dt>{}</dt>"
        "<dd>{}</dd></div><div><dt>{}</dt><dd>{}</dd></div></dl>",
        term("service", "Services"),
        n.active_services,
        n.running_tasks,
        n.pending_tasks,
        term("container-instance", "Instances"),
        n.registered_instances,
        term("capacity-provider", "Capacity providers"),
        ", ".join(c.capacity_providers) or "FARGATE, FARGATE_SPOT",
    )
    body = join(
        [
            live("summary", summary, regions),
            fmt("<h2>{}</h2>", term("service", "Services")),
            live("services", _services_table(detail), regions),
            fmt("<h2>{}</h2>", term("task", "Tasks")),
            live("tasks", _tasks_table(name, detail.tasks, session, stop=False), regions),
            fmt("<h2>{}</h2>", term("container-instance", "Container instances")),
            live("instances", _instances_table(detail), regions),
        ]
    )
    return Rendered(
        f"Cluster {name}",
        body,
        regions,
        section="clusters",
        crumbs=(("Clusters", "/console/clusters"),),
    )


# -- a service ------------------------------------------------------------------------


def _deployments(detail: ServiceDetail) -> Html:
    s = detail.view.service
    rows = []
    for d in s.live_deployments:
        running, pending = detail.view.counts.get(d.id, (0, 0))
        rows.append(
            (
                d.id,
                status(d.status),
                _td_link(d.task_definition),
                s.desired_count if d.status == "PRIMARY" else 0,
                running,
                pending,
                d.failed_tasks,
                fmt(
                    "{} <span class='muted'>{}</span>",
                    status(d.rollout_state),
                    d.rollout_state_reason,
                ),
                when(d.created_at),
            )
        )
    return table(
        (
            term("deployment", "Deployment"),
            "Status",
            term("task-definition", "Task definition"),
            "Desired",
            "Running",
            "Pending",
            "Failed",
            "Rollout state",
            "Created",
        ),
        rows,
    )


def _targets(detail: ServiceDetail) -> Html:
    if not detail.target_health:
        return Html('<p class="muted empty">This service is behind no load balancer.</p>')
    parts = []
    for g in detail.target_health:
        parts.append(
            fmt(
                "<h3>{} <span class='muted'>→ {}:{}</span></h3>{}",
                term("target-group", g.name),
                g.container,
                g.port,
                table(
                    ("Target", "Port", "State", "Reason", "Description"),
                    (
                        (t.target_id, t.port, status(t.state), t.reason or "", t.description or "")
                        for t in g.targets
                    ),
                    "No targets registered.",
                ),
            )
        )
    return join(parts)


def _scaling(detail: ServiceDetail) -> Html:
    if detail.scalable is None and not detail.policies:
        return fmt(
            '<p class="muted empty">No {} for this service.</p>',
            term("auto-scaling", "auto scaling"),
        )
    limits = (
        fmt(
            "<p>Scalable target: min {} · max {}</p>",
            detail.scalable["min"],
            detail.scalable["max"],
        )
        if detail.scalable
        else Html("")
    )
    policies = table(
        ("Policy", "Type", "Configuration"),
        (
            (
                p.name,
                p.policy_type,
                fmt("<code>{}</code>", ", ".join(f"{k}={v}" for k, v in p.config.items())),
            )
            for p in detail.policies
        ),
        "No scaling policies.",
    )
    activities = table(
        ("Started", "Status", "Description", "Cause"),
        (
            (when(a.start_time), status(a.status_code), a.description, a.cause)
            for a in detail.activities
        ),
        "No scaling activities yet.",
    )
    return fmt("{}<h3>Policies</h3>{}<h3>Activities</h3>{}", limits, policies, activities)


def _events(detail: ServiceDetail) -> Html:
    events = sorted(detail.view.service.events, key=lambda e: e.created_at, reverse=True)[:30]
    return table(
        ("Time", "Message"), ((when(e.created_at), e.message) for e in events), "No events yet."
    )


def _counts(detail: ServiceDetail) -> Html:
    s = detail.view.service
    return fmt(
        '<dl class="stats"><div><dt>{}</dt><dd id="desired-count">{}</dd></div>'
        '<div><dt>Running</dt><dd id="running-count">{}</dd></div>'
        '<div><dt>Pending</dt><dd id="pending-count">{}</dd></div>'
        "<div><dt>Status</dt><dd>{}</dd></div>"
        "<div><dt>{}</dt><dd>{}</dd></div></dl>",
        term("desired-count", "Desired"),
        s.desired_count,
        detail.running,
        detail.pending,
        status(s.status),
        term("task-definition", "Task definition"),
        _td_link(s.primary.task_definition),
    )


def _chart(name: str, label: str, unit: str) -> Html:
    return fmt(
        '<figure class="chart" data-chart="{}" data-unit="{}"><figcaption>{}</figcaption>'
        '<svg class="plot" viewBox="0 0 400 140" role="img" aria-label="{}"></svg></figure>',
        name,
        unit,
        label,
        label,
    )


def service_page(
    detail: ServiceDetail, session: Session, rollback_to: str | None, forecast: Html | None = None
) -> Rendered:
    regions: dict[str, Html] = {}
    s = detail.view.service
    base = _service_href(s.cluster, s.name)
    scale = action_form(
        session,
        f"{base}/scale",
        "Set desired count",
        inputs=fmt(
            '<label>{} <input type="number" name="desiredCount" min="0" max="1000" '
            'value="{}" required></label>',
            term("desired-count", "Desired count"),
            s.desired_count,
        ),
    )
    deploy = action_form(session, f"{base}/deploy", "Force new deployment")
    rollback = (
        action_form(
            session,
            f"{base}/rollback",
            f"Roll back to {rollback_to.rsplit('/', 1)[-1]}",
            {"taskDefinition": rollback_to},
        )
        if rollback_to
        else Html('<span class="muted">No earlier task definition to roll back to.</span>')
    )
    body = join(
        [
            live("counts", _counts(detail), regions),
            live("forecast", forecast or Html(""), regions),
            fmt('<div class="actions">{}{}{}</div>', scale, deploy, rollback),
            fmt("<h2>{}</h2>", term("deployment", "Deployments")),
            live("deployments", _deployments(detail), regions),
            Html("<h2>Utilization and traffic</h2>"),
            fmt(
                '<div class="charts">{}{}{}</div>',
                _chart("cpu", "CPU utilization", "%"),
                _chart("memory", "Memory utilization", "%"),
                _chart("requests", "Requests per 30 s", ""),
            ),
            fmt("<h2>{}</h2>", term("task", "Tasks")),
            live("tasks", _tasks_table(s.cluster, detail.tasks, session, stop=True), regions),
            fmt("<h2>{} health</h2>", term("load-balancer", "Load balancer")),
            live("targets", _targets(detail), regions),
            fmt("<h2>{}</h2>", term("auto-scaling", "Auto scaling")),
            live("scaling", _scaling(detail), regions),
            Html("<h2>Events</h2>"),
            live("events", _events(detail), regions),
        ]
    )
    data = {"charts": {k: [[t, round(v, 3)] for t, v in pts] for k, pts in detail.charts.items()}}
    return Rendered(
        f"Service {s.name}",
        body,
        regions,
        data,
        section="clusters",
        crumbs=(("Clusters", "/console/clusters"), (s.cluster, _cluster_href(s.cluster))),
    )


# -- a task ---------------------------------------------------------------------------


def _task_summary(t: Task) -> Html:
    instance = t.container_instance_arn.rsplit("/", 1)[-1] if t.container_instance_arn else "—"
    return fmt(
        '<dl class="facts"><dt>Last status</dt><dd id="task-status">{}</dd>'
        "<dt>Desired status</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>"
        "<dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>"
        "<dt>Health</dt><dd>{}</dd><dt>CPU / memory</dt><dd>{} / {}</dd>"
        "<dt>Started by</dt><dd>{}</dd><dt>Stop code</dt><dd>{}</dd>"
        "<dt>Stopped reason</dt><dd>{}</dd></dl>",
        status(t.last_status),
        t.desired_status,
        term("launch-type", "Launch type"),
        t.launch_type,
        term("task-definition", "Task definition"),
        _td_link(t.task_definition_arn),
        term("container-instance", "Container instance"),
        instance,
        status(t.health_status),
        t.cpu or t.reservation.cpu,
        t.memory or t.reservation.memory,
        t.started_by or "—",
        t.stop_code or "—",
        t.stopped_reason or "—",
    )


def _phases(t: Task) -> Html:
    """How long each step of the task's start took: the first question when a task is slow."""
    rows = [
        ("Provisioning", when(t.created_at), duration(t.created_at, t.pull_started_at)),
        ("Image pull", when(t.pull_started_at), duration(t.pull_started_at, t.pull_stopped_at)),
        ("Start", when(t.pull_stopped_at), duration(t.pull_stopped_at, t.started_at)),
        ("Running", when(t.started_at), duration(t.started_at, t.stopping_at or t.stopped_at)),
        _healthy_phase(t),
        ("Stopping", when(t.stopping_at), duration(t.stopping_at, t.stopped_at)),
        ("Stopped", when(t.stopped_at), duration(t.created_at, t.stopped_at)),
    ]
    return table(("Phase", "Began", "Took"), rows)


def _healthy_phase(t: Task) -> tuple[str, Html, Html]:
    """From RUNNING to the first HEALTHY report, for tasks with health checks."""
    if t.healthy_at is not None:
        return ("Healthy", when(t.healthy_at), duration(t.started_at, t.healthy_at))
    if t.health_status == "UNKNOWN":
        return ("Healthy", when(None), Html('<span class="muted">no health check</span>'))
    return ("Healthy", when(None), status(t.health_status))


def _containers(t: Task) -> Html:
    def ports(bindings: list[dict[str, object]]) -> str:
        return ", ".join(
            f"{b.get('hostPort')}→{b.get('containerPort')}/{b.get('protocol', 'tcp')}"
            for b in bindings
        )

    return table(
        ("Container", "Image", "Status", "Exit code", "Reason", "Health", "Ports", "Essential"),
        (
            (
                c.name,
                c.image,
                status(c.last_status),
                "—" if c.exit_code is None else c.exit_code,
                c.reason or "",
                status(c.health_status),
                ports(c.network_bindings),
                "yes" if c.essential else "no",
            )
            for c in t.containers
        ),
    )


def _logs(detail: TaskDetail) -> Html:
    if not detail.log_streams:
        return Html(
            '<p class="muted empty">No container of this task logs with the awslogs driver.</p>'
        )
    streams = join(
        fmt("<li>{}: <code>{}</code> / <code>{}</code></li>", name, group, stream)
        for name, (group, stream) in detail.log_streams.items()
    )
    lines = join(
        fmt(
            '<span class="line"><span class="ts">{}</span> <span class="ctr">{}</span> {}</span>\n',
            _clock(line.timestamp),
            line.container,
            line.message,
        )
        for line in detail.logs
    )
    return fmt(
        '<ul class="streams">{}</ul><pre class="logs" id="log-tail">{}</pre>',
        streams,
        lines or Html('<span class="muted">No log events yet.</span>'),
    )


def _clock(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}"


def task_page(detail: TaskDetail, session: Session) -> Rendered:
    regions: dict[str, Html] = {}
    t = detail.task
    stop = (
        action_form(session, f"{_task_href(t.cluster, t.task_id)}/stop", "Stop task", danger=True)
        if not t.wants_stop
        else Html("")
    )
    body = join(
        [
            fmt('<div class="actions">{}</div>', stop),
            live("summary", _task_summary(t), regions),
            Html("<h2>Phases</h2>"),
            live("phases", _phases(t), regions),
            Html("<h2>Containers</h2>"),
            live("containers", _containers(t), regions),
            Html("<h2>Logs <span class='muted'>(live tail)</span></h2>"),
            live("logs", _logs(detail), regions),
        ]
    )
    crumbs = [("Clusters", "/console/clusters"), (t.cluster, _cluster_href(t.cluster))]
    if t.group and t.group.startswith("service:"):
        name = t.group.removeprefix("service:")
        crumbs.append((name, _service_href(t.cluster, name)))
    return Rendered(f"Task {t.task_id}", body, regions, section="clusters", crumbs=crumbs)
