"""Task-level CPU and memory limits: one cgroup per task, its containers inside.

ECS runs a task under a cgroup that carries the task's size: `memory` as a
hard limit and `cpu` as a CFS quota of cpu/1024 CPUs. Every container of the
task (the awsvpc pause container too) is created inside it (`CgroupParent`),
so together they never exceed the task's size, whatever their own limits say.

    cgroup v1   <root>/memory/<parent>/<task-id>/memory.limit_in_bytes
                <root>/cpu/<parent>/<task-id>/cpu.cfs_period_us, cpu.cfs_quota_us, cpu.shares
    cgroup v2   <root>/<parent>/<task-id>/memory.max, cpu.max, cpu.weight

The agent's parent is `openecs/<agent-id>`: several agents may share a host,
and each cleans up only its own. The agent writes the limits before the
first container starts; the engine's runtime creates the containers' cgroups
below (and the task cgroup in the other v1 hierarchies). `remove` takes the
whole subtree away once the containers have exited; `sweep` takes away what
a crashed agent left behind (cgroups no process uses any more).

LIMITATIONS: the engine must use the cgroupfs driver (under the systemd
driver a parent has to be a slice) and see the same cgroup tree as the agent.
Where the tree is missing or not writable, `create` answers None and the task
falls back to per-container limits (`container_specs`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Protocol

__all__ = ["DEFAULT_CGROUP_ROOT", "TaskCgroups", "TaskLimits"]

log = logging.getLogger("openecs.agent.cgroups")

DEFAULT_CGROUP_ROOT = Path("/sys/fs/cgroup")
_CFS_PERIOD_US = 100_000
_CPU_UNITS_PER_CPU = 1024
# Task ids come from the control plane; they name a directory, so keep them plain.
_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class TaskLimits(Protocol):
    """What the task runner needs of a per-task cgroup manager."""

    def create(self, task_id: str, *, cpu_units: int, memory_mib: int) -> str | None:
        """The cgroup parent for the task's containers, or None when the limits
        cannot be set (the caller falls back to per-container limits)."""
        ...

    def remove(self, task_id: str) -> bool:
        """Take the task's cgroup away; False while a process still holds it."""
        ...


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _cpu_weight(shares: int) -> int:
    """cgroup v2 `cpu.weight` (1..10000) for v1 shares (2..262144), as runc converts."""
    shares = min(max(shares, 2), 262_144)
    return 1 + ((shares - 2) * 9999) // 262_142


