"""The ECS terms the console explains: a short text shown on hover wherever the
term appears, and the glossary page that lists them all."""

from __future__ import annotations

from openecs.console.html import Html, fmt

__all__ = ["TERMS", "term"]

# term key → (display name, explanation)
TERMS: dict[str, tuple[str, str]] = {
    "cluster": (
        "Cluster",
        "A named group of capacity and of the tasks and services that run on it. "
        "Everything in ECS lives in a cluster; 'default' is used when none is named.",
    ),
    "task-definition": (
        "Task definition",
        "A versioned JSON recipe for a task: its containers (image, command, ports, "
        "environment, logging), CPU and memory, and network mode. Each registration of a "
        "family makes a new revision (family:revision); old revisions stay runnable "
        "until deregistered.",
    ),
    "task": (
        "Task",
        "One running copy of a task definition: its containers started together on one "
        "host, from PROVISIONING through RUNNING to STOPPED.",
    ),
    "service": (
        "Service",
        "Keeps a desired number of tasks of one task definition running: replaces tasks "
        "that stop, rolls out new revisions, and registers tasks with load balancers.",
    ),
    "container-instance": (
        "Container instance",
        "A host (an EC2 instance on AWS, any machine running `openecs agent` here) that "
        "offers its CPU and memory to a cluster and runs the tasks placed on it.",
    ),
    "scheduler": (
        "Scheduler",
        "Decides where tasks run: filters hosts that cannot take a task (CPU, memory, "
        "ports, constraints) and ranks the rest by a placement strategy (binpack, "
        "spread, random). The service scheduler also decides when to start and stop tasks.",
    ),
    "capacity-provider": (
        "Capacity provider",
        "Where a task's capacity comes from: FARGATE, FARGATE_SPOT, or a group of "
        "container instances. A strategy splits a service's tasks between providers.",
    ),
    "launch-type": (
        "FARGATE vs EC2",
        "Launch type. FARGATE: capacity is managed for you, each task gets its own CPU "
        "and memory and network (awsvpc). EC2: tasks run on container instances you "
        "register and manage, sharing their capacity.",
    ),
    "load-balancer": (
        "Load balancer",
        "An application load balancer: listeners accept traffic on a port and rules "
        "send each request to a target group.",
    ),
    "target-group": (
        "Target group",
        "A set of targets (a task's host and port) that a load balancer forwards to, "
        "with a health check deciding which targets receive traffic.",
    ),
    "deployment": (
        "Deployment",
        "A service's move to a task definition or configuration. The PRIMARY deployment "
        "is the one being rolled out; ACTIVE ones are being replaced. Its rollout state "
        "is IN_PROGRESS, COMPLETED or FAILED.",
    ),
    "desired-count": (
        "Desired count",
        "How many tasks a service keeps running. Running counts tasks that are up, "
        "pending those still starting.",
    ),
    "auto-scaling": (
        "Auto scaling",
        "Application Auto Scaling policies that change a service's desired count from "
        "metrics (target tracking, step scaling) or on a schedule.",
    ),
}


def term(key: str, label: str | None = None) -> Html:
    """The term as text with its explanation on hover, linked to the glossary."""
    name, text = TERMS[key]
    return fmt(
        '<a class="term" href="/console/glossary#{}"><abbr title="{}">{}</abbr></a>',
        key,
        text,
        label or name,
    )
