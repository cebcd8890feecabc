"""The load balancer's reconciler: a snapshot in, HAProxy in step with it, target health out.

One pass (`DataPlane.apply(snapshot, now)`):

1. render the configuration; start HAProxy, or reload it when listeners, rules
   or target groups changed (targets never cause a reload). With no listener
   at all HAProxy is not run (a server without load balancers starts none);
2. read every slot (`show servers state` + `show stat`, one round trip);
3. `plan_slots` (pure) decides the runtime commands that put each registered
   target in a slot, drain deregistered ones until their deadline and park
   freed slots in maintenance; they are sent in one batch;
4. `compute_target_health` (pure) maps each slot's HAProxy status and last
   check to elbv2's target health (state, reason, description); only changes
   against the snapshot are returned.

Level-triggered: the plan compares the snapshot with what HAProxy reports, not
with what this process remembers, so a restarted HAProxy (or server) is brought
back in step by the next pass.

A new target enters its slot DOWN (weight 0 while it leaves maintenance, then
`health down`), so it gets traffic only once `rise` checks passed — elbv2's
"initial" state — and never before its first check.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from openecs.domain.load_balancing import (
    LoadBalancingSnapshot,
    Target,
    TargetGroup,
    TargetState,
)
from openecs.lb.haproxy_config import (
    SLOT_PREFIX,
    BackendLayout,
    ConfigLayout,
    ConfigSettings,
    plan_layout,
    render,
)
from openecs.lb.haproxy_process import HAProxyProcess, write_atomically
from openecs.lb.runtime_api import ServerView

__all__ = [
    "DataPlane",
    "HealthUpdate",
    "SlotPlan",
    "compute_target_health",
    "plan_slots",
]

log = logging.getLogger("openecs.lb.data_plane")

# (target group ARN, target id, port, state, reason, description): what
# usecases.load_balancing.record_target_health takes.
HealthUpdate = tuple[str, str, int, str, str | None, str | None]
TargetKey = tuple[str, str, int]

_CHECK_PASSED = {"L4OK", "L6OK", "L7OK", "L7OKC"}
_CHECK_PENDING = {"", "INI", "UNK"}
_TIMEOUTS = {"L4TOUT", "L6TOUT", "L7TOUT"}

INITIAL_REGISTRATION = (
    TargetState.INITIAL,
    "Elb.RegistrationInProgress",
    "Target registration is in progress",
)
INITIAL_CHECKING = (
    TargetState.INITIAL,
    "Elb.InitialHealthChecking",
    "Initial health checks in progress",
)
HEALTHY: tuple[str, str | None, str | None] = (TargetState.HEALTHY, None, None)
NOT_IN_USE = (
    TargetState.UNUSED,
    "Target.NotInUse",
    "Target group is not configured to receive traffic from the load balancer",
)
DEREGISTERING = (
    TargetState.DRAINING,
    "Target.DeregistrationInProgress",
    "Target deregistration is in progress",
)
CHECKS_DISABLED = (
    TargetState.UNAVAILABLE,
    "Target.HealthCheckDisabled",
    "Health checks are disabled",
)


def target_key(target: Target) -> TargetKey:
    return (target.target_group_arn, target.id, target.port)


def _slot_index(server: str) -> int | None:
    digits = server.removeprefix(SLOT_PREFIX)
    return int(digits) if server.startswith(SLOT_PREFIX) and digits.isdigit() else None


@dataclass
class SlotPlan:
    commands: list[str] = field(default_factory=list)
    # Where each target now is (after the commands): (backend, server).
    slots: dict[TargetKey, tuple[str, str]] = field(default_factory=dict)
    # Targets that found no free slot (the pool grows on the next render).
    unplaced: list[TargetKey] = field(default_factory=list)


def _is_draining(target: Target, now: float) -> bool:
    return target.draining_until is not None and target.draining_until > now


def _is_gone(target: Target, now: float) -> bool:
    return target.draining_until is not None and target.draining_until <= now


def _enter_commands(backend: BackendLayout, server: str, target: Target | None) -> list[str]:
    """Bring a parked slot into service (for `target`, if its address must change)."""
    ref = f"{backend.name}/{server}"
    commands = []
    if target is not None:
        commands.append(f"set server {ref} addr {target.address} port {target.port}")
    if not backend.health_checked:
        return [*commands, f"set server {ref} state ready"]
    # Leaving maintenance puts a checked server UP until its first check fails;
    # weight 0 keeps traffic off while `health down` makes it earn `rise` checks.
    return [
        *commands,
        f"set server {ref} weight 0",
        f"set server {ref} state ready",
        f"set server {ref} health down",
        f"set server {ref} weight 100%",
    ]


def _plan_backend(
    backend: BackendLayout, targets: list[Target], slots: list[ServerView], now: float
) -> SlotPlan:
    plan = SlotPlan()
    ref = backend.name
    # address:port → (wanted admin state, targets there); "ready" wins over "drain".
    wanted: dict[tuple[str, int], tuple[str, list[Target]]] = {}
    for target in targets:
        if _is_gone(target, now):
            continue
        state = "drain" if _is_draining(target, now) else "ready"
        where = (target.address, target.port)
        previous, members = wanted.get(where, (state, []))
        wanted[where] = ("ready" if "ready" in (previous, state) else "drain", [*members, target])

    in_use: dict[tuple[str, int], ServerView] = {}
    free: list[ServerView] = []
    for view in sorted(slots, key=lambda v: _slot_index(v.server) or 0):
        where = (view.address or "", view.port or 0)
        if view.in_maintenance:
            free.append(view)
        elif where in wanted and where not in in_use:
            in_use[where] = view
        else:
            plan.commands.append(f"set server {ref}/{view.server} state maint")
            free.append(view)

    for where, (state, members) in wanted.items():
        current = in_use.get(where)
        if current is not None:
            server = current.server
            if state == "drain" and not current.draining:
                plan.commands.append(f"set server {ref}/{server} state drain")
            elif state == "ready" and current.draining:
                plan.commands.append(f"set server {ref}/{server} state ready")
        elif state == "ready":
            # A parked slot that still points there is reused as is; else the lowest free.
            match = next((v for v in free if (v.address, v.port) == where), None)
            if match is None and free:
                match = free[0]
            if match is None:
                plan.unplaced.extend(target_key(t) for t in members)
                continue
            free.remove(match)
            server = match.server
            moved = (match.address, match.port) != where
            plan.commands.extend(_enter_commands(backend, server, members[0] if moved else None))
        else:
            # Draining and not in HAProxy (say, after a restart): no new traffic anyway.
            continue
        for target in members:
            plan.slots[target_key(target)] = (ref, server)
    return plan


def plan_slots(
    layout: ConfigLayout,
    targets: list[Target],
    servers: Mapping[tuple[str, str], ServerView],
    now: float,
) -> SlotPlan:
    """The runtime commands that make HAProxy's slots match the registered targets."""
    by_backend: dict[str, list[ServerView]] = {}
    for (backend_name, server), view in servers.items():
        if _slot_index(server) is not None:
            by_backend.setdefault(backend_name, []).append(view)
    by_group: dict[str, list[Target]] = {}
    for target in targets:
        by_group.setdefault(target.target_group_arn, []).append(target)
    plan = SlotPlan()
    for arn, backend in layout.backends.items():
        part = _plan_backend(backend, by_group.get(arn, []), by_backend.get(backend.name, []), now)
        plan.commands.extend(part.commands)
        plan.slots.update(part.slots)
        plan.unplaced.extend(part.unplaced)
    return plan


