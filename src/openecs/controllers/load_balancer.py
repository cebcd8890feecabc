"""The load balancer controller: every second, HAProxy is brought in step with the
elbv2 state and the target health it observes is written back.

    read_snapshot → DataPlane.apply (config, reload if needed, slots, health) →
    record_target_health (only the changes)

Once per 10-second period it also reads HAProxy's backend counters and records
the AWS/ApplicationELB datapoints they make (lb.traffic_metrics).

The step runs in a worker thread of the ControllerLoop; the data plane's
coroutine gets an event loop of its own there for each pass (`asyncio.run`),
which is cheap next to a pass and shares nothing with the server's loop.
`stop()` waits for a pass in flight, then stops HAProxy, so a late pass never
restarts it after shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from openecs.controllers.loop import Step
from openecs.domain.load_balancing import LoadBalancingSnapshot
from openecs.domain.metrics import Datapoint
from openecs.lb.data_plane import DataPlane, HealthUpdate
from openecs.lb.haproxy_config import ConfigSettings
from openecs.lb.haproxy_process import DEFAULT_BINARY
from openecs.lb.runtime_api import RuntimeApiError
from openecs.lb.traffic_metrics import (
    STAT_COMMAND,
    TrafficMeter,
    group_identities,
    parse_backend_counters,
)
from openecs.usecases.backend import Backend
from openecs.usecases.metrics import record_datapoints
from openecs.usecases.service_actions import live_services

__all__ = ["LoadBalancerController", "services_by_target_group"]

log = logging.getLogger("openecs.controllers.load_balancer")

ReadSnapshot = Callable[[Backend], LoadBalancingSnapshot]
RecordHealth = Callable[[Backend, list[HealthUpdate]], int]
RecordMetrics = Callable[[Backend, list[Datapoint]], None]


def services_by_target_group(backend: Backend) -> dict[str, list[str]]:
    """Target group ARN → "cluster/service" of the ECS services registering into it."""
    found: dict[str, list[str]] = {}
    for service in live_services(backend):
        cluster = service.cluster_arn.rsplit("/", 1)[-1]
        for entry in service.load_balancers:
            arn = entry.get("targetGroupArn")
            if arn:
                found.setdefault(arn, []).append(f"{cluster}/{service.name}")
    return found


class LoadBalancerController:
    def __init__(
        self,
        backend: Backend,
        read_snapshot: ReadSnapshot,
        record_target_health: RecordHealth,
        *,
        state_dir: Path,
        bind_address: str = "127.0.0.1",
        binary: str = DEFAULT_BINARY,
        record_metrics: RecordMetrics = record_datapoints,
    ) -> None:
        self.backend = backend
        self.read_snapshot = read_snapshot
        self.record_target_health = record_target_health
        self.state_dir = state_dir.resolve()
        self.bind_address = bind_address
        self.binary = binary
        self.plane = DataPlane(
            ConfigSettings(state_dir=self.state_dir, bind_address=bind_address),
            binary=binary,
        )
        self.record_metrics = record_metrics
        self.traffic = TrafficMeter()
        self._lock = threading.Lock()
        self._stopped = False
        self._missing_binary_reported = False

    def steps(self, *, interval: float = 1.0) -> list[Step]:
        # Use cases that change listeners, rules or targets may notify "load-balancers".
        wake = (self.backend.controller_signals, "load-balancers")
        return [Step("load-balancer", interval, self.reconcile, wake=wake)]

    def reconcile(self) -> int:
        """One pass; returns how many target health changes were recorded."""
        with self._lock:
            if self._stopped:
                return 0
            if not os.access(self.binary, os.X_OK):
                if not self._missing_binary_reported:
                    log.warning(
                        "HAProxy is not installed; load balancers are not served",
                        extra={"binary": self.binary},
                    )
                    self._missing_binary_reported = True
                return 0
            snapshot = self.read_snapshot(self.backend)
            services = services_by_target_group(self.backend) if snapshot.target_groups else {}
            now = self.backend.clock.now()
            updates = asyncio.run(self.plane.apply(snapshot, now, services=services))
            recorded = self.record_target_health(self.backend, updates)
            self._meter_traffic(snapshot, now)
            return recorded

    def _meter_traffic(self, snapshot: LoadBalancingSnapshot, now: float) -> None:
        """Once per period: HAProxy's counters → load balancer datapoints."""
        if not self.traffic.due(now) or not self.plane.process.running():
            return
        try:
            (text,) = asyncio.run(self.plane.api.execute([STAT_COMMAND]))
        except RuntimeApiError as exc:
            log.warning("reading HAProxy's counters failed", extra={"error": str(exc)})
            return
        counters = parse_backend_counters(text)
        points = self.traffic.observe(counters, group_identities(snapshot), now)
        if points:
            self.record_metrics(self.backend, points)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self.plane.stop()