class TaskCgroups:
    """Per-task cgroups under `<root>[/<controller>]/<parent>/<task-id>`; `parent`
    is a relative path (`openecs/<agent-id>` for an agent)."""

    def __init__(self, root: Path = DEFAULT_CGROUP_ROOT, *, parent: str = "openecs") -> None:
        self.root = root
        self.parent = parent
        self.version = self._detect()
        self._warned = False

    def _detect(self) -> str | None:
        if (self.root / "cgroup.controllers").is_file():
            return "v2"
        if (self.root / "memory").is_dir() and self._v1_cpu_dir() is not None:
            return "v1"
        return None

    def _v1_cpu_dir(self) -> Path | None:
        for name in ("cpu", "cpu,cpuacct"):
            if (self.root / name).is_dir():
                return self.root / name
        return None

    def cgroup_parent(self, task_id: str) -> str:
        """The path Docker's `CgroupParent` takes (relative to each hierarchy's root)."""
        return f"/{self.parent}/{task_id}"

    # -- create ------------------------------------------------------------------

    def create(self, task_id: str, *, cpu_units: int, memory_mib: int) -> str | None:
        if self.version is None or not _SAFE_ID.fullmatch(task_id):
            return None
        try:
            if self.version == "v2":
                self._create_v2(task_id, cpu_units, memory_mib)
            else:
                self._create_v1(task_id, cpu_units, memory_mib)
        except OSError as exc:
            if not self._warned:
                log.warning(
                    "task cgroups unavailable; limiting containers one by one",
                    extra={"root": str(self.root), "error": str(exc)},
                )
                self._warned = True
            self.remove(task_id)
            return None
        return self.cgroup_parent(task_id)

    def _create_v1(self, task_id: str, cpu_units: int, memory_mib: int) -> None:
        memory_dir = self.root / "memory" / self.parent / task_id
        memory_dir.mkdir(parents=True, exist_ok=True)
        if memory_mib > 0:
            _write(memory_dir / "memory.limit_in_bytes", str(memory_mib * 1024 * 1024))
        cpu_root = self._v1_cpu_dir()
        assert cpu_root is not None  # detected as v1
        cpu_dir = cpu_root / self.parent / task_id
        cpu_dir.mkdir(parents=True, exist_ok=True)
        if cpu_units > 0:
            _write(cpu_dir / "cpu.shares", str(max(cpu_units, 2)))
            _write(cpu_dir / "cpu.cfs_period_us", str(_CFS_PERIOD_US))
            _write(cpu_dir / "cpu.cfs_quota_us", str(self._quota(cpu_units)))

    def _create_v2(self, task_id: str, cpu_units: int, memory_mib: int) -> None:
        # Controllers must be enabled on every level above the cgroup that uses them.
        level = self.root
        _write(level / "cgroup.subtree_control", "+cpu +memory")
        for part in Path(self.parent).parts:
            level = level / part
            level.mkdir(exist_ok=True)
            _write(level / "cgroup.subtree_control", "+cpu +memory")
        task_dir = level / task_id
        task_dir.mkdir(exist_ok=True)
        if memory_mib > 0:
            _write(task_dir / "memory.max", str(memory_mib * 1024 * 1024))
        if cpu_units > 0:
            _write(task_dir / "cpu.weight", str(_cpu_weight(cpu_units)))
            _write(task_dir / "cpu.max", f"{self._quota(cpu_units)} {_CFS_PERIOD_US}")

    @staticmethod
    def _quota(cpu_units: int) -> int:
        # The kernel refuses quotas under 1 ms.
        return max(cpu_units * _CFS_PERIOD_US // _CPU_UNITS_PER_CPU, 1000)

    # -- remove ------------------------------------------------------------------

    def _parent_dirs(self) -> list[Path]:
        """This parent in every hierarchy (v1 has one per controller)."""
        if self.version == "v2":
            return [self.root / self.parent]
        with contextlib.suppress(OSError):
            return [
                hierarchy / self.parent
                for hierarchy in sorted(self.root.iterdir())
                if hierarchy.is_dir() and not hierarchy.is_symlink()
            ]
        return []

    def remove(self, task_id: str) -> bool:
        if self.version is None or not _SAFE_ID.fullmatch(task_id):
            return True
        gone = True
        for parent in self._parent_dirs():
            if not _remove_tree(parent / task_id):
                gone = False
        return gone

    def sweep(self) -> list[str]:
        """Remove every task cgroup of this parent that no process uses; the task ids."""
        if self.version is None:
            return []
        swept: set[str] = set()
        for parent in self._parent_dirs():
            with contextlib.suppress(OSError):
                for task_dir in list(parent.iterdir()):
                    plain = task_dir.is_dir() and _SAFE_ID.fullmatch(task_dir.name)
                    if plain and _remove_tree(task_dir):
                        swept.add(task_dir.name)
        return sorted(swept)

    def exists(self, task_id: str) -> bool:
        if self.version is None:
            return False
        return any((parent / task_id).is_dir() for parent in self._parent_dirs())


def _remove_tree(cgroup: Path) -> bool:
    """rmdir a cgroup and its descendants, deepest first; False while a process holds one."""
    if not cgroup.is_dir():
        return True
    for here, dirs, _ in sorted(os.walk(cgroup), key=lambda w: -len(w[0])):
        for name in dirs:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(here, name))
    try:
        cgroup.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True
