"""Per-task cgroups on a stand-in cgroup tree (a temporary directory).

A real cgroupfs makes the control files itself and lets a cgroup go with
rmdir while they are there; a plain directory does neither, so these tests
check what is written and, for removal, use trees of bare directories like
the ones the engine leaves behind. tests/integration/test_tasks_docker.py
checks the real thing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from openecs.agent.task_cgroups import TaskCgroups

TASK = "0123456789abcdef0123456789abcdef"


def v1_tree(root: Path) -> Path:
    for controller in ("memory", "cpu", "cpuacct", "pids"):
        (root / controller).mkdir(parents=True)
    return root


def v2_tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    return root


def test_v1_writes_the_memory_limit_and_a_cfs_quota_of_cpu_over_1024(tmp_path: Path) -> None:
    cgroups = TaskCgroups(v1_tree(tmp_path))
    assert cgroups.version == "v1"
    assert cgroups.create(TASK, cpu_units=256, memory_mib=512) == f"/openecs/{TASK}"
    memory = tmp_path / "memory" / "openecs" / TASK
    cpu = tmp_path / "cpu" / "openecs" / TASK
    assert (memory / "memory.limit_in_bytes").read_text() == str(512 * 1024 * 1024)
    assert (cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (cpu / "cpu.cfs_quota_us").read_text() == "25000"
    assert (cpu / "cpu.shares").read_text() == "256"


def test_v2_enables_the_controllers_and_writes_max_values(tmp_path: Path) -> None:
    cgroups = TaskCgroups(v2_tree(tmp_path))
    assert cgroups.version == "v2"
    assert cgroups.create(TASK, cpu_units=2048, memory_mib=4096) == f"/openecs/{TASK}"
    task = tmp_path / "openecs" / TASK
    assert (task / "memory.max").read_text() == str(4096 * 1024 * 1024)
    assert (task / "cpu.max").read_text() == "200000 100000"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (tmp_path / "openecs" / "cgroup.subtree_control").read_text() == "+cpu +memory"


def test_a_missing_limit_is_left_unset(tmp_path: Path) -> None:
    cgroups = TaskCgroups(v1_tree(tmp_path))
    assert cgroups.create(TASK, cpu_units=0, memory_mib=256) is not None
    assert not (tmp_path / "cpu" / "openecs" / TASK / "cpu.cfs_quota_us").exists()


def test_without_a_cgroup_tree_there_is_no_task_cgroup(tmp_path: Path) -> None:
    cgroups = TaskCgroups(tmp_path / "absent")
    assert cgroups.version is None
    assert cgroups.create(TASK, cpu_units=256, memory_mib=512) is None
    assert cgroups.remove(TASK)


@pytest.mark.parametrize("controller", ["memory", "cpu"])
def test_an_unwritable_tree_means_no_task_cgroup(tmp_path: Path, controller: str) -> None:
    root = v1_tree(tmp_path)
    (root / controller / "openecs").write_text("in the way")  # mkdir below it fails
    assert TaskCgroups(root).create(TASK, cpu_units=256, memory_mib=512) is None


@pytest.mark.parametrize("task_id", ["../../etc", "", "a/b", "x" * 200])
def test_task_ids_that_are_not_plain_names_get_no_cgroup(tmp_path: Path, task_id: str) -> None:
    assert TaskCgroups(v1_tree(tmp_path)).create(task_id, cpu_units=256, memory_mib=512) is None
    assert not (tmp_path / "memory" / "openecs").exists()


def test_remove_takes_the_task_subtree_from_every_hierarchy(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    for controller in ("memory", "cpu", "cpuacct", "pids"):
        (root / controller / "openecs" / TASK / "container-1").mkdir(parents=True)
    cgroups = TaskCgroups(root)
    assert cgroups.exists(TASK)
    assert cgroups.remove(TASK)
    assert not cgroups.exists(TASK)
    assert (root / "memory" / "openecs").is_dir()  # the parent of all tasks stays


def test_remove_reports_a_cgroup_that_cannot_go_yet(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    busy = root / "memory" / "openecs" / TASK
    busy.mkdir(parents=True)
    (busy / "cgroup.procs").write_text("4242\n")  # stands for a process still inside
    assert not TaskCgroups(root).remove(TASK)


def test_an_agents_cgroups_nest_under_its_own_parent(tmp_path: Path) -> None:
    cgroups = TaskCgroups(v2_tree(tmp_path), parent="openecs/agent-1")
    assert cgroups.create(TASK, cpu_units=1024, memory_mib=512) == f"/openecs/agent-1/{TASK}"
    for level in (tmp_path, tmp_path / "openecs", tmp_path / "openecs" / "agent-1"):
        assert (level / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert (tmp_path / "openecs" / "agent-1" / TASK / "cpu.max").read_text() == "100000 100000"


def test_sweep_takes_away_what_no_process_uses_and_only_under_its_parent(tmp_path: Path) -> None:
    root = v1_tree(tmp_path)
    mine = root / "memory" / "openecs" / "agent-1"
    (mine / "left-behind" / "container-1").mkdir(parents=True)
    busy = mine / "still-running"
    busy.mkdir()
    (busy / "cgroup.procs").write_text("4242\n")  # stands for a process still inside
    other = root / "memory" / "openecs" / "agent-2" / "not-mine"
    other.mkdir(parents=True)
    assert TaskCgroups(root, parent="openecs/agent-1").sweep() == ["left-behind"]
    assert not (mine / "left-behind").exists()
    assert busy.is_dir()
    assert other.is_dir()
