"""Metrics retention: datapoints live `retention` seconds (3 hours by default),
enough for auto scaling's evaluation windows and the console's recent graphs."""

from __future__ import annotations

import logging

from openecs.controllers.loop import Step
from openecs.usecases.backend import Backend
from openecs.usecases.metrics_retention import expire_datapoints

__all__ = ["DEFAULT_RETENTION_SECONDS", "expire_old_datapoints", "metrics_retention_steps"]

log = logging.getLogger("openecs.controllers")

DEFAULT_RETENTION_SECONDS = 3 * 3600.0


def expire_old_datapoints(backend: Backend, retention: float) -> int:
    deleted = expire_datapoints(backend, backend.clock.now() - retention)
    if deleted:
        log.info("metric datapoints expired", extra={"deleted": deleted})
    return deleted


def metrics_retention_steps(
    backend: Backend, *, retention: float = DEFAULT_RETENTION_SECONDS, interval: float = 60.0
) -> list[Step]:
    return [Step("metrics-retention", interval, lambda: expire_old_datapoints(backend, retention))]