def _failed_check(view: ServerView) -> tuple[str, str, str]:
    if view.check_status == "L7STS":
        code = view.check_code if view.check_code is not None else "unknown"
        return (
            TargetState.UNHEALTHY,
            "Target.ResponseCodeMismatch",
            f"Health checks failed with these codes: [{code}]",
        )
    if view.check_status in _TIMEOUTS:
        return (TargetState.UNHEALTHY, "Target.Timeout", "Request timed out")
    return (TargetState.UNHEALTHY, "Target.FailedHealthChecks", "Health checks failed")


def target_health(
    target: Target,
    group: TargetGroup | None,
    in_use: bool,
    view: ServerView | None,
    now: float,
) -> tuple[str, str | None, str | None]:
    """elbv2's (state, reason, description) for one target from its slot in HAProxy."""
    if not in_use or group is None:
        return NOT_IN_USE
    if target.draining_until is not None:
        return DEREGISTERING
    if not group.health_check.enabled:
        return CHECKS_DISABLED
    if view is None or view.in_maintenance:
        return INITIAL_REGISTRATION
    if view.status_word in ("UP", "NOLB", "DRAIN"):
        return HEALTHY
    if view.check_status in _CHECK_PENDING:
        return INITIAL_CHECKING
    if view.check_status in _CHECK_PASSED:
        # Passing again but not yet `rise` times: still what it was (initial or unhealthy).
        if target.state == TargetState.UNHEALTHY:
            return (target.state, target.reason, target.description)
        return INITIAL_CHECKING
    return _failed_check(view)


