"""Task size: the task-level `cpu` and `memory` strings and the Fargate size table.

ECS accepts task CPU as units ("1024") or vCPUs ("1 vCPU", ".25 vcpu") and task
memory as MiB ("512", "512 MiB") or GB ("2GB", "0.5 GB"); it stores both as
strings of integers (CPU units, MiB). Fargate only runs the sizes in its table.
"""

from __future__ import annotations

import re

from openecs.domain.errors import ClientException

__all__ = [
    "EC2_TASK_CPU_RANGE",
    "fargate_memory_options",
    "is_fargate_size",
    "parse_task_cpu",
    "parse_task_memory",
]

# The task-level CPU ECS accepts for EC2: 0.125 to 192 vCPUs.
EC2_TASK_CPU_RANGE = (128, 196_608)
# Docker refuses to start a container with a hard limit under 6 MiB.
_MIN_MEMORY_MIB = 6

_CPU = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(vcpus?)?\s*", re.IGNORECASE)
_MEMORY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(mib|mb|m|gib|gb|g)?\s*", re.IGNORECASE)

_GIB = 1024


def _steps(low_gib: int, high_gib: int, step_gib: int) -> tuple[int, ...]:
    return tuple(gib * _GIB for gib in range(low_gib, high_gib + 1, step_gib))


# CPU units → the memory sizes (MiB) Fargate offers with them.
_FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1, 4, 1),
    1024: _steps(2, 8, 1),
    2048: _steps(4, 16, 1),
    4096: _steps(8, 30, 1),
    8192: _steps(16, 60, 4),
    16384: _steps(32, 120, 8),
}


def _whole(value: float) -> int | None:
    return int(value) if value == int(value) else None


def parse_task_cpu(text: str) -> int:
    """CPU units from "1024", "1 vCPU" or "0.5 vcpu"; ClientException when not a size."""
    match = _CPU.fullmatch(text)
    units: int | None = None
    if match is not None:
        number = float(match.group(1))
        units = _whole(number * 1024) if match.group(2) else _whole(number)
    if units is None or not EC2_TASK_CPU_RANGE[0] <= units <= EC2_TASK_CPU_RANGE[1]:
        raise ClientException("Invalid 'cpu' setting for task.")
    return units


def parse_task_memory(text: str) -> int:
    """MiB from "2048", "512 MiB", "2GB" or "0.5 GB"; ClientException when not a size."""
    match = _MEMORY.fullmatch(text)
    mib: int | None = None
    if match is not None:
        number = float(match.group(1))
        unit = (match.group(2) or "").lower()
        mib = _whole(number * _GIB) if unit.startswith("g") else _whole(number)
    if mib is None or mib < _MIN_MEMORY_MIB:
        raise ClientException("Invalid 'memory' setting for task.")
    return mib


def is_fargate_size(cpu: int, memory: int) -> bool:
    return memory in _FARGATE_SIZES.get(cpu, ())


def fargate_memory_options(cpu: int) -> tuple[int, ...]:
    """The memory sizes (MiB) Fargate offers with `cpu` units; empty for other CPU values."""
    return _FARGATE_SIZES.get(cpu, ())
