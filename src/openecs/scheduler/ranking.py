"""Ranking: pick the best feasible instance for the next task, fast.

A plan places its tasks one after another and each placement changes only
the chosen instance (and, for a spread by attribute, the count of its value).
So instead of ranking every instance for every task, a selector keeps the
candidates ordered and repairs only what a placement touched:

* `SpreadSelector` — a leading `spread attribute:X` rule. Instances are
  grouped by value; a heap orders the values by their count of the group's
  tasks, and each value holds a selector for the rest of the chain. A
  placement re-keys one value: O(log values).
* `HeapSelector` — any other chain (binpack, spread instanceId, spread by an
  attribute after another rule). A heap of instances keyed by the chain's
  tuple; a placement pushes the chosen instance again with its new key and
  marks the old entry stale: O(log n). Keys that depend on a value's count
  only grow as tasks land, so a stale one is a lower bound and is refreshed
  when it reaches the top.
* `RandomSelector` — `random`, or nothing left to rank by: a uniform draw
  among the candidates for each task, O(1).

Ties left by the chain fall to a random draw from the request's seeded
generator, so plans are reproducible.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Sequence
from typing import Protocol

from openecs.scheduler.strategies import Strategy
from openecs.scheduler.view import InstanceView

__all__ = ["HeapSelector", "RandomSelector", "Selector", "SpreadSelector", "build_selector"]


class Selector(Protocol):
    def choose(self) -> int | None:
        """Index of the best candidate, or None when none is left."""

    def placed(self, idx: int, still_feasible: bool) -> None:
        """A task of the group landed on candidate `idx` (which `choose` returned)."""


def _tasks_counter(group: str | None) -> Callable[[InstanceView], int]:
    """What spread balances: the group's tasks on an instance (all tasks without a group)."""
    if group:
        return lambda v: v.groups.get(group, 0)
    return lambda v: v.task_count


class RandomSelector:
    def __init__(self, members: Sequence[int], rng: random.Random) -> None:
        self._members = list(members)
        self._where = {idx: at for at, idx in enumerate(self._members)}
        self._rng = rng

    def choose(self) -> int | None:
        members = self._members
        if not members:
            return None
        return members[int(self._rng.random() * len(members))]

    def placed(self, idx: int, still_feasible: bool) -> None:
        if still_feasible:
            return
        members, where = self._members, self._where
        at = where.pop(idx)
        last = members.pop()
        if last != idx:
            members[at] = last
            where[last] = at


class HeapSelector:
    """Candidates in a heap keyed by (rule keys..., random tie-break)."""

    def __init__(
        self,
        chain: Strategy,
        views: Sequence[InstanceView],
        members: Sequence[int],
        scope: Sequence[int],
        group: str | None,
        rng: random.Random,
    ) -> None:
        self._views = views
        self._rng = rng
        self._version: dict[int, int] = dict.fromkeys(members, 0)
        tasks_of = _tasks_counter(group)
        # Per spread-by-attribute rule: each instance's value and the count per value,
        # over every instance in scope (tasks on instances that cannot take this one
        # still count towards their value).
        self._value_counts: list[tuple[dict[int, str | None], dict[str | None, int]]] = []
        parts: list[Callable[[int], int]] = []
        for kind, field in chain:
            if kind == "binpack" and field == "cpu":
                parts.append(lambda i: views[i].remaining.cpu)
            elif kind == "binpack":
                parts.append(lambda i: views[i].remaining.memory)
            elif kind == "spread" and field == "instanceId":
                parts.append(lambda i: tasks_of(views[i]))
            elif kind == "spread" and field is not None:
                parts.append(self._spread_part(field[len("attribute:") :], scope, tasks_of))
            else:  # random: the tie-break already is one
                break
        self._shared = bool(self._value_counts)
        self._key = _combine(parts)
        key = self._key
        self._heap = [(key(i), rng.random(), 0, i) for i in members]
        heapq.heapify(self._heap)

    def _spread_part(
        self, name: str, scope: Sequence[int], tasks_of: Callable[[InstanceView], int]
    ) -> Callable[[int], int]:
        views = self._views
        value_of: dict[int, str | None] = {}
        counts: dict[str | None, int] = {}
        for i in scope:
            value = views[i].attributes.get(name)
            value_of[i] = value
            counts[value] = counts.get(value, 0) + tasks_of(views[i])
        self._value_counts.append((value_of, counts))
        return lambda i: counts[value_of[i]]

    def choose(self) -> int | None:
        heap, version = self._heap, self._version
        while heap:
            key, tie, seen, idx = heap[0]
            if version.get(idx) != seen:
                heapq.heappop(heap)
                continue
            if self._shared:
                fresh = self._key(idx)
                if fresh != key:
                    heapq.heapreplace(heap, (fresh, tie, seen, idx))
                    continue
            return idx
        return None

    def placed(self, idx: int, still_feasible: bool) -> None:
        for value_of, counts in self._value_counts:
            counts[value_of[idx]] += 1
        if not still_feasible:
            del self._version[idx]
            return
        seen = self._version[idx] + 1
        self._version[idx] = seen
        heapq.heappush(self._heap, (self._key(idx), self._rng.random(), seen, idx))


