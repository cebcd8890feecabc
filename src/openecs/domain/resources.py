"""What a task reserves on an instance (CPU units, MiB, host ports), and what an
instance offers. The numbers ECS accounts with, derived from a task definition."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Capacity", "Reservation", "reservation_for", "resources_to_api"]

# Docker cannot run a container in less than this; ECS uses the same floor.
_MIN_CONTAINER_MEMORY = 6


@dataclass(frozen=True, slots=True)
class Reservation:
    cpu: int = 0
    memory: int = 0
    tcp_ports: frozenset[int] = frozenset()
    udp_ports: frozenset[int] = frozenset()
    gpus: int = 0

    def __add__(self, other: Reservation) -> Reservation:
        return Reservation(
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.tcp_ports | other.tcp_ports,
            self.udp_ports | other.udp_ports,
            self.gpus + other.gpus,
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "tcp": sorted(self.tcp_ports),
            "udp": sorted(self.udp_ports),
            "gpus": self.gpus,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Reservation:
        return cls(
            int(doc.get("cpu", 0)),
            int(doc.get("memory", 0)),
            frozenset(doc.get("tcp", ())),
            frozenset(doc.get("udp", ())),
            int(doc.get("gpus", 0)),
        )


@dataclass(frozen=True, slots=True)
class Capacity:
    """What an instance registered: CPU units, MiB, and host ports already taken."""

    cpu: int
    memory: int
    reserved_tcp: frozenset[int] = frozenset()
    reserved_udp: frozenset[int] = frozenset()
    gpus: int = 0
    extra: tuple[tuple[str, Any], ...] = field(default=())

    def remaining(self, used: Reservation) -> Capacity:
        return Capacity(
            self.cpu - used.cpu,
            self.memory - used.memory,
            self.reserved_tcp | used.tcp_ports,
            self.reserved_udp | used.udp_ports,
            self.gpus - used.gpus,
        )

    def to_api(self) -> list[dict[str, Any]]:
        return resources_to_api(self)

    @classmethod
    def from_api(cls, resources: Iterable[Mapping[str, Any]]) -> Capacity:
        cpu = memory = gpus = 0
        tcp: frozenset[int] = frozenset()
        udp: frozenset[int] = frozenset()
        for res in resources:
            name = res.get("name")
            if name == "CPU":
                cpu = int(res.get("integerValue") or res.get("longValue") or 0)
            elif name == "MEMORY":
                memory = int(res.get("integerValue") or res.get("longValue") or 0)
            elif name == "PORTS":
                tcp = frozenset(int(p) for p in res.get("stringSetValue") or ())
            elif name == "PORTS_UDP":
                udp = frozenset(int(p) for p in res.get("stringSetValue") or ())
            elif name == "GPU":
                gpus = len(res.get("stringSetValue") or ()) or int(res.get("integerValue") or 0)
        return cls(cpu, memory, tcp, udp, gpus)


def resources_to_api(cap: Capacity) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": "CPU", "type": "INTEGER", "integerValue": cap.cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": cap.memory},
        {
            "name": "PORTS",
            "type": "STRINGSET",
            "stringSetValue": [str(p) for p in sorted(cap.reserved_tcp)],
        },
        {
            "name": "PORTS_UDP",
            "type": "STRINGSET",
            "stringSetValue": [str(p) for p in sorted(cap.reserved_udp)],
        },
    ]
    if cap.gpus:
        out.append({"name": "GPU", "type": "INTEGER", "integerValue": cap.gpus})
    return out


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def reservation_for(
    task_definition: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    awsvpc_publishes_dynamically: bool = True,
) -> Reservation:
    """The CPU, memory, static host ports and GPUs a task holds while it runs.

    Task-level cpu/memory (overrides first) win where set; otherwise the sum
    over containers. A container's memory is its soft limit,
    `memoryReservation`, when it sets one (with or without a hard `memory`),
    else its hard limit, as ECS subtracts it from the instance: "If you
    specify memoryReservation, then that value is subtracted from the
    available memory resources for the container instance ... Otherwise, the
    value of memory is used."

    Host ports are reserved only where they are fixed: host network mode, or
    bridge mappings with a hostPort other than 0. A missing or 0 hostPort,
    and a `containerPortRange` (Docker picks its host ports), reserve
    nothing. In awsvpc mode OpenECS publishes each task's ports on dynamic
    host ports, so nothing is reserved either.
    """
    overrides = overrides or {}
    by_name = {o.get("name"): o for o in overrides.get("containerOverrides") or ()}
    containers = task_definition.get("containerDefinitions") or []
    cpu_sum = mem_sum = gpus = 0
    tcp: set[int] = set()
    udp: set[int] = set()
    mode = task_definition.get("networkMode") or "bridge"
    for c in containers:
        o = by_name.get(c.get("name"), {})
        cpu_sum += _int(o.get("cpu", c.get("cpu", 0)))
        hard = o.get("memory", c.get("memory"))
        soft = o.get("memoryReservation", c.get("memoryReservation"))
        mem_sum += max(_int(soft if soft is not None else hard), 0)
        for req in o.get("resourceRequirements") or c.get("resourceRequirements") or ():
            if req.get("type") == "GPU":
                gpus += _int(req.get("value"))
        if mode == "awsvpc" and awsvpc_publishes_dynamically:
            continue
        for pm in c.get("portMappings") or ():
            port = pm.get("hostPort") if mode == "bridge" else pm.get("containerPort")
            if mode == "host" and port is None:
                port = pm.get("hostPort")
            if not port:
                continue
            (udp if pm.get("protocol") == "udp" else tcp).add(int(port))
    cpu = _int(overrides.get("cpu") or task_definition.get("cpu")) or cpu_sum
    memory = _int(overrides.get("memory") or task_definition.get("memory")) or mem_sum
    return Reservation(
        cpu,
        max(memory, _MIN_CONTAINER_MEMORY if containers else 0),
        frozenset(tcp),
        frozenset(udp),
        gpus,
    )
