"""Service rows as the controller lists them: one damaged row never hides the others."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import insert

from openecs.domain.scope import Scope
from openecs.platform.clock import FakeClock
from openecs.store import services as service_rows
from openecs.store.tables import services as services_table
from openecs.usecases import clusters, services, task_definitions
from openecs.usecases.backend import Backend


def test_a_service_row_that_does_not_decode_is_logged_and_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = Backend.open(f"sqlite:///{tmp_path / 'rows.db'}", clock=FakeClock(1_764_115_200.0))
    scope = Scope.root("000000000000", "us-east-1")
    clusters.create_cluster(backend, scope, name="prod")
    task_definitions.register_task_definition(
        backend,
        scope,
        {"family": "web", "containerDefinitions": [{"name": "a", "image": "x", "memory": 8}]},
    )
    services.create_service(
        backend,
        scope,
        {"cluster": "prod", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1},
    )
    damaged = "arn:aws:ecs:us-east-1:000000000000:service/prod/damaged"
    with backend.db.write() as conn:
        conn.execute(
            insert(services_table).values(
                account_id="000000000000",
                region="us-east-1",
                cluster="prod",
                name="damaged",
                arn=damaged,
                status="ACTIVE",
                created_at=time.time(),
                version=1,
                doc=json.dumps({}),
            )
        )
    with caplog.at_level(logging.ERROR, logger="openecs.store.services"), backend.reading() as conn:
        live = service_rows.list_live(conn)
    assert [s.name for s in live] == ["web"]
    assert any(getattr(r, "service", None) == damaged for r in caplog.records)
    backend.close()
