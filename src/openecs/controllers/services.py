"""The service controller: for every live service, decide (pure) and apply (thin)."""

from __future__ import annotations

import logging

from openecs.controllers.loop import Step
from openecs.controllers.service_reconcile import ServiceView, compute_service_actions
from openecs.usecases.backend import Backend
from openecs.usecases.service_actions import (
    apply_service_actions,
    live_services,
    read_service_state,
)
from openecs.usecases.service_targets import sync_service_targets

__all__ = ["reconcile_services", "service_steps"]

log = logging.getLogger("openecs.controllers.services")


def reconcile_services(backend: Backend) -> int:
    """One pass over every ACTIVE or DRAINING service; returns how many acted."""
    acted = 0
    for service in live_services(backend):
        try:
            state = read_service_state(backend, service)
            targets = sync_service_targets(backend, service) if service.load_balancers else None
            view = ServiceView(
                health_checked=state.health_checked,
                draining_instances=state.draining_instances,
                daemon_instances=state.daemon_instances,
                unreachable_instances=state.unreachable_instances,
                lb_healthy=targets.healthy if targets else None,
                lb_unhealthy=targets.unhealthy if targets else frozenset(),
                lb_unhealthy_targets=targets.unhealthy_targets if targets else {},
            )
            actions = compute_service_actions(service, state.tasks, view, backend.clock.now())
            if not actions.empty and apply_service_actions(backend, service, actions):
                acted += 1
        except Exception:
            log.exception("service reconcile failed", extra={"service": service.arn})
    return acted


def service_steps(backend: Backend, *, interval: float = 2.0) -> list[Step]:
    return [
        Step(
            "services",
            interval,
            lambda: reconcile_services(backend),
            wake=(backend.controller_signals, "services"),
        )
    ]
