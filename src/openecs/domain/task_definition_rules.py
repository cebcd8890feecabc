"""RegisterTaskDefinition's rules: validation in ECS's order and words, then normalization.

`prepare_registration` takes the request (already checked against botocore's
input shape for types, required members and enums) and either raises the
exception ECS raises for the first rule broken, or returns the definition as
ECS stores it: container defaults filled in (cpu 0, essential true, empty
lists, port protocols and host ports, health-check timings), task size as
strings of CPU units and MiB, and the computed `compatibilities` and
`requiresAttributes`.

LIMITATIONS (where this differs from ECS):
* Only the first broken rule is reported, as ECS does; where ECS's wording
  is not public, the message follows the style of its known messages.
* Windows-only and managed-instance-only parameters are stored, not checked.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from openecs.domain.errors import ClientException
from openecs.domain.tags import tags_from_api
from openecs.domain.task_definition import FAMILY_PATTERN
from openecs.domain.task_definition_attributes import compute_required_attributes
from openecs.domain.task_definition_fargate import compute_compatibilities, fargate_problem
from openecs.domain.task_size import parse_task_cpu, parse_task_memory

__all__ = [
    "DEPENDENCY_CONDITIONS",
    "HEALTH_CHECK_LIMITS",
    "MAX_CONTAINERS",
    "MAX_PLACEMENT_CONSTRAINTS",
    "Registration",
    "prepare_registration",
]

MAX_CONTAINERS = 10
MAX_PLACEMENT_CONSTRAINTS = 10
MIN_CONTAINER_MEMORY_MIB = 6
DEPENDENCY_CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")
# member → (lowest, highest, ECS's default or None when ECS leaves it unset)
HEALTH_CHECK_LIMITS: dict[str, tuple[int, int, int | None]] = {
    "interval": (5, 300, 30),
    "timeout": (2, 120, 5),
    "retries": (1, 10, 3),
    "startPeriod": (0, 300, None),
}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
_PORT_RANGE = re.compile(r"(\d{1,5})-(\d{1,5})")
_NETWORK_MODES = ("bridge", "host", "awsvpc", "none")
_CONTAINER_LISTS = ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls")
# Members of the request that are not part of the stored definition.
_NOT_STORED = ("family", "tags")


@dataclass(frozen=True, slots=True)
class Registration:
    """A definition ready to be stored as a new revision of `family`."""

    family: str
    body: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)


def prepare_registration(request: Mapping[str, Any]) -> Registration:
    family = validate_family(request.get("family"))
    raw_containers = list(request.get("containerDefinitions") or [])
    _check_container_list(raw_containers)
    _check_container_identity(raw_containers)

    draft: dict[str, Any] = {
        k: copy.deepcopy(v) for k, v in request.items() if k not in _NOT_STORED
    }
    mode = _network_mode(draft.get("networkMode"))
    task_cpu = _task_size(draft, "cpu", parse_task_cpu)
    task_memory = _task_size(draft, "memory", parse_task_memory)
    if "FARGATE" in (draft.get("requiresCompatibilities") or []):
        problem = fargate_problem(draft)
        if problem is not None:
            raise ClientException(problem)

    volume_names = _check_volumes(draft.get("volumes") or [])
    containers = [_normalize_container(c, mode) for c in raw_containers]
    by_name = {c["name"]: c for c in containers}
    ports: set[tuple[int, str]] = set()
    for container in containers:
        _check_memory(container, task_memory)
        _check_ports_unique(container, mode, ports)
        _check_links(container, mode, by_name)
        _check_mount_points(container, volume_names)
        _check_volumes_from(container, by_name)
        _check_dependencies(container, by_name)
        _check_log_configuration(container)
        _check_repository_credentials(container, draft)
    if not any(c["essential"] for c in containers):
        raise ClientException("Task definition doesn't have any essential container.")
    _check_dependency_cycles(containers)
    _check_totals(containers, task_cpu, task_memory)
    _check_placement_constraints(draft.get("placementConstraints") or [])
    tags = tags_from_api(request.get("tags") or [])

    draft["containerDefinitions"] = containers
    draft.setdefault("volumes", [])
    draft.setdefault("placementConstraints", [])
    draft["compatibilities"] = compute_compatibilities(draft)
    draft["requiresAttributes"] = compute_required_attributes(draft)
    return Registration(family, draft, tags)


def validate_family(family: Any) -> str:
    if not family:
        raise ClientException("Family can not be blank.")
    if len(family) > 255:
        raise ClientException("Family name must be no longer than 255 characters.")
    if not FAMILY_PATTERN.fullmatch(family):
        raise ClientException("Family contains invalid characters.")
    return str(family)


def _check_container_list(containers: list[dict[str, Any]]) -> None:
    if not containers:
        raise ClientException("Container list cannot be empty.")
    if len(containers) > MAX_CONTAINERS:
        raise ClientException("Too many containers.")


def _check_container_identity(containers: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for container in containers:
        name = container.get("name")
        if not name:
            raise ClientException("Container.name should not be null or empty.")
        if not _NAME.fullmatch(name):
            raise ClientException("Container.name contains invalid characters.")
        if not container.get("image"):
            raise ClientException("Container.image should not be null or empty.")
        if name in seen:
            raise ClientException("Container names must be unique within a Task Definition.")
        seen.add(name)


def _network_mode(mode: str | None) -> str:
    """The mode the rules apply: bridge when unset (ECS then leaves the member unset)."""
    if mode is None:
        return "bridge"
    if mode not in _NETWORK_MODES:
        raise ClientException(
            f"Invalid networkMode '{mode}'. Valid values are bridge, host, awsvpc and none."
        )
    return mode


def _task_size(draft: dict[str, Any], key: str, parse: Any) -> int | None:
    text = draft.get(key)
    if text is None:
        return None
    value: int = parse(text)
    draft[key] = str(value)
    return value


def _check_volumes(volumes: list[dict[str, Any]]) -> set[str]:
    names: set[str] = set()
    for volume in volumes:
        name = volume.get("name")
        if not name:
            raise ClientException("Volume.name should not be null or empty.")
        if not _NAME.fullmatch(name):
            raise ClientException("Volume.name contains invalid characters.")
        if name in names:
            raise ClientException("Volume names must be unique within a Task Definition.")
        names.add(name)
    return names


def _normalize_container(raw: Mapping[str, Any], mode: str) -> dict[str, Any]:
    container = copy.deepcopy(dict(raw))
    name = container["name"]
    container.setdefault("cpu", 0)
    if container["cpu"] < 0:
        raise ClientException(
            f"Invalid setting for container '{name}'. 'cpu' must be 0 or greater."
        )
    container.setdefault("essential", True)
    for key in _CONTAINER_LISTS:
        container.setdefault(key, [])
    container["portMappings"] = [
        _normalize_port_mapping(name, mapping, mode) for mapping in container["portMappings"]
    ]
    if container.get("healthCheck") is not None:
        container["healthCheck"] = _normalize_health_check(name, container["healthCheck"])
    return container


def _normalize_port_mapping(name: str, raw: Mapping[str, Any], mode: str) -> dict[str, Any]:
    mapping = dict(raw)
    mapping.setdefault("protocol", "tcp")
    if mapping.get("containerPortRange") is not None:
        _check_port_range(name, mapping, mode)
        return mapping
    port = mapping.get("containerPort")
    if port is None:
        raise ClientException(
            f"Invalid port mapping for container '{name}'. "
            "Specify a containerPort or a containerPortRange."
        )
    if not 1 <= port <= 65535:
        raise ClientException(
            f"Invalid port mapping for container '{name}'. "
            "containerPort must be between 1 and 65535."
        )
    host = mapping.get("hostPort")
    if mode in ("awsvpc", "host"):
        if host is not None and host != port:
            raise ClientException(
                f"When networkMode={mode}, the host ports and container ports "
                "in port mappings must match."
            )
        mapping["hostPort"] = port
    elif host is None:
        mapping["hostPort"] = 0  # bridge: the host port is picked when the task starts
    elif not 0 <= host <= 65535:
        raise ClientException(
            f"Invalid port mapping for container '{name}'. hostPort must be between 0 and 65535."
        )
    return mapping


def _check_port_range(name: str, mapping: Mapping[str, Any], mode: str) -> None:
    text = mapping["containerPortRange"]
    match = _PORT_RANGE.fullmatch(text)
    if match is None or not 1 <= int(match.group(1)) < int(match.group(2)) <= 65535:
        raise ClientException(
            f"Invalid containerPortRange '{text}' for container '{name}'. "
            "Specify a range of ports between 1 and 65535, such as 8080-8085."
        )
    if mapping.get("containerPort") is not None:
        raise ClientException(
            f"Invalid port mapping for container '{name}'. "
            "Specify either a containerPort or a containerPortRange, not both."
        )
    if mapping.get("hostPort") is not None:
        raise ClientException(
            f"Invalid port mapping for container '{name}'. "
            "A hostPort can't be specified with a containerPortRange."
        )
    if mode not in ("awsvpc", "bridge"):
        raise ClientException(
            "containerPortRange is only supported when networkMode is awsvpc or bridge."
        )


def _normalize_health_check(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    check = dict(raw)
    if not check.get("command"):
        raise ClientException(
            f"Invalid 'healthCheck' setting for container '{name}'. "
            "'command' should not be null or empty."
        )
    for key, (low, high, default) in HEALTH_CHECK_LIMITS.items():
        value = check.get(key)
        if value is None:
            if default is not None:
                check[key] = default
        elif not low <= value <= high:
            unit = "" if key == "retries" else " seconds"
            raise ClientException(
                f"Invalid 'healthCheck' setting for container '{name}'. "
                f"'{key}' must be between {low} and {high}{unit}."
            )
    return check


def _check_memory(container: Mapping[str, Any], task_memory: int | None) -> None:
    name = container["name"]
    memory, reservation = container.get("memory"), container.get("memoryReservation")
    if task_memory is None and memory is None and reservation is None:
        raise ClientException(
            f"Invalid setting for container '{name}'. "
            "At least one of 'memory' or 'memoryReservation' must be specified."
        )
    for key, value in (("memory", memory), ("memoryReservation", reservation)):
        if value is not None and value < MIN_CONTAINER_MEMORY_MIB:
            raise ClientException(
                f"Invalid setting for container '{name}'. "
                f"'{key}' must be at least {MIN_CONTAINER_MEMORY_MIB} MiB."
            )
    if memory is not None and reservation is not None and reservation > memory:
        raise ClientException(
            f"Invalid setting for container '{name}'. "
            "'memoryReservation' must be less than or equal to 'memory'."
        )
    if task_memory is not None and memory is not None and memory > task_memory:
        raise ClientException(
            f"The 'memory' setting for container '{name}' is greater than for the task."
        )


def _check_ports_unique(
    container: Mapping[str, Any], mode: str, seen: set[tuple[int, str]]
) -> None:
    """In awsvpc and host mode all containers share one network stack: one owner per port."""
    if mode not in ("awsvpc", "host"):
        return
    for mapping in container["portMappings"]:
        port = mapping.get("containerPort")
        if port is None:
            continue
        key = (port, mapping["protocol"])
        if key in seen:
            raise ClientException(
                f"Container port {port}/{mapping['protocol']} is mapped more than once. "
                f"When networkMode={mode}, each container port can be mapped only once."
            )
        seen.add(key)


def _check_links(container: Mapping[str, Any], mode: str, by_name: Mapping[str, Any]) -> None:
    links = container.get("links") or []
    if not links:
        return
    if mode != "bridge":
        raise ClientException(f"Links are not supported when networkMode={mode}.")
    for link in links:
        target = link.split(":", 1)[0]
        if target not in by_name or target == container["name"]:
            raise ClientException(f"Invalid 'links' setting. Unknown container: '{target}'.")


def _check_mount_points(container: Mapping[str, Any], volume_names: set[str]) -> None:
    for mount in container["mountPoints"]:
        source = mount.get("sourceVolume")
        if source not in volume_names:
            raise ClientException(f"Unknown volume '{source if source is not None else 'null'}'.")


def _check_volumes_from(container: Mapping[str, Any], by_name: Mapping[str, Any]) -> None:
    for item in container["volumesFrom"]:
        source = item.get("sourceContainer")
        if source not in by_name or source == container["name"]:
            raise ClientException(f"Invalid 'volumesFrom' setting. Unknown container: '{source}'.")


def _check_dependencies(container: Mapping[str, Any], by_name: Mapping[str, Any]) -> None:
    for dependency in container.get("dependsOn") or []:
        target_name = dependency.get("containerName")
        condition = dependency.get("condition")
        target = by_name.get(target_name or "")
        if target is None or target_name == container["name"]:
            # ECS's message really reads "container + 'name'".
            raise ClientException(
                f"Cannot depend on container + '{target_name}' because it does not exist"
            )
        if condition not in DEPENDENCY_CONDITIONS:
            raise ClientException(
                f"Invalid dependency condition '{condition}' for container "
                f"'{container['name']}'. Valid values are START, COMPLETE, SUCCESS and HEALTHY."
            )
        if condition == "HEALTHY" and not target.get("healthCheck"):
            raise ClientException(
                f"The dependency container '{target_name}' must have a health check "
                "to be used with the HEALTHY condition."
            )
        if condition in ("SUCCESS", "COMPLETE") and target["essential"]:
            raise ClientException(
                "A dependency container with SUCCESS or COMPLETE condition "
                "cannot be an essential container"
            )


def _check_dependency_cycles(containers: list[dict[str, Any]]) -> None:
    """Containers that wait on each other would never start."""
    edges = {c["name"]: [d["containerName"] for d in c.get("dependsOn") or []] for c in containers}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise ClientException(f"The container dependencies form a cycle: {cycle}.")
        if name in done:
            return
        for target in edges.get(name, []):
            visit(target, [*path, name])
        done.add(name)

    for name in edges:
        visit(name, [])


def _check_log_configuration(container: Mapping[str, Any]) -> None:
    log = container.get("logConfiguration") or {}
    if log.get("logDriver") != "awslogs":
        return
    options = log.get("options") or {}
    missing = [key for key in ("awslogs-region", "awslogs-group") if not options.get(key)]
    if missing:
        raise ClientException(f"Log driver awslogs requires options: {', '.join(missing)}")


def _check_repository_credentials(container: Mapping[str, Any], draft: Mapping[str, Any]) -> None:
    credentials = container.get("repositoryCredentials") or {}
    if credentials.get("credentialsParameter") and not draft.get("executionRoleArn"):
        raise ClientException(
            "Private repository authentication requires that the task definition "
            "specify a value for executionRoleArn."
        )


def _check_totals(
    containers: list[dict[str, Any]], task_cpu: int | None, task_memory: int | None
) -> None:
    if task_cpu is not None and sum(c["cpu"] for c in containers) > task_cpu:
        raise ClientException(
            "The sum of all container 'cpu' values cannot be greater than the value "
            "of the task 'cpu'."
        )
    if task_memory is None:
        return
    # What a task reserves per container: its soft limit, else its hard limit.
    reserved = [c.get("memoryReservation") or c.get("memory") or 0 for c in containers]
    if sum(reserved) > task_memory:
        uses_reservations = any(c.get("memoryReservation") for c in containers)
        key = "memoryReservation" if uses_reservations else "memory"
        raise ClientException(
            f"The sum of all container '{key}' values cannot be greater than the value "
            "of the task 'memory'."
        )


def _check_placement_constraints(constraints: list[dict[str, Any]]) -> None:
    if len(constraints) > MAX_PLACEMENT_CONSTRAINTS:
        raise ClientException("Too many placement constraints.")
    for constraint in constraints:
        kind = constraint.get("type")
        if not kind:
            raise ClientException("constraint.type should not be null or empty.")
        if kind != "memberOf":
            raise ClientException(f"constraint.type '{kind}' is not supported.")
        if not constraint.get("expression"):
            raise ClientException("constraint.expression should not be null or empty.")
