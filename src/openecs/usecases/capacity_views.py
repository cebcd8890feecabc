"""Capacity views kept from one placement to the next, validated against the database.

Building a pool's ClusterView reads every instance and sums what every live
task holds: work that grows with the cluster, for a RunTask that places ten
tasks. But the view a placement leaves behind — the snapshot it read, with
its own placements accounted by the scheduler (InstanceView.take) — is exactly
what the database holds once that transaction commits. So it is kept, in this
process, under the pool's placement epoch token its transaction wrote:

    lease(conn, ...)   claim the pool's epoch row (a row lock until the
                       transaction ends); reuse the kept view if the token read
                       is the one it was kept with, else build afresh
    keep(conn, lease)  write a new token in the same transaction and keep the
                       (now mutated) view under it

Every other change to the pool (tasks created or stopped, instances
registered, drained, disconnected — by this process or another replica)
writes a token of its own (store.placement_epochs.touch), and a transaction
that rolls back leaves the older token in place, so a kept view is never used
past a change it does not show. A leased view is taken out of the cache while
in use: if its transaction fails half way, it is simply dropped.

Only write transactions may lease: a dry run builds its own view.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from openecs.domain.scope import Scope
from openecs.scheduler.view import ClusterView, InstanceView
from openecs.store import placement_epochs

__all__ = ["ViewLease", "keep", "lease"]

# (the engine's identity, account, region, pool, capacity kind): a server has one
# engine; two Backends in one process (tests) keep their views apart like replicas.
_Key = tuple[int, str, str, str, str]

# Kept views beyond this many pools are dropped, oldest first.
_MAX_KEPT = 64


@dataclass(slots=True)
class ViewLease:
    key: _Key
    view: ClusterView
    # The view's instances by id (its instance list never changes once built).
    by_id: dict[str, InstanceView]
    # Whether the view was kept from an earlier placement (False: built by this one).
    reused: bool


@dataclass(slots=True)
class _Kept:
    token: str
    lease: ViewLease


_kept: dict[_Key, _Kept] = {}
_lock = threading.Lock()


def lease(
    conn: Connection, scope: Scope, pool: str, kind: str, build: Callable[[], ClusterView]
) -> ViewLease:
    """The pool's capacity view for a placement in this write transaction."""
    token = placement_epochs.claim(conn, scope.account_id, scope.region, pool)
    key = (id(conn.engine), scope.account_id, scope.region, pool, kind)
    with _lock:
        kept = _kept.pop(key, None)
    if kept is not None and kept.token == token:
        kept.lease.reused = True
        return kept.lease
    view = build()
    return ViewLease(key, view, {v.instance_id: v for v in view.instances}, reused=False)


def keep(conn: Connection, leased: ViewLease) -> None:
    """The placement is written: keep its view for the next one, under a new token."""
    _, account_id, region, pool, _ = leased.key
    token = placement_epochs.new_token()
    placement_epochs.advance(conn, account_id, region, pool, token)
    with _lock:
        _kept.pop(leased.key, None)
        _kept[leased.key] = _Kept(token, leased)
        while len(_kept) > _MAX_KEPT:
            del _kept[next(iter(_kept))]