def _combine(parts: list[Callable[[int], int]]) -> Callable[[int], int | tuple[int, ...]]:
    if not parts:
        return lambda i: 0
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda i: (first(i), second(i))
    return lambda i: tuple(part(i) for part in parts)


class _Value:
    __slots__ = ("count", "selector", "version")

    def __init__(self, count: int, selector: Selector) -> None:
        self.count = count
        self.selector = selector
        self.version = 0


class SpreadSelector:
    """A leading `spread attribute:X`: the least-loaded value first, then the rest of the chain."""

    def __init__(
        self,
        chain: Strategy,
        views: Sequence[InstanceView],
        members: Sequence[int],
        scope: Sequence[int],
        group: str | None,
        rng: random.Random,
    ) -> None:
        field = chain[0][1] or ""
        name = field[len("attribute:") :]
        rest = chain[1:]
        tasks_of = _tasks_counter(group)
        self._rng = rng
        values: dict[str | None, int] = {}
        counts: list[int] = []
        scopes: list[list[int]] = []
        self._value_of: dict[int, int] = {}
        for i in scope:
            value = views[i].attributes.get(name)
            at = values.get(value)
            if at is None:
                at = values[value] = len(counts)
                counts.append(0)
                scopes.append([])
            counts[at] += tasks_of(views[i])
            scopes[at].append(i)
            self._value_of[i] = at
        candidates: list[list[int]] = [[] for _ in counts]
        for i in members:
            candidates[self._value_of[i]].append(i)
        self._values = [
            _Value(counts[at], build_selector(rest, views, candidates[at], scopes[at], group, rng))
            for at in range(len(counts))
        ]
        self._heap = [
            (counts[at], rng.random(), 0, at) for at in range(len(counts)) if candidates[at]
        ]
        heapq.heapify(self._heap)

    def choose(self) -> int | None:
        heap, values = self._heap, self._values
        while heap:
            _, _, seen, at = heap[0]
            value = values[at]
            if value.version != seen:
                heapq.heappop(heap)
                continue
            idx = value.selector.choose()
            if idx is not None:
                return idx
            value.version += 1  # no candidate left with this value
            heapq.heappop(heap)
        return None

    def placed(self, idx: int, still_feasible: bool) -> None:
        at = self._value_of[idx]
        value = self._values[at]
        value.count += 1
        value.version += 1
        value.selector.placed(idx, still_feasible)
        heapq.heappush(self._heap, (value.count, self._rng.random(), value.version, at))


def build_selector(
    chain: Strategy,
    views: Sequence[InstanceView],
    members: Sequence[int],
    scope: Sequence[int],
    group: str | None,
    rng: random.Random,
) -> Selector:
    """A selector over `members` (candidate indexes into `views`) for a normalized chain.

    `scope` holds every instance the chain balances over (candidates or not).
    """
    if not chain or chain[0][0] == "random":
        return RandomSelector(members, rng)
    kind, field = chain[0]
    if kind == "spread" and field is not None and field.startswith("attribute:"):
        return SpreadSelector(chain, views, members, scope, group, rng)
    return HeapSelector(chain, views, members, scope, group, rng)