def compute_target_health(
    snapshot: LoadBalancingSnapshot,
    layout: ConfigLayout,
    plan: SlotPlan,
    servers: Mapping[tuple[str, str], ServerView],
    now: float,
) -> list[HealthUpdate]:
    """Health of every target, where it differs from what the snapshot holds."""
    groups = {g.arn: g for g in snapshot.target_groups}
    updates: list[HealthUpdate] = []
    for target in snapshot.targets:
        key = target_key(target)
        slot = plan.slots.get(key)
        view = servers.get(slot) if slot is not None else None
        health = target_health(
            target,
            groups.get(target.target_group_arn),
            target.target_group_arn in layout.backends,
            view,
            now,
        )
        if health != (target.state, target.reason, target.description):
            updates.append((target.target_group_arn, target.id, target.port, *health))
    return updates


class DataPlane:
    """HAProxy driven from snapshots. `apply` is a coroutine; run it on any event loop."""

    def __init__(self, settings: ConfigSettings, *, binary: str | None = None) -> None:
        self.settings = settings
        self.process = (
            HAProxyProcess(settings) if binary is None else HAProxyProcess(settings, binary=binary)
        )
        self.api = self.process.api
        self._saved_state: list[tuple[str, ...]] | None = None
        # Listener ports the running HAProxy holds.
        self._serving: frozenset[int] = frozenset()

    def _unavailable_ports(self, snapshot: LoadBalancingSnapshot) -> dict[int, str]:
        """Listener ports this process cannot bind, with why. HAProxy binds with
        SO_REUSEPORT, so without this check it would share a port another process
        holds (and its traffic), or fail to start and take every listener down."""
        serving = self._serving if self.process.running() else frozenset()
        unavailable = {}
        for port in {x.port for x in snapshot.listeners if x.protocol == "HTTP"} - serving:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.settings.bind_address, port))
                except OSError as exc:
                    unavailable[port] = exc.strerror or str(exc)
        return unavailable

    async def apply(
        self,
        snapshot: LoadBalancingSnapshot,
        now: float,
        *,
        services: Mapping[str, Sequence[str]] | None = None,
    ) -> list[HealthUpdate]:
        """One reconcile pass; returns the target health changes to record.

        `services` (target group ARN → ECS services) only annotates the configuration.
        """
        settings = replace(
            self.settings,
            services=self.settings.services if services is None else services,
            unavailable_ports=self._unavailable_ports(snapshot),
        )
        layout = plan_layout(snapshot, settings)
        if not layout.bound and not layout.backends:
            # Nothing to serve: HAProxy runs only while some listener exists.
            self.process.stop()
            self._serving = frozenset()
            return compute_target_health(snapshot, layout, SlotPlan(), {}, now)
        await self.process.ensure(render(snapshot, settings))
        self._serving = frozenset(b.listener.port for b in layout.bound)
        servers, state_text = await self.api.servers()
        plan = plan_slots(layout, snapshot.targets, servers, now)
        if plan.commands:
            answers = await self.api.execute(plan.commands)
            for command, answer in zip(plan.commands, answers, strict=True):
                if answer and "changed" not in answer and "no need" not in answer:
                    log.warning(
                        "HAProxy refused a command", extra={"cmd": command, "answer": answer}
                    )
            servers, state_text = await self.api.servers()
        if plan.unplaced:
            log.warning("targets without a free slot", extra={"targets": plan.unplaced})
        self._save_state(state_text)
        return compute_target_health(snapshot, layout, plan, servers, now)

    def _save_state(self, state_text: str) -> None:
        """Keep the server-state file current, so a HAProxy restarted after a crash
        resumes with the targets and health it had, not an empty pool."""
        signature = [
            tuple(line.split()[:7]) for line in state_text.splitlines() if line[:1].isdigit()
        ]
        if signature != self._saved_state:
            write_atomically(self.settings.server_state_file, state_text)
            self._saved_state = signature

    def stop(self) -> None:
        self.process.stop()
